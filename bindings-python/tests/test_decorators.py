"""Decorators -> binding metadata, and the errors for misuse (raised before the worker starts)."""

import json

import pytest

import fnwire
from fnwire import FunctionDefinitionError


def bindings(app):
    return {f.name: [json.loads(b) for b in f.raw_bindings] for f in app.functions()}


def test_http_trigger_renders_like_the_rust_macro():
    app = fnwire.App()

    @app.http_trigger(route="hello/{name?}", methods=["GET", "POST"], auth_level="anonymous")
    def hello(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
        return fnwire.HttpResponse("hi")

    assert bindings(app)["hello"] == [
        {"type": "httpTrigger", "direction": "in", "name": "req", "route": "hello/{name?}",
         "methods": ["get", "post"], "authLevel": "anonymous"},
        {"type": "http", "direction": "out", "name": "$return"},
    ]
    # The function stays an ordinary function.
    assert hello(None).get_body() == b"hi"


def test_queue_trigger_and_output_bind_by_name():
    app = fnwire.App()

    @app.queue_trigger(queue="jobs")
    @app.queue_output(name="out", queue="done", connection="AzureWebJobsStorage")
    async def work(msg: fnwire.QueueMessage, out: fnwire.Out[str], ctx: fnwire.Context) -> None:
        pass

    (info,) = app.functions()
    assert info.is_async
    assert [b["name"] for b in info.bindings] == ["msg", "out"]
    assert info.bindings[1] == {"type": "queue", "direction": "out", "name": "out", "queueName": "done",
                                "connection": "AzureWebJobsStorage"}
    assert info.outputs == [("out", "out")]
    assert info.context_params == ["ctx"]


def test_generic_binding_passes_keys_through_in_camel_case():
    app = fnwire.App()

    @app.http_trigger(name="req", route="generic", auth_level="anonymous")
    @app.binding(type="fnwireProbe", direction="in", name="probe", probe_setting="alpha", probe_count=3,
                 enabled=True, tags=["one", "two"])
    def generic(probe: str = "") -> str:
        return probe

    probe = bindings(app)["generic"][1]
    assert probe == {"type": "fnwireProbe", "direction": "in", "name": "probe", "probeSetting": "alpha",
                     "probeCount": 3, "enabled": True, "tags": ["one", "two"]}


def test_timer_and_blob_bindings():
    app = fnwire.App()

    @app.timer_trigger(schedule="0 */5 * * * *", run_on_startup=False)
    @app.blob_input(name="config", path="cfg/app.json")
    @app.blob_output(path="out/{rand-guid}.txt")
    def tick(timer: fnwire.TimerInfo, config: bytes) -> str:
        return "x"

    rendered = bindings(app)["tick"]
    assert rendered[0] == {"type": "timerTrigger", "direction": "in", "name": "timer",
                           "schedule": "0 */5 * * * *", "runOnStartup": False}
    assert rendered[1]["type"] == "blob" and rendered[1]["direction"] == "in"
    assert rendered[2] == {"type": "blob", "direction": "out", "name": "$return", "path": "out/{rand-guid}.txt"}


def test_function_id_is_deterministic():
    app = fnwire.App()

    @app.http_trigger(route="x", auth_level="anonymous")
    def same(req):
        pass

    assert app.functions()[0].function_id == app.functions()[0].function_id != ""


def test_misspelled_option_names_function_and_suggests():
    app = fnwire.App()
    with pytest.raises(FunctionDefinitionError) as e:
        @app.queue_output(name="out", queue="q", conection="x")
        def f(msg, out):
            pass
    message = str(e.value)
    assert ".f` (test_decorators.py:" in message
    assert "no option `conection`" in message and "did you mean `connection`" in message


def test_invalid_values_use_the_catalog_messages():
    app = fnwire.App()
    with pytest.raises(FunctionDefinitionError, match="`fetch` is not an HTTP method"):
        @app.http_trigger(methods=["fetch"])
        def f(req):
            pass
    with pytest.raises(FunctionDefinitionError, match="`secret` is not an auth level"):
        @app.http_trigger(auth_level="secret")
        def g(req):
            pass
    with pytest.raises(FunctionDefinitionError, match=r"requires `queue=\.\.\.`"):
        @app.queue_trigger()
        def h(msg):
            pass


def test_two_triggers_are_one_too_many():
    app = fnwire.App()

    @app.http_trigger(route="a")
    @app.timer_trigger(schedule="* * * * * *")
    def f(req):
        pass

    with pytest.raises(FunctionDefinitionError, match="a function has exactly one trigger"):
        app.functions()


def test_definition_errors_are_value_errors_listing_their_problems():
    app = fnwire.App()
    with pytest.raises(ValueError) as e:
        @app.http_trigger(methods=["fetch"], auth_level="secret")
        def f(req):
            pass
    assert isinstance(e.value, FunctionDefinitionError)
    assert [p.key for p in e.value.problems] == ["methods", "auth_level"]
    assert FunctionDefinitionError("raised by hand").problems == ()


def test_a_trigger_without_parameters_is_named_trigger():
    app = fnwire.App()

    @app.timer_trigger(schedule="0 * * * * *")
    def tick():
        pass

    assert bindings(app)["tick"][0]["name"] == "trigger"


def test_unknown_parameter_is_named():
    app = fnwire.App()

    @app.http_trigger(route="a")
    def f(req, extra):
        pass

    with pytest.raises(FunctionDefinitionError, match="parameter `extra` matches no binding"):
        app.functions()


def test_out_parameter_without_output_binding():
    app = fnwire.App()

    @app.queue_trigger(queue="q")
    def f(msg, result: fnwire.Out[str]):
        pass

    with pytest.raises(FunctionDefinitionError, match=r"`result` is an `fnwire\.Out\[\.\.\.\]` parameter, but no output binding is named `result`"):
        app.functions()


def test_wrong_annotation_for_trigger():
    app = fnwire.App()

    @app.http_trigger(route="a")
    def f(req: fnwire.QueueMessage):
        pass

    with pytest.raises(FunctionDefinitionError, match="parameter `req` is annotated `QueueMessage`"):
        app.functions()


def test_a_blob_trigger_parameter_is_a_blob_when_annotated_so_else_its_content():
    app = fnwire.App()

    @app.blob_trigger(path="uploads/{name}")
    def typed(upload: fnwire.Blob):
        pass

    @app.blob_trigger(path="uploads/{name}")
    def content(upload: bytes):
        pass

    kinds = {f.name: [kind for _, _, kind, _ in f.inputs] for f in app.functions()}
    assert kinds == {"typed": ["blob"], "content": ["raw"]}

    other = fnwire.App()

    @other.queue_trigger(queue="q")
    def f(msg: fnwire.Blob):
        pass

    with pytest.raises(FunctionDefinitionError, match="parameter `msg` is annotated `Blob`, which only a `blobTrigger`"):
        other.functions()


def test_blob_gives_what_the_rust_sdk_blob_gives():
    blob = fnwire.Blob(
        "uploads/2024/cat.txt",
        b'{"a": 1}',
        uri="file:///b/uploads/2024/cat.txt",
        etag='"0x1"',
        content_type="application/json",
        metadata={"owner": "ada"},
        parameters={"name": "2024/cat.txt"},
    )
    assert (blob.container, blob.name, blob.length) == ("uploads", "2024/cat.txt", 8)
    assert blob.read() == b'{"a": 1}' and blob.get_text() == '{"a": 1}' and blob.get_json() == {"a": 1}
    assert (blob.uri, blob.etag, blob.content_type) == ("file:///b/uploads/2024/cat.txt", '"0x1"', "application/json")
    assert blob.metadata == {"owner": "ada"} and blob.parameters == {"name": "2024/cat.txt"}
    assert blob.last_modified is None
    with pytest.raises(ValueError, match="the blob"):
        fnwire.Blob("c/bad", b"{").get_json()


def test_a_service_bus_trigger_parameter_is_a_message_when_annotated_so_else_its_body():
    app = fnwire.App()

    @app.service_bus_trigger(topic="sales", subscription="orders")
    def typed(msg: fnwire.ServiceBusMessage):
        pass

    @app.service_bus_trigger(queue="jobs")
    def body(msg: dict):
        pass

    kinds = {f.name: [kind for _, _, kind, _ in f.inputs] for f in app.functions()}
    assert kinds == {"typed": ["service_bus"], "body": ["raw"]}

    other = fnwire.App()

    @other.queue_trigger(queue="q")
    def f(msg: fnwire.ServiceBusMessage):
        pass

    with pytest.raises(
        FunctionDefinitionError, match="parameter `msg` is annotated `ServiceBusMessage`, which only a `serviceBusTrigger`"
    ):
        other.functions()


def test_service_bus_message_gives_what_the_rust_sdk_message_gives():
    msg = fnwire.ServiceBusMessage(
        b'{"id": "o-1"}',
        application_properties={"type": "order", "priority": "high"},
        message_id="o-1",
        subject="sales",
        delivery_count=2,
        sequence_number=7,
    )
    assert msg.get_body() == b'{"id": "o-1"}' and msg.get_text() == '{"id": "o-1"}'
    assert msg.get_json() == {"id": "o-1"}
    assert msg.user_properties == {"type": "order", "priority": "high"} and msg.label == "sales"
    assert (msg.message_id, msg.delivery_count, msg.sequence_number) == ("o-1", 2, 7)
    assert msg.lock_token is None
    with pytest.raises(ValueError, match="the Service Bus message"):
        fnwire.ServiceBusMessage(b"{").get_json()


def test_output_without_parameter_and_invalid_binding_name():
    app = fnwire.App()

    @app.queue_trigger(queue="q")
    @app.queue_output(name="missing", queue="out")
    def f(msg):
        pass

    with pytest.raises(FunctionDefinitionError, match="no parameter is named `missing`"):
        app.functions()

    app2 = fnwire.App()

    @app2.queue_trigger(queue="q")
    def g(my_msg):
        pass

    with pytest.raises(FunctionDefinitionError, match="takes its binding name from the first parameter, `my_msg`"):
        app2.functions()


def test_duplicate_function_names():
    app = fnwire.App()

    @app.http_trigger(route="a")
    def f(req):
        pass

    @app.http_trigger(route="b", function_name="F")
    def g(req):
        pass

    with pytest.raises(FunctionDefinitionError, match="also named `F`"):
        app.functions()
