"""The request body cap, enforced while the body streams in (not after it was buffered)."""

from __future__ import annotations

import json

from visionflow.serve.errors import BodyTooLarge


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
