"""Runs this v1 (function.json) app under `fnwire start` and checks what a user would see.

The conformance runner drives the worker over FunctionRpc directly; this goes through the host
binary instead: host indexing of the function.json files, HTTP routes with parameters, a failing
function as HTTP 500, queue and blob outputs, queue triggers whose code is found through
`scriptFile` + `entryPoint` and through `../shared_code/…`, and a clean Ctrl-C.

Usage: .venv/bin/python check_fnwire_start.py [PATH_TO_FNWIRE]   (default: target/debug/fnwire)
Run setup.sh first. Storage goes to a temporary directory (FNWIRE_STORAGE_DIR), not the app.
Exit code 0 when every check passed, 1 otherwise.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
STARTUP_SECONDS = 60
OUTPUT_SECONDS = 20
POLL_SECONDS = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, method="GET", body=None):
    """(status, headers, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def wait_for(what, probe, seconds):
    """Polls `probe` until it returns a true value; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {seconds} s")
        time.sleep(POLL_SECONDS)


class Check:
    def __init__(self, fnwire, base, env):
        self.fnwire, self.base, self.env = fnwire, base, env
        self.passed, self.failed = 0, []

    def run(self, name, body):
        try:
            body()
        except Exception as err:  # every failed check is reported, then the next one runs
            self.failed.append(f"{name}: {err}")
            print(f"FAIL {name}: {err}")
        else:
            self.passed += 1
            print(f"pass {name}")

    def queue(self, *args):
        out = subprocess.run([self.fnwire, "queue", *args, "--app", HERE], env=self.env,
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise AssertionError(f"fnwire queue {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out.stdout


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def checks(c: Check, storage):
    def text():
        status, headers, body = request(c.base + "/api/text?name=Zo%C3%AB")
        expect(status == 200, f"status {status}")
        expect(body.decode() == "Grüße, Zoë! ☃ 日本語 🚀", f"body {body!r}")
        expect(headers["content-type"].startswith("text/plain"), headers["content-type"])

    def echo():
        status, _, body = request(c.base + "/api/echo/books/42?x=1", "POST", b"hello")
        expect(status == 200, f"status {status}")
        got = json.loads(body)
        expect(got["params"] == {"category": "books", "id": "42"}, f"params {got['params']}")
        expect(got["query"] == {"x": "1"} and got["bodyLength"] == 5, f"echo {got}")
        expect(got["functionName"] == "http_echo", f"functionName {got['functionName']}")

    def custom():
        status, headers, body = request(c.base + "/api/custom")
        cookie = headers.get("set-cookie", "")
        expect(status == 201 and body == b"created", f"{status} {body!r}")
        expect("session=abc123" in cookie and "httponly" in cookie.lower(), f"set-cookie {cookie!r}")

    def fail():
        status, _, _ = request(c.base + "/api/fail")
        expect(status == 500, f"status {status}, expected 500")

    def multi():
        status, _, body = request(c.base + "/api/multi", "POST", "grüß".encode())
        expect(status == 200 and body.decode() == "multi:grüß", f"{status} {body!r}")
        blob = os.path.join(storage, "blobs", "fnwire-multi", "out.txt")
        wait_for(f"blob {blob}", lambda: os.path.isfile(blob), OUTPUT_SECONDS)
        with open(blob, encoding="utf-8") as f:
            expect(f.read() == "blob:grüß", f"blob {blob}")
        wait_for("queue:grüß on fnwire-multi-queue",
                 lambda: "queue:grüß" in c.queue("peek", "fnwire-multi-queue"), OUTPUT_SECONDS)

    def queue_copy():
        c.queue("put", "fnwire-in", "hello v1")
        wait_for('{"body": "hello v1", …} on fnwire-out',
                 lambda: '"body": "hello v1"' in c.queue("peek", "fnwire-out"), OUTPUT_SECONDS)

    def queue_return():
        c.queue("put", "fnwire-return-in", "v1")
        wait_for("returned:v1 on fnwire-return-out",
                 lambda: "returned:v1" in c.queue("peek", "fnwire-return-out"), OUTPUT_SECONDS)

    for name, body in [("http_text", text), ("http_echo route parameters", echo),
                       ("http_custom status and cookie", custom), ("http_fail is 500", fail),
                       ("http_multi queue and blob outputs (scriptFile impl/multi.py)", multi),
                       ("queue_copy (scriptFile worker.py, entryPoint handle)", queue_copy),
                       ("queue_return (scriptFile ../shared_code/queue_handlers.py)", queue_return)]:
        c.run(name, body)


def main():
    fnwire = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "debug", "fnwire"))
    if not os.path.isfile(fnwire):
        sys.exit(f"check_fnwire_start: no fnwire binary at {fnwire}; build it (cargo build -p fnwire-host) "
                 "or pass its path")
    with tempfile.TemporaryDirectory(prefix="fnwire-v1-") as storage:
        env = dict(os.environ, FNWIRE_STORAGE_DIR=storage)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = os.path.join(storage, "fnwire-start.log")
        with open(log_path, "w") as log:
            host = subprocess.Popen([fnwire, "start", HERE, "--port", str(port)], env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        c = Check(fnwire, base, env)
        try:
            def answered():
                if host.poll() is not None:
                    raise AssertionError(f"fnwire start exited ({host.returncode}) before serving")
                try:
                    return request(base + "/api/text")[0] == 200
                except OSError:
                    return False
            c.run("fnwire start serves the function.json app", lambda: wait_for(
                f"an answer from {base}/api/text", answered, STARTUP_SECONDS))
            if not c.failed:
                checks(c, storage)
        finally:
            if host.poll() is None:
                host.send_signal(signal.SIGINT)
        c.run("Ctrl-C stops the host with exit code 0", lambda: expect(
            host.wait(timeout=30) == 0, f"exit code {host.returncode}"))
        if host.poll() is None:
            host.kill()
            host.wait()
        if c.failed:
            with open(log_path) as log:
                sys.stdout.write("--- fnwire start output ---\n" + log.read())
    print(f"fnwire start on the v1 app: {c.passed} passed, {len(c.failed)} failed")
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
