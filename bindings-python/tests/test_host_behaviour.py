"""What `fnwire start` does with a Python app's responses and stuck functions, through real HTTP:
every value of a repeated response header reaches the client, and a `def` function that never
returns after functionTimeout gets its worker replaced."""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

FNWIRE = pathlib.Path(sys.executable).parent / "fnwire"

APP = '''
import asyncio
import os
import time

import fnwire

app = fnwire.App()


@app.http_trigger(route="headers", auth_level="anonymous")
def headers(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    res = fnwire.HttpResponse("ok", headers={"Link": ["</a.css>; rel=preload", "</b.js>; rel=preload"]})
    res.set_cookie("first", "1", path="/")
    res.set_cookie("second", "2", http_only=True)
    res.add_header("Set-Cookie", "third=3; Secure")
    res.add_header("X-Trace", "one")
    res.add_header("x-trace", "two")
    return res


@app.http_trigger(route="bad-header", auth_level="anonymous")
def bad_header(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return fnwire.HttpResponse("never sent", headers={"not a token": "x"})


@app.http_trigger(route="stuck", auth_level="anonymous")
def stuck(req: fnwire.HttpRequest):
    while True:
        time.sleep(0.05)


@app.http_trigger(route="asleep", auth_level="anonymous")
async def asleep(req: fnwire.HttpRequest):
    await asyncio.sleep(0.01)
    return req.query.get("n")


@app.http_trigger(route="forever", auth_level="anonymous")
async def forever(req: fnwire.HttpRequest):
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("async task cancelled", flush=True)
        raise


@app.http_trigger(route="pid", auth_level="anonymous")
def pid(req: fnwire.HttpRequest):
    return str(os.getpid())
'''

HOST_JSON = """{"version": "2.0", "functionTimeout": "00:00:01",
  "extensions": {"fnwire": {"functionTimeoutGracePeriod": "00:00:00.5"}}}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


class Host:
    def __init__(self, proc, base):
        self.proc, self.base, self.lines = proc, base, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace"))

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle, bound=30.0):
        deadline = time.monotonic() + bound
        while needle not in self.output():
            assert time.monotonic() < deadline, f"{needle!r} never appeared:\n{self.output()}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    app_dir = tmp_path_factory.mktemp("app")
    (app_dir / "function_app.py").write_text(textwrap.dedent(APP))
    (app_dir / "host.json").write_text(HOST_JSON)
    port = free_port()
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("FNWIRE_PYTHON", None)
    proc = subprocess.Popen(
        [str(FNWIRE), "start", str(app_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    host = Host(proc, f"http://127.0.0.1:{port}")
    host.wait_for("Host started", bound=60)
    yield host
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_every_value_of_a_repeated_header_reaches_the_client(host):
    status, body, headers = request(f"{host.base}/api/headers")
    assert (status, body) == (200, b"ok")
    cookies = headers.get_all("Set-Cookie")
    assert [c.split(";")[0] for c in cookies] == ["first=1", "second=2", "third=3"], cookies
    assert "HttpOnly" in cookies[1] and "Secure" in cookies[2], cookies
    # One header line per name on the wire, its values joined in order, as Azure's host sends them.
    assert headers.get_all("Link") == ["</a.css>; rel=preload, </b.js>; rel=preload"]
    assert headers.get_all("X-Trace") == ["one, two"]


def test_a_response_the_sdk_refuses_fails_the_invocation_with_its_message(host):
    # The core reads a returned HttpResponse itself; its header check still applies.
    status, body, _ = request(f"{host.base}/api/bad-header")
    assert status == 500 and b"never sent" not in body
    host.wait_for("ValueError")
    assert "not a token" in host.output(), host.output()


def test_async_functions_run_concurrently_and_their_cancel_reaches_the_task(host):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda n: request(f"{host.base}/api/asleep?n={n}")[:2], range(200)))
    assert answers == [(200, str(n).encode()) for n in range(200)]
    status, body, _ = request(f"{host.base}/api/forever")
    assert status == 504, body
    host.wait_for("async task cancelled")


def test_a_stuck_def_function_gets_its_worker_replaced_after_the_grace(host):
    _, before, _ = request(f"{host.base}/api/pid")
    status, body, _ = request(f"{host.base}/api/stuck")
    assert status == 504, body
    host.wait_for("did not end within 500ms after functionTimeout")
    deadline = time.monotonic() + 30
    while True:
        status, after, _ = request(f"{host.base}/api/pid")
        if status == 200 and after != before:
            break
        assert time.monotonic() < deadline, f"the worker was not replaced:\n{host.output()}"
        time.sleep(0.1)
    assert "giving up" not in host.output()
