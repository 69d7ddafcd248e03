"""azure.functions apps on fnwire's worker, in process: indexing from the app object (v2) and from
function.json (v1), parameters fed by the library's own converters, results encoded by them, and
what is refused at start. The core's side is played by hand-made values in the shapes BRIDGE.md
gives (stand-ins with the attributes of its `_native` classes); test_azure_end_to_end.py drives the
same apps through `fnwire start`."""

import datetime
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import azure.functions as func
import pytest

from fnwire import _azure, _loader, _native

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "azure-python"
APPS = pathlib.Path(__file__).resolve().parent / "azure_apps"

CONTEXT = SimpleNamespace(
    invocation_id="inv-1", function_name="hello", function_id="fid", trace_parent="00-abc-def-01",
    trace_state="state", attributes={"k": "v"}, retry=None,
)


def load(directory) -> dict:
    app = _loader.load_app(str(directory))
    assert isinstance(app, _azure.AzureApp)
    return {f.name: f for f in app.functions()}


def http_input(method="GET", url="http://localhost/api/x", headers=(), query=None, params=None, body=b""):
    return SimpleNamespace(
        method=method, url=url, headers=list(headers), query=dict(query or {}), params=dict(params or {}), body=body,
    )


def call(function, inputs, context=CONTEXT):
    """The parameters the function got, and `(return value, [(output, value)])` as encoded."""
    kwargs, outs = function.build_kwargs(inputs, context)
    return kwargs, function.encode(function.func(**kwargs), outs)


def test_v2_app_is_indexed_from_the_app_object():
    functions = load(EXAMPLE)
    assert sorted(functions) == [
        "add_customer", "boom", "fulfil_order", "get_customer", "get_receipt", "heartbeat", "hello",
        "last_heartbeat", "list_customers", "place_order",
    ]
    hello = functions["hello"]
    bindings = [json.loads(b) for b in hello.raw_bindings]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    # auth_level comes from the app's http_auth_level, as the library renders it.
    assert trigger["authLevel"].lower() == "anonymous" and trigger["route"] == "hello/{name}"
    assert {(b["name"], b["type"]) for b in bindings} == {("req", "httpTrigger"), ("$return", "http")}
    assert hello.inputs == [("req", "req", "http", func.HttpRequest)]
    assert hello.script_file == str(EXAMPLE / "function_app.py") and hello.entry_point == "hello"
    assert [(n, b, k) for n, b, k, _ in functions["fulfil_order"].inputs] == [("msg", "msg", "queue")]
    assert [(n, b, k) for n, b, k, _ in functions["heartbeat"].inputs] == [("timer", "timer", "raw")]
    assert [p.name for p in functions["place_order"].outputs] == ["orders"]


def test_http_request_and_response_are_the_librarys_own():
    hello = load(EXAMPLE)["hello"]
    kwargs, outcome = call(
        hello,
        [http_input(url="http://localhost/api/hello/Ada?greeting=Hi", headers=[("x-a", "1")],
                    query={"greeting": "Hi"}, params={"name": "Ada"})],
    )
    req = kwargs["req"]
    assert type(req).__module__ == "azure.functions.http" and isinstance(req, func.HttpRequest)
    assert req.headers["X-A"] == "1" and req.params == {"greeting": "Hi"} and req.route_params == {"name": "Ada"}
    tag, status, headers, body, cookies = outcome[0]
    assert (tag, status, body, cookies) == ("http", 200, b"Hi, Ada!", [])
    assert dict(headers)["content-type"] == "text/plain; charset=utf-8"


def test_json_body_status_headers_and_queue_output():
    place_order = load(EXAMPLE)["place_order"]
    body = b'{"id": "o-1", "item": "tea"}'
    kwargs, outcome = call(place_order, [http_input("POST", body=body)])
    assert kwargs["req"].get_json() == {"id": "o-1", "item": "tea"}
    tag, status, headers, answer, _ = outcome[0]
    assert (tag, status, json.loads(answer)) == ("http", 202, {"queued": "o-1"})
    assert dict(headers)["Location"] == "/api/receipts/o-1"
    assert outcome[1] == [("orders", ("string", '{"orderId": "o-1", "item": "tea", "quantity": 1}'))]
    _, bad = call(place_order, [http_input("POST", body=b"{}")])
    assert bad[0][1] == 400 and bad[1] == []


def test_queue_message_carries_trigger_metadata():
    fulfil = load(EXAMPLE)["fulfil_order"]
    message = SimpleNamespace(
        id="m-1", body=b'{"orderId": "o-2", "item": "cake", "quantity": 3}', dequeue_count=2,
        insertion_time="2026-01-02T03:04:05.1234567+00:00", expiration_time="2026-01-09T03:04:05+00:00",
        next_visible_time=None, pop_receipt="pop",
    )
    kwargs, outcome = call(fulfil, [message])
    msg = kwargs["msg"]
    assert isinstance(msg, func.QueueMessage)
    assert (msg.id, msg.dequeue_count, msg.pop_receipt) == ("m-1", 2, "pop")
    assert msg.insertion_time == datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
    assert msg.time_next_visible is None
    assert outcome == (None, [("receipt", ("string", "order o-2: 3 x cake\n"))])


def test_timer_request_and_blob_inputs():
    functions = load(EXAMPLE)
    schedule = json.dumps({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": True})
    kwargs, outcome = call(functions["heartbeat"], [_native.JsonText(schedule)])
    assert isinstance(kwargs["timer"], func.TimerRequest) and kwargs["timer"].past_due is True
    assert json.loads(outcome[1][0][1][1])["pastDue"] is True
    receipt = functions["get_receipt"]
    kwargs, outcome = call(receipt, [http_input(), b"order o-1"])
    assert isinstance(kwargs["receipt"], func.InputStream) and outcome[0][3] == b"order o-1"
    _, missing = call(receipt, [http_input(), None])
    assert missing[0][1] == 404
    kwargs, _ = call(functions["last_heartbeat"], [http_input(), b'{"at": 1}'])
    assert kwargs["beat"] == '{"at": 1}'  # a `str` parameter gets text whatever the host sent


def test_blueprints_context_cookies_and_plain_returns():
    sys.path.insert(0, str(APPS / "blueprint"))
    functions = load(APPS / "blueprint")
    assert sorted(functions) == ["cookie", "order", "plain", "secured", "whoami"]
    secured = [json.loads(b) for b in functions["secured"].raw_bindings]
    assert next(b for b in secured if b["type"] == "httpTrigger")["authLevel"].lower() == "function"
    assert functions["whoami"].is_async and not functions["plain"].is_async
    kwargs, _ = functions["whoami"].build_kwargs([http_input()], CONTEXT)
    context = kwargs["context"]
    assert isinstance(context, func.Context)
    assert (context.invocation_id, context.function_name, context.trace_context.trace_parent) == (
        "inv-1", "hello", "00-abc-def-01")
    assert context.function_directory == str(APPS / "blueprint")
    assert context.thread_local_storage.invocation_id == "inv-1" and context.retry_context is None
    retried = SimpleNamespace(**{**vars(CONTEXT), "retry": SimpleNamespace(
        retry_count=2, max_retry_count=5, exception_message="earlier failure")})
    kwargs, _ = functions["whoami"].build_kwargs([http_input()], retried)
    retry = kwargs["context"].retry_context
    assert (retry.retry_count, retry.max_retry_count, retry.exception.message) == (2, 5, "earlier failure")
    _, plain = call(functions["plain"], [http_input("POST", body=b"x")])
    assert plain[0] == ("string", "plain:x")
    form = http_input("POST", headers=[("content-type", "application/x-www-form-urlencoded")], body=b"a=1&b=two")
    kwargs, _ = functions["plain"].build_kwargs([form], CONTEXT)
    assert dict(kwargs["req"].form) == {"a": "1", "b": "two"}  # the library parses forms itself
    _, cookie = call(functions["cookie"], [http_input()])
    _, status, headers, body, cookies = cookie[0]
    assert "Set-Cookie" not in dict(headers) and dict(headers)["X-Custom"] == "yes"
    assert cookies == [("flavour", "oat", None, "/", None, False, True, None, None)]


def test_v1_app_loads_function_json_folders():
    functions = load(APPS / "v1")
    assert sorted(functions) == ["enqueue", "greet", "ops", "process", "receipt"]
    ops = functions["ops"]
    assert ops.script_file == str(APPS / "v1" / "ops" / "impl" / "handler.py") and ops.entry_point == "run"
    assert ops.func.__module__ == "__app__.ops.impl.handler" and ops.is_async
    assert functions["greet"].func.__module__ == "__app__.greet"
    assert functions["enqueue"].entry_point == "handle"
    _, outcome = call(functions["greet"], [http_input(params={"name": "Bo"})])
    assert outcome[0][3] == b"Hello, Bo!"  # through a relative import of another folder
    _, outcome = call(functions["process"], ['{"jobId": "j1", "task": "wash"}'])
    assert outcome == (("string", "done j1: WASH"), [])


def write_app(tmp_path, source):
    (tmp_path / "function_app.py").write_text(textwrap.dedent(source))
    return tmp_path


REFUSED = [
    (
        """
        @app.route(route="r")
        @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
        def retried(req: func.HttpRequest) -> func.HttpResponse: ...
        """,
        ["function `retried`", "@app.retry", "remove the decorator"],
    ),
    (
        """
        @app.route(route="r")
        def wrong(req: func.QueueMessage) -> func.HttpResponse: ...
        """,
        ["function `wrong`", "parameter `req` (binding `httpTrigger`)", "QueueMessage"],
    ),
    (
        """
        @app.route(route="r")
        @app.queue_output(arg_name="out", queue_name="q", connection="AzureWebJobsStorage")
        def unset(req: func.HttpRequest) -> func.HttpResponse: ...
        """,
        ["function `unset`", "binding(s) out have no parameter", "add one per binding"],
    ),
    (
        """
        @app.route(route="r")
        @app.queue_output(arg_name="out", queue_name="q", connection="AzureWebJobsStorage")
        def not_out(req: func.HttpRequest, out: str) -> func.HttpResponse: ...
        """,
        ["function `not_out`", "parameter `out` (binding `queue`) is an output binding", "func.Out[...]"],
    ),
    (
        """
        @app.route(route="r")
        def extra(req: func.HttpRequest, other: str) -> func.HttpResponse: ...
        """,
        ["function `extra`", "parameter(s) other match no binding"],
    ),
]


@pytest.mark.parametrize("source,expected", REFUSED)
def test_unsupported_apps_are_refused_at_start_naming_function_and_binding(tmp_path, source, expected):
    header = "import azure.functions as func\napp = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
    write_app(tmp_path, header + textwrap.dedent(source))
    with pytest.raises(_azure.AzureAppError) as error:
        _loader.load_app(str(tmp_path))
    for part in expected:
        assert part in str(error.value)


def test_a_refused_app_stops_the_worker_before_it_connects(tmp_path):
    write_app(tmp_path, """
        import azure.functions as func
        app = func.FunctionApp()
        other = func.FunctionApp()
    """)
    env = dict(os.environ, FUNCTIONS_APPLICATION_DIRECTORY=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "fnwire"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "defines 2 function apps (app, other)" in done.stderr and "register_functions" in done.stderr


def test_an_exception_is_a_failed_invocation():
    from fnwire import _worker

    class Sink:
        def emit(self, records):
            pass

    boom = load(EXAMPLE)["boom"]
    outcome = _worker.run_sync(boom, [http_input()], CONTEXT, Sink())
    assert isinstance(outcome, _native.Failure)
    assert (outcome.error_type, outcome.message) == ("RuntimeError", "boom: this function fails on purpose")
    assert "Traceback" in outcome.traceback
    # A function that returns is a Success, through the same runner.
    success = _worker.run_sync(load(EXAMPLE)["hello"], [http_input(params={"name": "X"})], CONTEXT, Sink())
    assert isinstance(success, _native.Success)


def test_set_cookie_headers_become_cookies_with_their_attributes():
    from fnwire import _azure_invoke as invoke

    response = func.HttpResponse("x", headers={
        "Set-Cookie": "s=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60; Secure; SameSite=Strict; Domain=example.com",
    })
    _, status, headers, body, cookies = invoke._encode(invoke.Param("$return", "http", None, "", False), response)
    expires = datetime.datetime(2026, 10, 21, 7, 28, tzinfo=datetime.timezone.utc).timestamp()
    assert cookies == [("s", "1", "example.com", None, expires, True, False, "strict", 60.0)]
    assert (status, body) == (200, b"x") and "Set-Cookie" not in dict(headers)
    unreadable = func.HttpResponse("x", headers={"Set-Cookie": "t=2; Expires=someday"})
    assert invoke._encode(invoke.Param("$return", "http", None, "", False), unreadable)[4][0][4] is None
