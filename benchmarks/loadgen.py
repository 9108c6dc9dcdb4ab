"""A small HTTP/1.1 load generator on asyncio streams (keep-alive, no pipelining).

httpx costs more CPU than the server it measures on 2 cores (see ../shared/ENVIRONMENT.md §5), so this
client writes pre-built request bytes and reads responses by Content-Length. Bounded by request count
and by time. Used by benchmarks/api_load.py; standard library only.

Two modes. Closed loop (default): each connection sends its next request as soon as the previous answer
arrives, which finds the maximum throughput; latency then is mostly queueing behind the other connections.
Fixed rate (``rate=R``, open loop, as wrk2 does): requests are due at R per second in total, spread over the
connections, and each latency is measured from when its request was *due*, so a server that falls behind
is charged for the wait (no coordinated omission). This answers "what is p99 while serving R per second".
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def build_request(method: str, path: str, host: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
            break
    if length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, requests: Sequence[bytes], counter: itertools.count, total: int,
                  deadline: float, latencies: list[float], statuses: dict[int, int],
                  schedule: tuple[float, float] | None = None) -> None:
    """``schedule`` = (first due time, seconds between this connection's requests) for a fixed rate."""
    reader, writer = await asyncio.open_connection(host, port)
    due = schedule[0] if schedule else 0.0
    try:
        while time.perf_counter() < deadline:
            i = next(counter)
            if i >= total:
                break
            if schedule:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                start, due = due, due + schedule[1]
            else:
                start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(name: str, host: str, port: int, requests: Sequence[bytes], total: int, seconds: float,
               concurrency: int, rate: float | None) -> LoadResult:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = itertools.count()
    start = time.perf_counter()
    period = concurrency / rate if rate else 0.0  # each connection's share of the rate
    await asyncio.gather(*[
        _worker(host, port, requests, counter, total, start + seconds, latencies, statuses,
                (start + period * k / concurrency, period) if rate else None)
        for k in range(concurrency)
    ])
    elapsed = time.perf_counter() - start
    errors = sum(n for s, n in statuses.items() if s >= 400)
    return LoadResult(name, len(latencies), errors, elapsed, tuple(latencies), statuses)


def run_load(name: str, host: str, port: int, requests: Sequence[bytes], *, total: int, seconds: float,
             concurrency: int = 16, rate: float | None = None) -> LoadResult:
    """Send up to ``total`` requests (cycling through ``requests``) for at most ``seconds``; closed loop, or
    at a fixed ``rate`` per second (see the module docstring)."""
    try:
        import uvloop  # same event loop family as the server, if installed

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_run(name, host, port, requests, total, seconds, concurrency, rate))
