"""An app whose import fails: the worker's own error must reach the user."""

import a_module_that_is_not_installed  # noqa: F401
import azure.functions as func

app = func.FunctionApp()
