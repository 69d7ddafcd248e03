#!/usr/bin/env python3
"""Probes of `fnwire start` for RELIABILITY.md (run by hand, not in CI):

  python3 scripts/probe.py flood  target/release/fnwire examples/hello-rust   # idle flood + slowloris
  python3 scripts/probe.py bodies target/release/fnwire examples/hello-rust   # large bodies and memory

PROBE_FNWIRE_ARGS=--debug passes --debug to `fnwire start` (debug build of the app).

`flood` runs the host under an open-file limit of PROBE_NOFILE (default 1024), opens
PROBE_IDLE idle connections (default 2000) and PROBE_SLOW slowloris connections (default 100,
a header byte every 2 s), then times 200 sequential GET /api/hello on a fresh connection each.
`bodies` posts four 99 MiB bodies at once to /api/hello (which ignores them) and reports the host's resident memory before, at the peak and 10 s after.
"""

import http.client
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

MODE, FNWIRE, APP = sys.argv[1], sys.argv[2], sys.argv[3]
PORT = int(os.environ.get("PROBE_PORT", "7392"))


def start(nofile=None):
    storage = tempfile.mkdtemp(prefix="fnwire-probe-")
    env = dict(os.environ, FNWIRE_STORAGE_DIR=storage, FNWIRE_BLOB_DIR=storage + "/blobs", NO_COLOR="1")

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    extra = os.environ.get("PROBE_FNWIRE_ARGS", "").split()
    proc = subprocess.Popen([FNWIRE, "start", APP, "--port", str(PORT), *extra], env=env, preexec_fn=limit,
                            stdout=open(storage + "/log", "wb"), stderr=subprocess.STDOUT)
    for _ in range(3000):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            c.request("GET", "/api/hello")
            if c.getresponse().status == 200:
                return proc, storage
        except OSError:
            time.sleep(0.2)
    sys.exit("fnwire did not start")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed_hellos(n):
    times, failures = [], 0
    for _ in range(n):
        started = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            c.request("GET", "/api/hello")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                failures += 1
        except OSError:
            failures += 1
        times.append((time.time() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)], times[-1], failures


def flood():
    nofile = int(os.environ.get("PROBE_NOFILE", "1024"))
    idle_count = int(os.environ.get("PROBE_IDLE", "2000"))
    slow_count = int(os.environ.get("PROBE_SLOW", "100"))
    # Our own sockets need room too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, idle_count + slow_count + 1024), hard))
    proc, storage = start(nofile)
    print(f"host open-file limit {nofile}; baseline hello (ms p50/p99/max, failures):", timed_hellos(50))
    sockets, refused = [], 0
    for _ in range(idle_count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", PORT), timeout=5))
        except OSError:
            refused += 1
    slow = []
    for _ in range(slow_count):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
            s.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        except OSError:
            refused += 1
    stop = threading.Event()

    def dribble():
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            time.sleep(2)

    t = threading.Thread(target=dribble)
    t.start()
    time.sleep(1)
    result = timed_hellos(200)
    print(f"{idle_count} idle + {slow_count} slowloris connections opened ({refused} refused);"
          f" hello under flood (ms p50/p99/max, failures): {result}")
    fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    print(f"host open files under flood: {fds}")
    stop.set()
    t.join()
    for s in sockets + slow:
        s.close()
    log = open(storage + "/log", errors="replace").read()
    print("'Too many open files' lines:", log.count("Too many open files"),
          "| connection-cap warnings:", log.count("maxConnections"))
    proc.terminate()
    proc.wait()


def bodies():
    proc, _ = start()
    time.sleep(2)
    idle = rss_mib(proc.pid)
    body = b"x" * (99 * 1024 * 1024)
    peak = [idle]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(proc.pid))
            time.sleep(0.05)

    def post(results):
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        c.request("POST", "/api/hello", body=body, headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        r.read()
        results.append(r.status)

    w = threading.Thread(target=watch)
    w.start()
    results = []
    posts = [threading.Thread(target=post, args=(results,)) for _ in range(4)]
    for p in posts:
        p.start()
    for p in posts:
        p.join()
    time.sleep(10)
    stop.set()
    w.join()
    print(f"four 99 MiB bodies at once: statuses {sorted(results)}; host RSS idle {idle:.0f} MiB,"
          f" peak {peak[0]:.0f} MiB, 10 s later {rss_mib(proc.pid):.0f} MiB")
    proc.terminate()
    proc.wait()


{"flood": flood, "bodies": bodies}[MODE]()
