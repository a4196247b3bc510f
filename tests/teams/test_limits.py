"""Limit arithmetic and scope syntax: pure, on unsaved objects (make test-unit)."""

import pytest
from django.core.exceptions import ValidationError

from catalog.validators import validate_scopes
from core.errors import InvalidInput
from teams.models import Org, Team
from teams.services import team_check_limits_within_org

pytestmark = pytest.mark.unit


def team(max_members=None, max_services=None, *, org_members=10, org_services=8):
    org = Org(slug="acme", name="Acme", max_members_per_team=org_members, max_services_per_team=org_services)
    return Team(org=org, slug="alpha", name="Alpha", max_members=max_members, max_services=max_services)


@pytest.mark.parametrize(
    "own,org,effective",
    [(None, 10, 10), (5, 10, 5), (10, 10, 10), (12, 10, 10), (3, 2, 2)],  # the org lowered after the team set 12, 3
)
def test_a_teams_own_limit_only_lowers_the_orgs(own, org, effective):
    assert team(max_members=own, org_members=org).effective_max_members == effective
    assert team(max_services=own, org_services=org).effective_max_services == effective


def test_a_team_limit_above_the_orgs_maximum_is_refused_with_the_numbers():
    team_check_limits_within_org(team(max_members=10, max_services=8))  # equal is fine
    with pytest.raises(InvalidInput) as exc:
        team_check_limits_within_org(team(max_services=9))
    assert exc.value.code == "limit_above_org_maximum"
    assert "at most 8 services" in str(exc.value)


@pytest.mark.parametrize("scopes", [[], ["GET /orders"], ["* /"], ["POST /orders/", "DELETE /orders/1"]])
def test_scopes_of_a_method_and_an_absolute_path_are_accepted(scopes):
    validate_scopes(scopes)


@pytest.mark.parametrize(
    "scopes",
    [
        "GET /orders",
        ["get /orders"],
        ["GET orders"],
        ["GET /a b"],
        ["FETCH /x"],
        [1],
        # paths the gateway cannot normalise, so the scope would admit nothing (found by probing)
        ["GET /%zz"],
        ["GET /a/../.."],
        ["* /..;/admin"],
    ],
)
def test_other_scopes_are_refused(scopes):
    with pytest.raises(ValidationError):
        validate_scopes(scopes)
