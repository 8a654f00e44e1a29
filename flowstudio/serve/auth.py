"""Checks every request passes before it reaches a route: the API key (when one is set) and the body size.

A pure ASGI middleware (not `BaseHTTPMiddleware`), so streamed responses and disconnects pass through
untouched. The key is compared in constant time.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from .errors import error_body

DEFAULT_MAX_BODY = 4 * 1024 * 1024
OPEN_PATHS = ("/health",)


class GuardMiddleware:
    def __init__(self, app: Any, api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.api_key = api_key or None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.api_key is not None and not self._authorised(headers.get(b"authorization", b"")):
            await _reply(send, 401, error_body("Incorrect API key provided: send `Authorization: Bearer KEY` with "
                                               "the key given to `flowstudio serve --api-key`",
                                               code="invalid_api_key"), {"www-authenticate": "Bearer"})
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _reply(send, 413, error_body(f"The request body is over the server's limit of "
                                               f"{self.max_body_bytes} bytes", code="request_too_large"))
            return
        if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            receive = self._limited(receive)
        await self.app(scope, receive, send)

    def _authorised(self, header: bytes) -> bool:
        scheme, _, token = header.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def _limited(self, receive: Any) -> Any:
        seen = [0]

        async def wrapped() -> dict[str, Any]:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_body_bytes:  # a chunked body over the limit: end the request
                return {"type": "http.disconnect"}
            return message

        return wrapped


async def _reply(send: Any, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
