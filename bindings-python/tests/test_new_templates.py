"""`fnwire new --lang python`: every template is generated, run through `fnwire start` (the host in
the wheel), and driven as its README says; `fnwire start --watch` restarts the worker on save."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

FNWIRE = pathlib.Path(sys.executable).parent / "fnwire"
BOUND = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, data=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def new_app(tmp_path, template):
    app = tmp_path / f"py-{template}"
    out = subprocess.run(
        [str(FNWIRE), "new", str(app), "--lang", "python", "--template", template],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ["function_app.py", "requirements.txt", "host.json", "local.settings.json", ".gitignore", "README.md"]:
        assert (app / name).is_file(), name
    return app


class Host:
    """`fnwire start APP --port N [extra]`, its output collected by a thread."""

    def __init__(self, app, *extra):
        self.port = free_port()
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("FNWIRE_PYTHON", None)
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [str(FNWIRE), "start", str(app), "--port", str(self.port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("Host started")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace"))

    def output(self):
        return "".join(self.lines)

    def wait_for(self, needle, bound=BOUND):
        deadline = time.monotonic() + bound
        while needle not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"fnwire never printed {needle!r}:\n{self.output()}")
            time.sleep(0.05)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def started():
    hosts = []

    def start(app, *extra):
        host = Host(app, *extra)
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.stop()


@pytest.mark.parametrize("template", ["http", "azure"])
def test_http_templates_answer(tmp_path, started, template):
    host = started(new_app(tmp_path, template))
    assert request(host.url("/api/hello?name=Ada")) == (200, "Hello, Ada!"), host.output()


def test_timer_template_fires(tmp_path, started):
    host = started(new_app(tmp_path, "timer"))
    host.wait_for("Executed 'tick'")


def test_queue_template_works_on_enqueued_messages(tmp_path, started):
    app = new_app(tmp_path, "queue")
    host = started(app)
    put = subprocess.run([str(FNWIRE), "queue", "put", "jobs", "from the cli", "--app", str(app)], capture_output=True)
    assert put.returncode == 0, put
    assert request(host.url("/api/enqueue"), data=b"over http")[0] == 202
    deadline = time.monotonic() + BOUND
    while True:
        peek = subprocess.run(
            [str(FNWIRE), "queue", "peek", "done", "--app", str(app)], capture_output=True, text=True
        ).stdout
        if "FROM THE CLI" in peek and "OVER HTTP" in peek:
            break
        assert time.monotonic() < deadline, f"`work` never wrote both results: {peek}\n{host.output()}"
        time.sleep(0.1)


def test_durable_template_completes_its_orchestration(tmp_path, started):
    host = started(new_app(tmp_path, "durable"))
    status, body = request(host.url("/api/orchestrators/hello_cities"), data=b'"Tokyo"')
    assert status == 202, body + host.output()
    status_url = json.loads(body)["statusQueryGetUri"]
    deadline = time.monotonic() + BOUND
    while True:
        state = json.loads(request(status_url)[1])
        if state["runtimeStatus"] == "Completed":
            break
        assert time.monotonic() < deadline, f"{state}\n{host.output()}"
        time.sleep(0.1)
    assert state["output"] == ["Hello Tokyo!", "Hello London!", "Hello Lima!"]


def test_watch_restarts_the_worker_on_save_and_requests_during_it_all_succeed(tmp_path, started):
    app = new_app(tmp_path, "http")
    host = started(app, "--watch")
    url = host.url("/api/hello?name=Ada")
    assert request(url) == (200, "Hello, Ada!")
    replies, stop = [], threading.Event()

    def loop():
        deadline = time.monotonic() + BOUND
        while not stop.is_set() and time.monotonic() < deadline:
            replies.append(request(url))
            time.sleep(0.01)

    looping = threading.Thread(target=loop)
    looping.start()
    source = app / "function_app.py"
    source.write_text(source.read_text().replace('f"Hello, {name}!"', 'f"Hi, {name}!"'))
    deadline = time.monotonic() + BOUND
    while request(url) != (200, "Hi, Ada!"):
        assert time.monotonic() < deadline, host.output()
        time.sleep(0.05)
    stop.set()
    looping.join()
    assert replies and all(status == 200 for status, _ in replies), replies
    assert "function_app.py changed" in host.output()
