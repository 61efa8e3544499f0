"""The service's limits: the request body cap, enforced while the body streams in (not after it
was buffered), and the admission queue of work done one request at a time."""

from __future__ import annotations

import json
import threading

from visionflow.serve.errors import BodyTooLarge, ServeError


class BodyLimit:
    """Pure ASGI middleware: 413 for a declared Content-Length over the cap, before reading a
    byte; for bodies without one (chunked), the read that crosses the cap raises `BodyTooLarge`,
    which the app answers with 413. `paths` gives some routes a cap of their own (video uploads)."""

    def __init__(self, app, max_bytes: int, paths: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            error = BodyTooLarge(limit)
            body = json.dumps(error.body()).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


class WaitQueue:
    """Admission for work done one request at a time (restorations, videos): at most `limit`
    requests waiting or running; `what` names the waiting items in the 503 message."""

    def __init__(self, limit: int, what: str = "requests are waiting"):
        self.limit, self.count, self.what = limit, 0, what
        self.lock = threading.Lock()

    def admit(self) -> None:
        with self.lock:
            if self.count >= self.limit:
                raise ServeError(503, "overloaded", f"{self.count} {self.what}; retry shortly.",
                                 headers={"Retry-After": "1"})
            self.count += 1

    def done(self) -> None:
        with self.lock:
            self.count -= 1
