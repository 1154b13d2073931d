"""An app the real worker refuses at load: the parameter does not match its binding."""

import azure.functions as func

app = func.FunctionApp()


@app.route(route="hello")
def hello(request: func.HttpRequest) -> func.HttpResponse:  # binding is named "req"
    return func.HttpResponse("hi")
