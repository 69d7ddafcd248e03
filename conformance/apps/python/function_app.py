"""The conformance contract app (conformance/CONTRACT.md) on the fnwire Python package.

Run the suite against it: `cargo run --release --bin fnwire-conformance -- run --app conformance/apps/python`.
"""

import asyncio
import hashlib
import logging
import os

import fnwire

app = fnwire.App()

ALL = "AzureWebJobsStorage"
LARGE_DEFAULT = 16 * 1024 * 1024
LARGE_MAX = 64 * 1024 * 1024
SLEEP_MAX_MS = 600_000


def text(status: int, body: str) -> fnwire.HttpResponse:
    return fnwire.HttpResponse(body, status_code=status)


def parse_bounded(raw: str, maximum: int):
    if not raw or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= maximum else None


def json_kind(value) -> str:
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


def pattern(length: int) -> bytes:
    block = bytes(range(251))
    whole, rest = divmod(length, 251)
    return block * whole + block[:rest]


def greeting(name: str) -> str:
    return f"Grüße, {name}! ☃ 日本語 🚀"


@app.http_trigger(route="echo/{category}/{id}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], auth_level="anonymous")
def http_echo(req: fnwire.HttpRequest, ctx: fnwire.Context) -> fnwire.HttpResponse:
    return fnwire.HttpResponse.json(
        {
            "method": req.method,
            "url": req.url,
            "headers": {k.lower(): v for k, v in req.headers.items()},
            "query": req.query,
            "params": req.route_params,
            "bodyLength": len(req.get_body()),
            "invocationId": ctx.invocation_id,
            "functionName": ctx.function_name,
        }
    )


@app.http_trigger(route="binary", methods=["POST"], auth_level="anonymous")
def http_binary(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return fnwire.HttpResponse(req.get_body(), mimetype="application/octet-stream")


@app.http_trigger(route="json", methods=["POST"], auth_level="anonymous")
def http_json(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    try:
        value = req.get_json()
    except ValueError:
        return text(400, "invalid JSON")
    return fnwire.HttpResponse.json({"received": value, "kind": json_kind(value)})


@app.http_trigger(route="text", methods=["GET", "POST"], auth_level="anonymous")
def http_text(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    if req.method.upper() == "POST":
        try:
            return text(200, greeting(req.get_body().decode("utf-8")))
        except UnicodeDecodeError:
            return text(400, "invalid UTF-8")
    return text(200, greeting(req.query.get("name") or "Welt"))


@app.http_trigger(name="req", route="custom", methods=["GET"], auth_level="anonymous")
def http_custom() -> fnwire.HttpResponse:
    response = fnwire.HttpResponse(
        "created", status_code=201, headers={"x-fnwire-custom": "yes", "cache-control": "no-store"}
    )
    response.set_cookie("session", "abc123", path="/", http_only=True)
    return response


@app.http_trigger(route="empty", methods=["GET", "POST"], auth_level="anonymous")
def http_empty(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return fnwire.HttpResponse(b"", headers={"x-request-body-length": str(len(req.get_body()))})


@app.http_trigger(route="large", methods=["GET", "POST"], auth_level="anonymous")
def http_large(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    if req.method.upper() == "POST":
        body = req.get_body()
        return fnwire.HttpResponse.json({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    raw = req.query.get("size") or ""
    size = LARGE_DEFAULT if raw == "" else parse_bounded(raw, LARGE_MAX)
    if size is None:
        return text(400, "invalid size")
    return fnwire.HttpResponse(pattern(size), mimetype="application/octet-stream")


@app.http_trigger(name="req", route="fail", methods=["GET"], auth_level="anonymous")
def http_fail() -> fnwire.HttpResponse:
    raise RuntimeError("fnwire conformance: deliberate failure")


@app.http_trigger(name="req", route="logs", methods=["GET"], auth_level="anonymous")
def http_logs() -> fnwire.HttpResponse:
    logging.info("conformance log: information")
    logging.warning("conformance log: warning")
    logging.error("conformance log: error")
    return text(200, "logged")


@app.http_trigger(route="sleep", methods=["GET"], auth_level="anonymous")
async def http_sleep(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    ms = parse_bounded(req.query.get("ms") or "", SLEEP_MAX_MS)
    if ms is None:
        return text(400, "invalid ms")
    await asyncio.sleep(ms / 1000)
    return text(200, f"slept {ms}")


@app.http_trigger(route="env", methods=["GET"], auth_level="anonymous")
def http_env(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    name = req.query.get("name")
    if not name:
        return text(400, "missing name")
    return fnwire.HttpResponse.json({"name": name, "value": os.environ.get(name)})


@app.http_trigger(route="multi", methods=["POST"], auth_level="anonymous")
@app.queue_output(name="outqueue", queue="fnwire-multi-queue", connection=ALL)
@app.blob_output(name="outblob", path="fnwire-multi/out.txt", connection=ALL)
def http_multi(req: fnwire.HttpRequest, outqueue: fnwire.Out[str], outblob: fnwire.Out[str]) -> fnwire.HttpResponse:
    body = req.get_body().decode("utf-8", errors="replace")
    outqueue.set(f"queue:{body}")
    outblob.set(f"blob:{body}")
    return text(200, f"multi:{body}")


@app.http_trigger(name="req", route="generic", methods=["GET"], auth_level="anonymous")
@app.binding(
    type="fnwireProbe",
    direction="in",
    name="probe",
    probe_setting="alpha",
    probe_count=3,
    enabled=True,
    label="Grüße",
    tags=["one", "two"],
)
def http_generic(probe: str = "") -> fnwire.HttpResponse:
    return text(200, f"probe:{probe or '<none>'}")


@app.queue_trigger(name="msg", queue="fnwire-in", connection=ALL)
@app.queue_output(name="outmsg", queue="fnwire-out", connection=ALL)
def queue_copy(msg: fnwire.QueueMessage, outmsg: fnwire.Out[str]) -> None:
    import json

    outmsg.set(json.dumps({"body": msg.get_text(), "id": msg.id, "dequeueCount": msg.dequeue_count}))


@app.queue_trigger(name="msg", queue="fnwire-return-in", connection=ALL)
@app.queue_output(queue="fnwire-return-out", connection=ALL)
def queue_return(msg: fnwire.QueueMessage) -> str:
    return f"returned:{msg.get_text()}"


@app.timer_trigger(name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def timer_tick(timer: fnwire.TimerInfo) -> None:
    logging.info("timer_tick isPastDue=%s", "true" if timer.past_due else "false")
