#!/usr/bin/env python3
"""Runs the hello app (examples/hello-*) under a `fnwire` command and checks its HTTP answers, as a
user would with curl. Used by scripts/test-dist.sh on installed artifacts (wheel, npm packages,
release tarball), so it needs only the Python standard library.

    python3 scripts/check-hello.py FNWIRE_COMMAND APP_DIR [PORT]

FNWIRE_COMMAND may hold arguments (`"npx --no-install fnwire"`). Exits non-zero, with the host's
log, when an answer differs or the host does not serve within the deadline.
"""

import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# A cold start loads the worker's runtime and the app; generous, but bounded.
START_DEADLINE_S = 120
STOP_DEADLINE_S = 20


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def wait_until_serving(proc, port):
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the host exited with code {proc.returncode} before serving")
        try:
            status, _ = request(port, "GET", "/api/hello")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the host did not serve GET /api/hello on port {port} within {START_DEADLINE_S} s")


def check(port):
    expectations = [
        ("GET", "/api/hello?name=Ada", None, 200, "Hello, Ada!"),
        ("GET", "/api/hello/Bob", None, 200, "Hello, Bob!"),
        ("GET", "/api/hello", None, 200, "Hello, world!"),
        ("POST", "/api/echo", '{"n":1}', 200, {"n": 1}),
        ("GET", "/api/boom", None, 500, None),
    ]
    failures = []
    for method, path, body, want_status, want_body in expectations:
        status, text = request(port, method, path, body)
        got = json.loads(text) if isinstance(want_body, dict) and status == 200 else text
        if status != want_status or (want_body is not None and got != want_body):
            failures.append(f"{method} {path}: got {status} {text!r}, want {want_status} {want_body!r}")
        else:
            print(f"ok  {method} {path} -> {status}")
    return failures


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    command = shlex.split(sys.argv[1])
    app = sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) == 4 else 7391
    storage = tempfile.mkdtemp(prefix="fnwire-hello-")
    env = dict(os.environ, FNWIRE_STORAGE_DIR=storage, FNWIRE_BLOB_DIR=storage + "/blobs", NO_COLOR="1")
    log_path = os.path.join(storage, "host.log")
    with open(log_path, "wb") as log:
        # Its own process group: `npx` and the console-script wrappers start children of their own.
        proc = subprocess.Popen([*command, "start", app, "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    failures = []
    try:
        wait_until_serving(proc, port)
        failures = check(port)
    except SystemExit as stop:
        failures = [str(stop)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if failures:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            sys.stderr.write(log.read()[-6000:])
        shutil.rmtree(storage, ignore_errors=True)
        raise SystemExit("hello contract failed under " + " ".join(command) + ":\n  " + "\n  ".join(failures))
    shutil.rmtree(storage, ignore_errors=True)
    print(f"hello contract passed under {' '.join(command)} ({app})")


if __name__ == "__main__":
    main()
