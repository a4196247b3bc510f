"""DRF glue shared by every app's API: error shape, the bounded JSON parser and pagination."""

import logging

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, pagination, parsers, status
from rest_framework.response import Response

from core import jsonlimits
from core.errors import DomainError, InvalidInput

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
    # Imported here, not at the top: rest_framework.views reads DEFAULT_PARSER_CLASSES (this
    # module's JSONParser) while it loads, so a top-level import is a cycle whenever this module
    # is imported first (e.g. by the DRF pagination system check).
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        exc = InvalidInput.from_django(exc)
    if isinstance(exc, RecursionError):
        # Only input nested past the interpreter's stack gets here (anything else that parses
        # JSON is bounded by JSON_MAX_DEPTH first): bad input, not a server error.
        logger.warning("RecursionError while handling %s", context.get("request") and context["request"].path)
        exc = jsonlimits.JsonTooDeep(jsonlimits.max_depth())
    if isinstance(exc, RequestDataTooBig):
        detail = f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        return Response({"code": "body_too_large", "detail": detail}, status=413)
    if isinstance(exc, TooManyFieldsSent):
        detail = f"The body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
        return Response({"code": "too_many_fields", "detail": detail}, status=400)
    if isinstance(exc, DataError):
        # A value the database cannot store (a NUL character in a form field or query parameter
        # the parsers did not see, a number out of range): the client's input, not a server bug.
        logger.warning("DataError answered as 400: %s", type(exc).__name__)
        detail = "A value cannot be stored as given (a NUL character or an out-of-range number)."
        return Response({"code": "invalid_value", "detail": detail}, status=400)
    if isinstance(exc, DomainError):
        retry_after = exc.extra.get("retry_after")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(exc.as_dict(), status=exc.status, headers=headers)
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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than JSON_MAX_DEPTH (400 json_too_deep)
    and strings with a NUL character (400 nul_character) or a lone surrogate (400
    surrogate_character)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise jsonlimits.JsonTooDeep(jsonlimits.max_depth()) from None
        jsonlimits.check_depth(data, storable=True)
        return data


class CursorInvalid(InvalidInput):
    code = "cursor_invalid"


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "-id"
    invalid_cursor_message = "The cursor is not one this list handed out; start again without it."

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """A cursor is opaque but comes from the client: anything this list did not hand out
        (undecodable, or a position that is not a value of the ordering field) is a 400
        ``cursor_invalid``, never a database error."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise CursorInvalid(self.invalid_cursor_message) from None
        if cursor is None or cursor.position is None:
            return cursor
        try:
            field = self._ordering_field()
            field.run_validators(field.to_python(cursor.position))
        except (DjangoValidationError, FieldDoesNotExist, TypeError, ValueError, OverflowError):
            raise CursorInvalid(self.invalid_cursor_message) from None
        return cursor

    def _ordering_field(self):
        model = self._model
        names = self.ordering[0].lstrip("-").split("__")
        for name in names[:-1]:
            model = model._meta.get_field(name).related_model
        return model._meta.get_field(names[-1])


def not_found(request, exception=None):
    """handler404: a path under /api/ that no route matches answers in the API's error shape
    (JSON, like every other API error); everything else gets Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
