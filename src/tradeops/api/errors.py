"""API errors: one exception type per HTTP status, rendered as ``{"error": {code, message, fields}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An error the API answers with ``status``; ``fields`` maps a request field to its problem (400)."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, fields: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = dict(fields or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.fields)


class BadRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """A dependency (DynamoDB, EventBridge, Cognito) did not answer: retry later."""

    status = 503
    code = "unavailable"


def error_body(code: str, message: str, fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}
