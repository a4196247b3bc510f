"""Validators with no app knowledge, used by the models of several apps (and frozen in their migrations)."""

from urllib.parse import SplitResult, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_http_url = URLValidator(schemes=["http", "https"])


def split_url(url: str) -> SplitResult:
    """``urlsplit`` with what it leaves unchecked refused (ValueError): a malformed IPv6 literal,
    a port that is not a number from 1 to 65535 (``.port`` would raise later, as a 500; Django's
    URLValidator lets any five digits through)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("the URL's host or port is malformed (a port is a number from 1 to 65535)")
    return parts


def validate_http_url(value: str) -> None:
    """An http(s) URL with a real port (if any) and without credentials in it."""
    _http_url(value)
    try:
        parts = split_url(value)
    except ValueError as exc:
        message = str(exc)
        raise ValidationError(message[:1].upper() + message[1:] + ".") from None
    if parts.username or parts.password:
        raise ValidationError("Credentials are not allowed in URLs.")
