"""DRF glue shared by every app's API: error shape and pagination."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, pagination, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError, InvalidInput

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", 401),
    exceptions.AuthenticationFailed: ("authentication_failed", 401),
    exceptions.PermissionDenied: ("permission_denied", 403),
    exceptions.NotFound: ("not_found", 404),
    exceptions.MethodNotAllowed: ("method_not_allowed", 405),
    exceptions.NotAcceptable: ("not_acceptable", 406),
    exceptions.ParseError: ("parse_error", 400),
    # A body the API cannot read is bad input like any other: 400, not 415.
    exceptions.UnsupportedMediaType: ("unsupported_media_type", 400),
    exceptions.Throttled: ("throttled", 429),
}


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(v) for v in detail)
    return str(detail)


def exception_handler(exc, context):
    """Every error leaves the API as ``{"code", "detail", ...}`` with a proper status."""
    if isinstance(exc, DjangoValidationError):
        exc = InvalidInput.from_django(exc)
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, Http404):
        return Response({"code": "not_found", "detail": "Not found."}, status=404)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            {"code": "invalid", "detail": _flatten(fields), "fields": fields}, status=status.HTTP_400_BAD_REQUEST
        )
    for cls, (code, http_status) in _DRF_CODES.items():
        if isinstance(exc, cls):
            response = drf_exception_handler(exc, context)
            headers = dict(response.items()) if response is not None else {}
            return Response({"code": code, "detail": _flatten(exc.detail)}, status=http_status, headers=headers)
    return drf_exception_handler(exc, context)


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "-id"
