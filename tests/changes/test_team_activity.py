"""A team's activity panel: its events newest first, within the orgs the reader may read."""

import pytest

from catalog import services as catalog
from teams import services as teams

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(root, django_user_model):
    org = teams.org_create(actor=root, slug="acme", name="Acme")
    other_org = teams.org_create(actor=root, slug="umbrella", name="Umbrella")
    team = teams.team_create(actor=root, org=org, slug="checkout", name="Checkout")
    other = teams.team_create(actor=root, org=org, slug="search", name="Search")
    catalog.service_create(actor=root, team=team, slug="cart", name="Cart")
    catalog.service_create(actor=root, team=other, slug="finder", name="Finder")
    member = django_user_model.objects.create_user("mia", password="pw-12345678")
    teams.member_add(actor=root, team=team, user=member, role="member")
    outsider_team = teams.team_create(actor=root, org=other_org, slug="labs", name="Labs")
    outsider = django_user_model.objects.create_user("otto", password="pw-12345678")
    teams.member_add(actor=root, team=outsider_team, user=outsider, role="member")
    return {"team": team, "member": member, "outsider": outsider}


def test_the_panel_lists_the_teams_own_events_newest_first(client, world, root):
    catalog.service_update(actor=root, service=catalog_service("cart"), tier=1)
    client.force_login(world["member"])
    html = client.get("/teams/checkout/activity/").content.decode()
    assert html.index("service.updated") < html.index("service.created")  # newest first
    assert "cart" in html and "changed: tier" in html
    assert "finder" not in html  # another team's service


def test_a_reader_outside_the_org_sees_none_and_an_unknown_team_is_404(client, world):
    client.force_login(world["outsider"])
    html = client.get("/teams/checkout/activity/").content.decode()
    assert "No events you may read yet." in html and "service.created" not in html
    assert client.get("/teams/nobody/activity/").status_code == 404


def test_the_team_page_loads_the_panel_when_scrolled_to(client, world):
    client.force_login(world["member"])
    html = client.get("/teams/checkout/").content.decode()
    assert 'hx-get="/teams/checkout/activity/" hx-trigger="revealed"' in html


def catalog_service(slug):
    from catalog.models import Service

    return Service.objects.get(slug=slug)
