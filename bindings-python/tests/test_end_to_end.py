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


def test_thumbnails_example_writes_a_card_and_a_table_row_per_upload(tmp_path):
    """examples/thumbnails/python as its README runs it: a file dropped into the blob folder (in
    a sub-folder, so the name holds a `/`) runs the blob trigger, whose `fnwire.Blob` carries
    the trigger's metadata; the card and the table row are there to read with the CLI."""
    from test_azure_end_to_end import Host, eventually

    host = Host(ROOT / "examples" / "thumbnails" / "python", tmp_path)
    try:
        uploads = host.dir / ".fnwire" / "blobs" / "uploads" / "2024"
        uploads.mkdir(parents=True)
        (uploads / "cat.txt").write_bytes(b"a picture of a cat")

        def card():
            got = subprocess.run(
                [str(FNWIRE), "blob", "get", "thumbnails/2024/cat.txt.json", "--app", str(host.dir)],
                capture_output=True,
            )
            return json.loads(got.stdout) if got.returncode == 0 else None

        made = eventually(card, "the card of uploads/2024/cat.txt")
        assert made["blob"] == "uploads/2024/cat.txt"
        assert made["name"] == "2024/cat.txt"
        assert (made["bytes"], made["preview"], made["contentType"]) == (18, "a picture of a cat", "text/plain")
        assert made["etag"] and made["lastModified"], made

        rows = subprocess.run(
            [str(FNWIRE), "table", "query", "Thumbnails", "--app", str(host.dir)], capture_output=True, check=True
        ).stdout.decode()
        entities = [json.loads(line) for line in rows.splitlines() if line.strip()]
        assert len(entities) == 1, rows
        row = entities[0]
        assert (row["PartitionKey"], row["RowKey"]) == ("uploads", "2024_cat.txt")
        assert (row["Blob"], row["Bytes"], row["Thumbnail"]) == (
            "uploads/2024/cat.txt",
            "18",
            "thumbnails/2024/cat.txt.json",
        )
    finally:
        log = host.stop()
    assert "made a thumbnail card for uploads/2024/cat.txt (18 bytes)" in log, log
