"""Validators with no app knowledge, used by the models of several apps (and frozen in their migrations)."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_http_url = URLValidator(schemes=["http", "https"])


def validate_http_url(value: str) -> None:
    """An http(s) URL with a real port (if any) and without credentials in it."""
    _http_url(value)
    parts = urlsplit(value)
    try:
        port = parts.port  # URLValidator lets any five digits through
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError("The port must be a number from 1 to 65535.")
    if parts.username or parts.password:
        raise ValidationError("Credentials are not allowed in URLs.")
