"""A trigger parameter annotated with a type its binding cannot produce."""

import azure.functions as func

app = func.FunctionApp()


@app.route(route="a")
def a(req: int) -> func.HttpResponse:
    return func.HttpResponse(str(req))
