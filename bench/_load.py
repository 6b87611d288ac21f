"""A small keep-alive HTTP/1.1 load generator on asyncio streams: an exact number of
requests over N connections, each request built by a function of its index. (wrk is
used where a fixed request suffices; this is for varied bodies and exact counts.)"""

import asyncio
import time


async def _connection(host, port, requests, make, results):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for index in requests:
            method, path, body = make(index)
            head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode()
            started = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            await reader.readexactly(length)
            if close:  # gunicorn's sync workers answer one request per connection
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            results.append((index, int(status_line.split()[1]), (time.perf_counter() - started) * 1000,
                            time.time()))
    finally:
        writer.close()


async def _run(host, port, make, total, concurrency):
    results = []
    shares = [range(i, total, concurrency) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, share, make, results) for share in shares))
    return results, time.perf_counter() - started


def run(host: str, port: int, make, total: int, concurrency: int = 16):
    """Returns ([(index, status, latency_ms, finished_epoch)], elapsed_seconds)."""
    return asyncio.run(_run(host, port, make, total, concurrency))
