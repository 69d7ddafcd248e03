"""The hello app. Run it with `fnwire start examples/hello-python`, then:

    curl localhost:7071/api/hello?name=Ada          # Hello, Ada!
    curl localhost:7071/api/hello/Bob               # Hello, Bob!
    curl -d '{"n":1}' localhost:7071/api/echo       # {"n":1}
    curl -i localhost:7071/api/boom                 # 500, with the invocation id

The same functions, with the same answers, as examples/hello-rust.
"""

import logging

import fnwire

app = fnwire.App()


@app.http_trigger(route="hello/{name?}", methods=["GET", "POST"], auth_level="anonymous")
def hello(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    """Greets by name: from the route (`/api/hello/Bob`), else the `name` query parameter, else "world"."""
    name = req.route_params.get("name") or req.query.get("name") or "world"
    return fnwire.HttpResponse(f"Hello, {name}!")


@app.http_trigger(route="echo", methods=["POST"], auth_level="anonymous")
async def echo(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    """Answers a JSON body with the same JSON; anything else is a 400 that says why."""
    try:
        value = req.get_json()
    except ValueError as err:
        return fnwire.HttpResponse(f"echo expects a JSON body: {err}", status_code=400)
    return fnwire.HttpResponse.json(value)


@app.http_trigger(route="boom", auth_level="anonymous")
def boom(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    """Always fails: shows what a failing function looks like to clients (500) and in the log."""
    path = req.url.split("?", 1)[0].split("://", 1)[-1]
    path = path[path.find("/"):] if "/" in path else "/"
    raise RuntimeError(f"boom: {req.method} {path} fails on purpose")


@app.timer_trigger(schedule="*/5 * * * * *")
def tick(timer: fnwire.TimerInfo) -> None:
    """Logs every five seconds."""
    logging.info("tick past_due=%s", str(timer.past_due).lower())


@app.queue_trigger(queue="jobs")
@app.queue_output(name="done", queue="done")
def work(job: fnwire.QueueMessage, done: fnwire.Out[str]) -> None:
    """Upper-cases each message on `jobs` and puts it on `done`."""
    text = job.get_text()
    logging.info("working on %s (id=%s)", text, job.id)
    done.set(text.upper())
