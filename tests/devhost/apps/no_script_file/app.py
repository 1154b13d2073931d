"""A v2 app in a script the worker does not look for (it indexes function_app.py)."""

import azure.functions as func

app = func.FunctionApp()


@app.route(route="a")
def a(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("a")
