"""Domain errors raised by actions. Every door maps them the same way:
PermissionDenied -> 403, NotFound -> 404, Conflict -> 409, Invalid -> 422."""


class DomainError(Exception):
    status_code = 422

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """The request is well-formed but breaks a domain rule (422)."""


class Conflict(DomainError):
    """The subject's current state does not allow this (409)."""

    status_code = 409


class Forbidden(DomainError):
    """The actor may not do this to this subject (403)."""

    status_code = 403


class NotFound(DomainError):
    status_code = 404
