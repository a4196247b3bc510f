"""Domain errors raised by services and selectors. Every entry point (REST, GraphQL,
portal forms, admin, commands) turns them into its own shape from these fields alone:
a machine-readable ``code``, a human ``detail``, an HTTP ``status`` and optional extras."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError


class DomainError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, fields: dict | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra

    def as_dict(self) -> dict:
        data = {"code": self.code, "detail": self.detail, **self.extra}
        if self.fields:
            data["fields"] = self.fields
        return data


class InvalidInput(DomainError):
    code = "invalid"
    status = 400

    @classmethod
    def from_django(cls, exc: DjangoValidationError) -> InvalidInput:
        if hasattr(exc, "error_dict"):
            fields = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
            return cls(detail, fields=fields)
        return cls(" ".join(exc.messages))


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class TeamLimitExceeded(Conflict):
    code = "team_limit_exceeded"

    def __init__(self, *, team, limit: str, maximum: int, current: int):
        noun = "members" if limit == "members" else "services"
        super().__init__(
            f"Team '{team.slug}' is at its limit of {maximum} {noun} ({current} now).",
            limit=limit,
            max=maximum,
            current=current,
        )


class TooManyRequests(DomainError):
    """429; ``retry_after`` (seconds) is sent as the Retry-After header and in the body."""

    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code, retry_after=retry_after)


class ServiceUnavailable(DomainError):
    code = "unavailable"
    status = 503
