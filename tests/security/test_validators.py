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
