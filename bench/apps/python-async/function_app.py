"""The `http-python-async` bench app: one greeting as a plain `def` and as an `async def`, served by
the same worker, so the row compares the two calling paths and nothing else."""

import fnwire

app = fnwire.App()


def greeting(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return fnwire.HttpResponse(f"Hello, {req.query.get('name') or 'world'}!")


@app.http_trigger(route="plain", methods=["GET"], auth_level="anonymous")
def plain(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return greeting(req)


@app.http_trigger(route="async", methods=["GET"], auth_level="anonymous")
async def async_greeting(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return greeting(req)
