"""End to end: unmodified azure.functions apps (examples/azure-python in the v2 model, and the v1,
blueprint, ASGI and WSGI apps under tests/azure_apps) served by `fnwire start` on fnwire's worker,
installed as a user installs them (the wheel and azure-functions from PyPI), driven over HTTP."""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = pathlib.Path(__file__).resolve().parent / "azure_apps"
FNWIRE = pathlib.Path(sys.executable).parent / "fnwire"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, data=None, method=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def eventually(probe, what):
    """Polls `probe` (a queue or timer function runs on its own schedule) for up to 30 s."""
    deadline = time.monotonic() + 30
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within 30 s")
        time.sleep(0.1)


class Host:
    """`fnwire start APP` on a free port; the app folder is copied so its storage stays private."""

    def __init__(self, app: pathlib.Path, tmp: pathlib.Path) -> None:
        self.dir = tmp / app.name
        shutil.copytree(app, self.dir, ignore=shutil.ignore_patterns(".fnwire", "__pycache__"))
        port = free_port()
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("FNWIRE_PYTHON", None)
        self.proc = subprocess.Popen(
            [str(FNWIRE), "start", str(self.dir), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"fnwire start {app.name} exited early: {self.output()}")
            try:
                # The host answers 503 until the worker has loaded the app; then the probe is a 404.
                if request(f"{self.base}/api/fnwire-ready-probe")[0] != 503:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"fnwire start {app.name} did not serve in time: {self.output()}")
            time.sleep(0.2)

    def get(self, path, **kwargs):
        return request(self.base + path, **kwargs)

    def output(self) -> str:
        return self.proc.stdout.read().decode(errors="replace")

    def stop(self) -> str:
        """Ctrl-C; returns the host's log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        output, _ = self.proc.communicate(timeout=30)
        return output.decode(errors="replace")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    host = Host(ROOT / "examples" / "azure-python", tmp_path_factory.mktemp("example"))
    yield host
    if host.proc.poll() is None:
        host.proc.kill()
        host.proc.wait()


def test_example_http_route_and_query(example):
    status, body, headers = example.get("/api/hello/Ada?greeting=Hi")
    assert (status, body) == (200, b"Hi, Ada!")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert example.get("/api/hello/Zo%C3%AB")[:2] == (200, "Hello, Zoë!".encode())


def test_example_queue_output_trigger_and_blob_output(example):
    order = json.dumps({"id": "o-7", "item": "tea", "quantity": 2}).encode()
    status, body, headers = example.get("/api/orders", data=order, headers={"content-type": "application/json"})
    assert (status, json.loads(body)) == (202, {"queued": "o-7"})
    assert headers["location"] == "/api/receipts/o-7" and headers["content-type"] == "application/json"
    status, body, _ = example.get("/api/orders", data=b"{}")
    assert status == 400 and json.loads(body) == {"error": "an order needs `id` and `item`"}

    def receipt():
        status, body, _ = example.get("/api/receipts/o-7")
        return body if status == 200 else None

    assert eventually(receipt, "the receipt of order o-7") == b"order o-7: 2 x tea\n"


def test_example_timer_writes_its_blob(example):
    def beat():
        status, body, _ = example.get("/api/heartbeat")
        return json.loads(body) if status == 200 else None

    assert eventually(beat, "a heartbeat")["pastDue"] in (True, False)


def test_example_table_output_then_input_by_key_and_by_filter(example):
    for customer in ({"id": "c-1", "name": "Ada"}, {"id": "c-2", "name": "Bob", "visits": 0}, {"id": "c-3", "name": "Cy"}):
        status, _, _ = example.get("/api/customers", data=json.dumps(customer).encode())
        assert status == 201
    status, body, _ = example.get("/api/customers/c-1")
    assert status == 200
    assert json.loads(body) == {"PartitionKey": "web", "RowKey": "c-1", "Name": "Ada", "Visits": 1}
    assert example.get("/api/customers/c-9")[0] == 404
    status, body, _ = example.get("/api/customers")
    assert (status, json.loads(body)) == (200, ["Ada", "Cy"])


def test_example_exception_is_a_500_and_logged(example):
    status, body, _ = example.get("/api/boom")
    assert status == 500 and b"fails on purpose" not in body and b"Traceback" not in body
    log = example.stop()
    assert "RuntimeError: boom: this function fails on purpose" in log and "Traceback" in log
    assert "queued order o-7" in log and "fulfilling order o-7" in log  # `logging` reaches the host log


def test_v1_app(tmp_path):
    host = Host(APPS / "v1", tmp_path)
    try:
        assert host.get("/api/greet/Ann")[:2] == (200, b"Hello, Ann!")
        job = json.dumps({"jobId": "j9", "task": "wash"}).encode()
        assert host.get("/api/enqueue", data=job)[:2] == (202, b"queued j9 by enqueue")
        assert host.get("/api/results/none")[:2] == (404, b"not yet")

        def result():
            status, body, _ = host.get("/api/results/j9")
            return body if status == 200 else None

        assert eventually(result, "the v1 queue function's blob") == b"done j9: WASH"
        status, body, _ = host.get("/api/ops")
        assert status == 200 and json.loads(body) == {
            "function": "ops", "directory": "ops", "module": "__app__.ops.impl.handler", "invocation": True,
        }
    finally:
        log = host.stop()
    assert "enqueueing job j9" in log


def test_blueprint_app(tmp_path):
    host = Host(APPS / "blueprint", tmp_path)
    try:
        status, body, _ = host.get("/api/whoami")
        who = json.loads(body)
        assert status == 200 and who["functionName"] == "whoami" and len(who["invocationId"]) == 36
        assert host.get("/api/plain", data=b"abc")[:2] == (200, b"plain:abc")
        status, body, headers = host.get("/api/orders/7", data=b'{"n": 1}', method="PUT")
        assert (status, json.loads(body)) == (201, {"id": 7, "method": "PUT", "body": {"n": 1}})
        status, _, headers = host.get("/api/cookie")
        assert status == 200 and headers["x-custom"] == "yes"
        assert "flavour=oat" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        assert host.get("/api/secured")[0] == 401  # auth_level=FUNCTION without a key
    finally:
        host.stop()


@pytest.mark.parametrize("kind,status", [("asgi", 200), ("wsgi", 201)])
def test_asgi_and_wsgi_apps(tmp_path, kind, status):
    host = Host(APPS / kind, tmp_path)
    try:
        got, body, headers = host.get("/api/some/path?x=1", data=b"hi")
        assert got == status, body
        assert json.loads(body) == {"method": "POST", "path": "/api/some/path", "query": "x=1", "body": "hi"}
        assert headers[f"x-{kind}"] == "yes"
    finally:
        host.stop()


def test_blob_trigger_app_gets_an_input_stream_with_the_blobs_properties(tmp_path):
    host = Host(APPS / "blob_trigger", tmp_path)
    try:
        # A file copied into the embedded store's blob folder by hand is a new blob.
        uploads = host.dir / ".fnwire" / "blobs" / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        (uploads / "cat.txt").write_bytes(b"meow")
        summary = host.dir / ".fnwire" / "blobs" / "summaries" / "cat.txt"
        text = eventually(lambda: summary.read_text() if summary.exists() else None, "the summary of uploads/cat.txt")
        assert text == "uploads/cat.txt 4 meow file"
    finally:
        log = host.stop()
    assert "Blob Size: 4 bytes" in log, log


def test_service_bus_topic_and_queue_triggers(tmp_path):
    """azure.functions' `service_bus_topic_trigger`, `service_bus_queue_trigger` and the Service Bus
    outputs, unchanged: a message goes HTTP → topic → subscription trigger → queue → queue trigger."""
    host = Host(APPS / "servicebus", tmp_path)
    try:
        assert host.get("/api/send", data=b'{"id": "s-1", "total": 5}', method="POST")[0] == 202

        def seen():
            status, body, _ = host.get("/api/seen/s-1")
            return json.loads(body) if status == 200 else None

        record = eventually(seen, "the message reaching the queue trigger")
        assert record["id"] == "s-1"
        assert record["deliveryCount"] == 1
        assert record["enqueued"] is True
        assert record["messageId"]
    finally:
        log = host.stop()
    assert "sale s-1, delivery 1" in log

