"""End to end: `fnwire start` (the host shipped in the wheel) runs examples/hello-python, and real
HTTP requests get the same answers as examples/hello-rust."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FNWIRE = pathlib.Path(sys.executable).parent / "fnwire"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, data=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture(scope="module")
def host():
    port = free_port()
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("FNWIRE_PYTHON", None)
    proc = subprocess.Popen(
        [str(FNWIRE), "start", str(ROOT / "examples" / "hello-python"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"fnwire start exited early: {proc.stdout.read().decode(errors='replace')}")
        try:
            status, _, _ = request(f"{base}/api/hello")
            if status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"fnwire start did not serve in time: {proc.stdout.read().decode(errors='replace')}")
        time.sleep(0.2)
    yield base, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_hello_from_query_route_and_default(host):
    base, _ = host
    assert request(f"{base}/api/hello?name=Ada")[:2] == (200, b"Hello, Ada!")
    assert request(f"{base}/api/hello/Bob")[:2] == (200, b"Hello, Bob!")
    assert request(f"{base}/api/hello")[:2] == (200, b"Hello, world!")
    status, body, headers = request(f"{base}/api/hello/Zo%C3%AB", data=b"")
    assert (status, body.decode()) == (200, "Hello, Zoë!")
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_echo_json_and_bad_json(host):
    base, _ = host
    status, body, headers = request(f"{base}/api/echo", data=b'{"answer": 42, "list": [1, "two"]}')
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"answer": 42, "list": [1, "two"]}
    status, body, _ = request(f"{base}/api/echo", data=b"nope")
    assert status == 400 and body.startswith(b"echo expects a JSON body: the request body is not valid JSON")


def test_boom_is_a_500_naming_the_invocation(host):
    base, _ = host
    status, body, _ = request(f"{base}/api/boom")
    assert status == 500 and b"invocation id" in body
    assert b"Traceback" not in body  # the traceback goes to the host log, not to clients


def test_concurrent_requests(host):
    import concurrent.futures

    base, _ = host
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: request(f"{base}/api/hello?name=n{i}")[:2], range(64)))
    assert results == [(200, f"Hello, n{i}!".encode()) for i in range(64)]


def test_ctrl_c_stops_host_and_worker(host):
    base, proc = host
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "RuntimeError: boom: GET /api/boom fails on purpose" in text
    assert "Traceback" in text
