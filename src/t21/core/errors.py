"""The errors T21 raises on purpose, and the one shape they take on the wire (RFC 9457).

Domain errors subclass `T21Error` (in their domain's `errors.py`); `core.problems` renders them.
Services raise these, never `HTTPException`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

ERROR_TYPE_BASE = "https://t21.app/errors/"


class ConfigError(Exception):
    """The configuration can't run: each line names a setting and what is wrong with it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class T21Error(Exception):
    """An error with a stable machine-readable `code`, an HTTP status and a human `detail`."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.detail = detail or self.title
        self.errors = [dict(error) for error in errors] if errors else None
        self.headers = dict(headers) if headers else {}
        self.extensions = extensions
        super().__init__(self.detail)

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body of this error."""
        body: dict[str, Any] = {
            "type": ERROR_TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        for key, value in self.extensions.items():
            body.setdefault(key, value)
        return body


class BadRequest(T21Error):
    status = 400
    code = "bad_request"
    title = "Bad request"


class NotAuthenticated(T21Error):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = {"WWW-Authenticate": "Bearer", **dict(kwargs.pop("headers", None) or {})}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(T21Error):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(T21Error):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(T21Error):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(T21Error):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(T21Error):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(T21Error):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ValidationFailed(T21Error):
    status = 422
    code = "validation_error"
    title = "Validation error"


class QuotaExceeded(T21Error):
    status = 402
    code = "quota_exceeded"
    title = "Quota exceeded"


class PlanRequired(T21Error):
    status = 402
    code = "plan_required"
    title = "Plan required"


class RateLimited(T21Error):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None, **kwargs: Any) -> None:
        self.retry_after = max(1, retry_after)
        headers = {"Retry-After": str(self.retry_after), **dict(kwargs.pop("headers", None) or {})}
        super().__init__(
            detail or f"Too many requests; retry in {self.retry_after} s.",
            headers=headers,
            **kwargs,
        )


class UpstreamError(T21Error):
    status = 502
    code = "upstream_error"
    title = "Upstream error"


class Unavailable(T21Error):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


class UpstreamTimeout(T21Error):
    status = 504
    code = "upstream_timeout"
    title = "Upstream timeout"


class InternalError(T21Error):
    """What a client sees of an unexpected failure: nothing but the request id."""

    status = 500
    code = "internal_error"
    title = "Internal server error"
