"""A small HTTP load loop for comparing workers under `fnwire start`: N keep-alive connections
send GET requests for D seconds; prints requests per second. Measures, never asserts.

    python bench_http.py http://127.0.0.1:7072/api/empty --connections 16 --seconds 10
"""

import argparse
import asyncio
import time
import urllib.parse


async def client(host: str, port: int, path: str, deadline: float, counts: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = 0
    while time.monotonic() < deadline:
        writer.write(request)
        status = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        if not status.startswith(b"HTTP/1.1 200"):
            errors.append(status)
        done += 1
    counts.append(done)
    writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    for seconds, report in ((args.warmup, False), (args.seconds, True)):
        counts: list = []
        errors: list = []
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(
            *(client(url.hostname, url.port, path, deadline, counts, errors) for _ in range(args.connections))
        )
        elapsed = time.monotonic() - start
        if report:
            total = sum(counts)
            print(f"{args.url}: {total} requests in {elapsed:.1f} s = {total / elapsed:.0f} req/s "
                  f"({args.connections} connections, {len(errors)} non-200)")


asyncio.run(main())
