import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from catalog import constants

_http_url = URLValidator(schemes=["http", "https"])
# host, host:port, [v6]:port or a bare telemetry name (letters, digits, dot, dash, underscore).
_ALIAS = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$")


def validate_http_url(value: str) -> None:
    _http_url(value)
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("Credentials are not allowed in URLs.")


def validate_aliases(value) -> None:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ValidationError("Aliases must be a list of strings.")
    if len(value) > constants.MAX_ALIASES:
        raise ValidationError(f"At most {constants.MAX_ALIASES} aliases.")
    for alias in value:
        match = _ALIAS.match(alias)
        port = alias.rsplit(":", 1)[1] if match and ":" in alias and not alias.endswith("]") else None
        if not match or (port is not None and not 0 < int(port) < 65536):
            raise ValidationError(f"'{alias[:80]}' is not a host, host:port or name.")


def validate_path(value: str) -> None:
    if not value.startswith("/") or any(c in value for c in " \r\n\t#"):
        raise ValidationError("Use an absolute path such as /metrics.")


def validate_scopes(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Scopes must be a list.")
    for scope in value:
        if not isinstance(scope, str) or not re.match(
            r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*) /[\x21-\x7e]*$", scope
        ):
            raise ValidationError(f"'{str(scope)[:80]}' is not a scope such as 'GET /orders'.")
