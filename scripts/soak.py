#!/usr/bin/env python3
"""A bounded soak of `fnwire start` (run by scripts/soak.sh; not part of CI).

For SOAK_SECONDS it drives the hello-rust app with HTTP load, queue traffic (POST /api/enqueue,
picked up by the `work` queue trigger, which writes a blob per message) and its 2-second timer,
while it kills the worker with SIGKILL now and then, kills the host with SIGKILL once and starts
it again, and keeps slow clients (dribbled headers, idle sockets) connected. At the end it
checks: every accepted queue message was processed (nothing lost), no request hung, and the
host's memory and open files came back to their idle range. It prints the figures that
RELIABILITY.md records and exits non-zero when a check fails.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

FNWIRE = sys.argv[1]
SOURCE_APP = sys.argv[2]
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "8"))
PORT = int(os.environ.get("SOAK_PORT", "7391"))
# A request without an answer for this long counts as hung.
HUNG_AFTER = 30.0

storage = tempfile.mkdtemp(prefix="fnwire-soak-")
env = dict(os.environ, FNWIRE_STORAGE_DIR=os.path.join(storage, "store"),
           FNWIRE_BLOB_DIR=os.path.join(storage, "blobs"), NO_COLOR="1", RUST_LOG="warn")
log_path = os.path.join(storage, "fnwire.log")
log = open(log_path, "ab")


def packed_app():
    """The app packed into the soak's folder, its host.json letting the worker fail as often as
    the soak kills it: by default fnwire gives up (and exits) after 3 worker failures in 30
    minutes, which a 10-minute soak with a kill every minute passes on purpose. Giving up is
    tested in the host's suite; the soak measures what happens across the restarts."""
    app = os.path.join(storage, "app")
    extra = os.environ.get("SOAK_FNWIRE_ARGS", "").split()
    subprocess.run([FNWIRE, "pack", SOURCE_APP, "--out", app, *extra], check=True, stdout=log,
                   stderr=subprocess.STDOUT)
    host_json_path = os.path.join(app, "host.json")
    with open(host_json_path) as f:
        host_json = json.load(f)
    host_json.setdefault("extensions", {}).setdefault("fnwire", {})["maxWorkerFailures"] = 1000
    with open(host_json_path, "w") as f:
        json.dump(host_json, f, indent=2)
    return app


APP = packed_app()
stop = threading.Event()
lock = threading.Lock()
statuses = Counter()
latencies = []
hung = []
accepted_jobs = set()
down = threading.Event()  # the host is being killed and restarted: refused connections expected


def start_host():
    extra = os.environ.get("SOAK_FNWIRE_ARGS", "").split()
    proc = subprocess.Popen([FNWIRE, "start", APP, "--port", str(PORT), *extra], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            c.request("GET", "/api/hello")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit(f"fnwire exited during start; see {log_path}")
        time.sleep(0.2)
    sys.exit("fnwire did not start within 600 s")


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def record(status, seconds):
    with lock:
        statuses[status] += 1
        latencies.append(seconds)


def http_client(n):
    conn = None
    i = 0
    while not stop.is_set():
        i += 1
        path = f"/api/hello?name=c{n}-{i}"
        started = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=HUNG_AFTER)
            if i % 10 == 0:
                body = f"job-{n}-{i}"
                conn.request("POST", "/api/enqueue", body=body)
                r = conn.getresponse()
                r.read()
                if r.status == 202:
                    with lock:
                        accepted_jobs.add(body)
            else:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
            record(r.status, time.time() - started)
        except socket.timeout:
            with lock:
                hung.append(path)
            conn = None
        except OSError as e:
            conn = None
            record("down" if down.is_set() else f"error:{type(e).__name__}", time.time() - started)
            time.sleep(0.05)


def slow_clients():
    """Idle sockets and header dribblers, replaced as the host closes them."""
    socks = []
    while not stop.is_set():
        socks = [s for s in socks if s.fileno() != -1]
        while len(socks) < 40:
            try:
                s = socket.create_connection(("127.0.0.1", PORT), timeout=1)
                if len(socks) % 2 == 0:
                    s.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                break
        for s in socks[1::2]:
            try:
                s.sendall(b"X")
            except OSError:
                s.close()
        time.sleep(2)
    for s in socks:
        s.close()


def main():
    host = start_host()
    time.sleep(3)
    idle_rss, idle_fds = rss_kib(host.pid), open_files(host.pid)
    print(f"idle host: {idle_rss} KiB resident, {idle_fds} open files")
    threads = [threading.Thread(target=http_client, args=(n,)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=slow_clients))
    for t in threads:
        t.start()
    started = time.time()
    worker_kills = 0
    host_restarted = False
    peak_rss = idle_rss
    while time.time() - started < SECONDS:
        time.sleep(5)
        elapsed = time.time() - started
        peak_rss = max(peak_rss, rss_kib(host.pid))
        if int(elapsed) % 60 < 5 and elapsed > 30:
            for pid in children(host.pid):
                os.kill(pid, signal.SIGKILL)
                worker_kills += 1
        if not host_restarted and elapsed > SECONDS / 2:
            down.set()
            os.killpg(host.pid, signal.SIGKILL)
            host.wait()
            host = start_host()
            down.clear()
            host_restarted = True
    stop.set()
    for t in threads:
        t.join()
    # Wait for the queue to drain: every accepted job becomes a blob (at least once).
    blobs = os.path.join(storage, "blobs", "done")
    deadline = time.time() + 120
    processed = Counter()
    while time.time() < deadline:
        processed = Counter()
        if os.path.isdir(blobs):
            for name in os.listdir(blobs):
                with open(os.path.join(blobs, name)) as f:
                    processed[f.read().strip()] += 1
        if all(job.upper() in processed for job in accepted_jobs):
            break
        time.sleep(1)
    time.sleep(10)
    exited = host.poll()
    end_rss, end_fds = rss_kib(host.pid), open_files(host.pid)
    host.send_signal(signal.SIGTERM)
    host.wait(timeout=30)
    lost = sorted(j for j in accepted_jobs if j.upper() not in processed)
    ticks = sum(1 for line in open(log_path, errors="replace") if "Executed 'tick'" in line)
    ordered = sorted(latencies)
    pct = lambda p: ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0
    figures = {
        "seconds": SECONDS, "clients": CLIENTS, "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "latency_ms": {"p50": round(pct(0.5), 2), "p99": round(pct(0.99), 2), "max": round(pct(1.0), 2)},
        "hung": len(hung), "worker_kills": worker_kills, "host_kill_restart": host_restarted,
        "queue": {"accepted": len(accepted_jobs), "processed": len(processed), "lost": len(lost),
                  "delivered_more_than_once": sum(1 for c in processed.values() if c > 1)},
        "timer_ticks": ticks,
        "host_rss_kib": {"idle": idle_rss, "peak": peak_rss, "end": end_rss},
        "host_open_files": {"idle": idle_fds, "end": end_fds},
    }
    print(json.dumps(figures, indent=2))
    failures = []
    if exited is not None:
        failures.append(f"the host exited during the soak (status {exited}); see {log_path}")
    if lost:
        failures.append(f"{len(lost)} accepted queue messages never processed, e.g. {lost[:3]}")
    if hung:
        failures.append(f"{len(hung)} requests got no answer within {HUNG_AFTER} s")
    if end_fds > idle_fds + 16:
        failures.append(f"open files did not come back: {end_fds} at the end, {idle_fds} idle")
    if end_rss > 2 * idle_rss + 32 * 1024:
        failures.append(f"memory did not come back: {end_rss} KiB at the end, {idle_rss} KiB idle")
    if ticks == 0:
        failures.append("the timer never ran")
    for f in failures:
        print("FAILED:", f)
    print(f"log and store: {storage}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
