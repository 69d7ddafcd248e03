"""HTTP functions. `fnwire start --watch`, then `curl localhost:7071/api/hello?name=Ada`."""

import fnwire

app = fnwire.App()


@app.http_trigger(route="hello/{name?}", methods=["GET", "POST"], auth_level="anonymous")
def hello(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    """Greets by name: from the route (`/api/hello/Bob`), else the `name` query parameter, else "world"."""
    name = req.route_params.get("name") or req.query.get("name") or "world"
    return fnwire.HttpResponse(f"Hello, {name}!")
