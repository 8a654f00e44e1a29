"""The FastAPI app: routes, the guard middleware, and OpenAI-shaped errors for everything that fails."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from .auth import DEFAULT_MAX_BODY, GuardMiddleware
from .errors import APIError, error_body
from .pool import ModelPool
from .routes import DEFAULT_MAX_TOKENS, build_router


def build_app(pool: ModelPool, *, api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY,
              default_max_tokens: int = DEFAULT_MAX_TOKENS, on_ready: Callable[[], None] | None = None) -> Any:
    """An ASGI app answering the OpenAI API for the names in `pool` (load them first: `pool.load_all()`)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        if on_ready is not None:
            on_ready()
        yield

    app = FastAPI(title="FlowStudio OpenAI-compatible server", lifespan=lifespan)
    app.include_router(build_router(pool, default_max_tokens))

    @app.exception_handler(APIError)
    async def api_error(request: Any, err: APIError) -> Any:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, err: RequestValidationError) -> Any:
        problems = err.errors()
        first = problems[0] if problems else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
                            for e in problems[:5]) or "invalid request"
        return JSONResponse(error_body(message, code="invalid_value", param=param), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, err: HTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code)
        return JSONResponse(error_body(str(err.detail), code=code), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def crashed(request: Any, err: Exception) -> Any:
        return JSONResponse(error_body(f"{type(err).__name__}: {err}", "server_error"), status_code=500)

    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=max_body_bytes)
    return app
