"""OpenAI-shaped errors: `{"error": {"message", "type", "code", "param"}}` with the matching HTTP status."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


def model_not_found(name: str, known: list[str]) -> APIError:
    return APIError(404, f"The model {name!r} does not exist. Served models: {', '.join(known) or '(none)'}",
                    code="model_not_found", param="model")


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, code=code, param=param)


def unsupported(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, code="unsupported", param=param)
