"""Validators with no app knowledge, used by the models of several apps (and frozen in their migrations)."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_http_url = URLValidator(schemes=["http", "https"])


def validate_http_url(value: str) -> None:
    """An http(s) URL without credentials in it."""
    _http_url(value)
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("Credentials are not allowed in URLs.")
