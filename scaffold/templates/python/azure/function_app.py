"""An Azure Functions app in the Python v2 model (`azure.functions`), as Azure's templates write
it: it deploys to Azure unchanged, and fnwire runs it locally. `fnwire start --watch`, then
`curl localhost:7071/api/hello?name=Ada`."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET", "POST"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    """Greets the `name` query parameter, else "world"."""
    name = req.params.get("name") or "world"
    return func.HttpResponse(f"Hello, {name}!")
