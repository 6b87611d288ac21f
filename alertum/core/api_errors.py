"""Map domain errors to REST responses (kept apart from authentication: DRF imports
the authentication classes while rest_framework.views is still loading)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from alertum.core.errors import DomainError


def exception_handler(exc, context):
    """DomainError -> its status with {"detail", "field"}; Django ValidationError -> 422."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": "invalid input", "errors": exc.message_dict if hasattr(exc, "error_dict")
                         else exc.messages}, status=422)
    return drf_exception_handler(exc, context)
