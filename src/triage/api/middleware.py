"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path): body size limit and timing."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def header(raw_headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of the header ``name`` (lower-case, as ASGI gives names) or None."""
    return next((value for key, value in raw_headers if key == name), None)


async def read_ahead(receive: Receive, max_bytes: int) -> tuple[list[Message], bool]:
    """Receive a request's messages up to the end of its body, a message that is not body, or past
    ``max_bytes`` of body; returns them (to be replayed) and whether the body went over the limit."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > max_bytes:
            return messages, True
        if not message.get("more_body", False):
            return messages, False


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` again, then what ``receive`` gives."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _problem_bytes(status: int, title: str, detail: str) -> bytes:
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()


class BodyLimit:
    """Reject bodies over ``max_bytes`` with 413: by Content-Length up front (the server then holds the body
    to that length), or, for a body sent without a length (chunked), by reading it ahead up to the limit.

    Raising from inside ``receive`` instead would not do: the framework turns any error while it reads a
    body into a generic 400."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = header(scope["headers"], b"content-length")
        declared = None if length is None else int(length) if length.isdigit() else 0
        chunked = header(scope["headers"], b"transfer-encoding") is not None
        if declared is not None and declared > self.max_bytes:
            await self._reject(send)
            return
        if declared is not None or not chunked:  # no body, or the server holds it to its declared length
            await self.app(scope, receive, send)
            return
        messages, over = await read_ahead(receive, self.max_bytes)
        if over:
            await self._reject(send)
            return
        await self.app(scope, replay(messages, receive), send)

    async def _reject(self, send: Send) -> None:
        body = _problem_bytes(413, "Content Too Large", f"request body exceeds {self.max_bytes} bytes")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Timing:
    """Observe each request's latency and status into the metrics, labelled by route template."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, str, int, float], None]) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.observe(scope.get("method", ""), path, status, time.perf_counter() - start)
