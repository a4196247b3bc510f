"""Validators accept exactly their syntax: a trailing newline (which a regex's "$" lets
through) is refused in slugs, aliases and scopes."""

import pytest
from django.core.exceptions import ValidationError

from catalog.validators import validate_aliases, validate_scopes
from teams.models import slug_validator

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        (slug_validator, "orders", "orders\n"),
        (lambda v: validate_aliases([v]), "orders.internal:8080", "orders.internal:8080\n"),
        (lambda v: validate_scopes([v]), "GET /orders", "GET /orders\n"),
    ],
)
def test_a_trailing_newline_is_refused(validator, good, bad):
    validator(good)
    with pytest.raises(ValidationError):
        validator(bad)


@pytest.mark.parametrize(
    "bad", ["ftp://host/", "http://u:p@host/", "http://u@host/", "javascript:alert(1)", "http://host/\n"]
)
def test_http_url_refuses_other_schemes_and_credentials(bad):
    """core.validators.validate_http_url guards catalog's service URLs and graph's tracing sources."""
    from catalog.models import Service
    from core.validators import validate_http_url
    from graph.models import TracingSource

    validate_http_url("https://tracing.internal:9411/")
    with pytest.raises(ValidationError):
        validate_http_url(bad)
    for model, field in ((TracingSource, "base_url"), (Service, "base_url"), (Service, "repository_url")):
        assert validate_http_url in model._meta.get_field(field).validators
