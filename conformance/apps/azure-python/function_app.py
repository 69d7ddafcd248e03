"""The fnwire conformance contract app (conformance/CONTRACT.md), written in the
azure.functions v2 decorator model so Microsoft's own runtime can run it.

Every function here must behave exactly as CONTRACT.md says; when the two
disagree, CONTRACT.md wins and this file is the bug.
"""

import asyncio
import hashlib
import json
import logging
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

STORAGE = "AzureWebJobsStorage"
LARGE_DEFAULT = 16 * 1024 * 1024
LARGE_MAX = 64 * 1024 * 1024
SLEEP_MAX_MS = 600_000
TEXT_TEMPLATE = "Grüße, {name}! ☃ 日本語 🚀"


def text(body: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype="text/plain", charset="utf-8")


def json_response(value) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), mimetype="application/json")


def json_kind(value) -> str:
    # bool before number: in Python a bool is an int.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def large_pattern(size: int) -> bytes:
    cycle = bytes(i % 251 for i in range(251))
    return (cycle * (size // 251 + 1))[:size]


@app.function_name("http_echo")
@app.route(route="echo/{category}/{id}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def http_echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return json_response({
        "method": req.method,
        "url": req.url,
        "headers": {k.lower(): v for k, v in req.headers.items()},
        "query": dict(req.params.items()),
        "params": dict(req.route_params.items()),
        "bodyLength": len(req.get_body()),
        "invocationId": context.invocation_id,
        "functionName": context.function_name,
    })


@app.function_name("http_binary")
@app.route(route="binary", methods=["POST"])
def http_binary(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), mimetype="application/octet-stream")


@app.function_name("http_json")
@app.route(route="json", methods=["POST"])
def http_json(req: func.HttpRequest) -> func.HttpResponse:
    try:
        value = json.loads(req.get_body().decode("utf-8"))
    except ValueError:
        # UnicodeDecodeError is a ValueError too.
        return text("invalid JSON", 400)
    return json_response({"received": value, "kind": json_kind(value)})


@app.function_name("http_text")
@app.route(route="text", methods=["GET", "POST"])
def http_text(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "POST":
        try:
            name = req.get_body().decode("utf-8")
        except UnicodeDecodeError:
            return text("invalid UTF-8", 400)
    else:
        name = req.params.get("name") or "Welt"
    return text(TEXT_TEMPLATE.format(name=name))


@app.function_name("http_custom")
@app.route(route="custom", methods=["GET"])
def http_custom(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "created",
        status_code=201,
        mimetype="text/plain",
        charset="utf-8",
        headers={
            "X-Fnwire-Custom": "yes",
            "Cache-Control": "no-store",
            # The runtime turns Set-Cookie into RpcHttp.cookies.
            "Set-Cookie": "session=abc123; Path=/; HttpOnly",
        },
    )


@app.function_name("http_empty")
@app.route(route="empty", methods=["GET", "POST"])
def http_empty(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        b"",
        status_code=200,
        headers={"X-Request-Body-Length": str(len(req.get_body()))},
    )


@app.function_name("http_large")
@app.route(route="large", methods=["GET", "POST"])
def http_large(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "POST":
        body = req.get_body()
        return json_response({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    raw = req.params.get("size")
    if raw is None or raw == "":
        size = LARGE_DEFAULT
    elif raw.isascii() and raw.isdigit() and int(raw) <= LARGE_MAX:
        size = int(raw)
    else:
        return text("invalid size", 400)
    return func.HttpResponse(large_pattern(size), mimetype="application/octet-stream")


@app.function_name("http_fail")
@app.route(route="fail", methods=["GET"])
def http_fail(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("fnwire conformance: deliberate failure")


@app.function_name("http_logs")
@app.route(route="logs", methods=["GET"])
def http_logs(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("conformance log: information")
    logging.warning("conformance log: warning")
    logging.error("conformance log: error")
    return text("logged")


@app.function_name("http_sleep")
@app.route(route="sleep", methods=["GET"])
async def http_sleep(req: func.HttpRequest) -> func.HttpResponse:
    raw = req.params.get("ms")
    if raw is None or not (raw.isascii() and raw.isdigit()) or int(raw) > SLEEP_MAX_MS:
        return text("invalid ms", 400)
    ms = int(raw)
    await asyncio.sleep(ms / 1000)
    return text(f"slept {ms}")


@app.function_name("http_env")
@app.route(route="env", methods=["GET"])
def http_env(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name")
    if not name:
        return text("missing name", 400)
    return json_response({"name": name, "value": os.environ.get(name)})


@app.function_name("queue_copy")
@app.queue_trigger(arg_name="msg", queue_name="fnwire-in", connection=STORAGE)
@app.queue_output(arg_name="outmsg", queue_name="fnwire-out", connection=STORAGE)
def queue_copy(msg: func.QueueMessage, outmsg: func.Out[str]) -> None:
    outmsg.set(json.dumps({
        "body": msg.get_body().decode("utf-8"),
        "id": msg.id,
        "dequeueCount": msg.dequeue_count,
    }))


@app.function_name("timer_tick")
@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def timer_tick(timer: func.TimerRequest) -> None:
    logging.info("timer_tick isPastDue=%s", "true" if timer.past_due else "false")


@app.function_name("http_multi")
@app.route(route="multi", methods=["POST"])
@app.queue_output(arg_name="outqueue", queue_name="fnwire-multi-queue", connection=STORAGE)
@app.blob_output(arg_name="outblob", path="fnwire-multi/out.txt", connection=STORAGE)
def http_multi(req: func.HttpRequest, outqueue: func.Out[str], outblob: func.Out[str]) -> func.HttpResponse:
    body = req.get_body().decode("utf-8")
    outqueue.set("queue:" + body)
    outblob.set("blob:" + body)
    return text("multi:" + body)


@app.function_name("queue_return")
@app.queue_trigger(arg_name="msg", queue_name="fnwire-return-in", connection=STORAGE)
@app.queue_output(arg_name="$return", queue_name="fnwire-return-out", connection=STORAGE)
def queue_return(msg: func.QueueMessage) -> str:
    return "returned:" + msg.get_body().decode("utf-8")


@app.function_name("http_generic")
@app.route(route="generic", methods=["GET"])
@app.generic_input_binding(
    arg_name="probe",
    type="fnwireProbe",
    probeSetting="alpha",
    probeCount=3,
    enabled=True,
    label="Grüße",
    tags=["one", "two"],
)
def http_generic(req: func.HttpRequest, probe: str = None) -> func.HttpResponse:
    if isinstance(probe, bytes):
        probe = probe.decode("utf-8")
    return text("probe:" + (probe if probe else "<none>"))
