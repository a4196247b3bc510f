"""Forms that say what happens before it happens: a full team on the service form, removing a
team's only lead, deleting services and APIs from the portal (same 403/409 rules as the API)."""

import json
import re

from django.test import Client

from catalog import services as catalog_services
from catalog.models import Api, Service
from teams.models import Membership

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "A", "version": "1"},
    "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


def test_service_form_knows_which_teams_are_full(world, client):
    from teams.models import Team

    Team.objects.filter(slug="beta").update(max_services=1)
    catalog_services.service_create(actor=world["root"], team=world["other_team"], slug="web", name="Web")
    client.force_login(world["root"])
    page = client.get("/services/new/").content.decode()
    data = json.loads(re.search(r'<script id="team-limits" type="application/json">(.*?)</script>', page).group(1))
    beta = world["other_team"]
    assert data == {str(beta.pk): {"slug": "beta", "org": "acme", "max": 1, "current": 1, "url": "/teams/beta/"}}
    refused = client.post(
        "/services/new/",
        {
            "team": beta.pk,
            "slug": "api2",
            "name": "Api2",
            "tier": 3,
            "lifecycle": "production",
            "metrics_path": "/metrics",
            "health_path": "/healthz",
        },
    )
    assert refused.status_code == 400 and "at its limit of 1 services" in refused.content.decode()
    assert 'id="team-limits"' in refused.content.decode() and not Service.objects.filter(slug="api2").exists()


def test_removing_a_teams_only_lead_asks_first(world, client):
    client.force_login(world["orgadmin"])
    asked = client.post("/teams/alpha/members/lead/remove/")
    assert asked.status_code == 200 and 'id="only-lead"' in asked.content.decode()
    assert 'name="confirm" value="yes"' in asked.content.decode()
    assert Membership.objects.filter(team=world["team"], user=world["lead"]).exists()
    # A plain member goes without a question.
    assert client.post("/teams/alpha/members/member/remove/").status_code == 302
    assert not Membership.objects.filter(team=world["team"], user=world["member"]).exists()
    # Confirmed, the only lead goes.
    assert client.post("/teams/alpha/members/lead/remove/", {"confirm": "yes"}).status_code == 302
    assert not Membership.objects.filter(team=world["team"], user=world["lead"]).exists()
    # Someone who may not remove members is refused as before, not asked.
    client.force_login(world["reader"])
    refused = client.post("/teams/beta/members/other/remove/", follow=True)
    assert "only-lead" not in refused.content.decode() and "Only the team" in refused.content.decode()
    assert Membership.objects.filter(team=world["other_team"], user=world["other"]).exists()


def test_services_and_apis_are_deleted_from_the_portal_with_the_apis_rules(world, client):
    root = world["root"]
    svc = catalog_services.service_create(actor=root, team=world["team"], slug="orders", name="Orders")
    catalog_services.api_create(actor=root, provider=svc, slug="orders-v1", name="O", kind="openapi", spec=SPEC)
    client.force_login(world["reader"])
    assert client.post("/services/orders/delete/").status_code == 403
    assert client.post("/apis/orders-v1/delete/").status_code == 403
    client.force_login(world["member"])
    page = client.get("/services/orders/delete/")
    assert page.status_code == 200 and "It provides API orders-v1" in page.content.decode()
    blocked = client.post("/services/orders/delete/")
    assert blocked.status_code == 409 and "still provides APIs" in blocked.content.decode()
    assert Service.objects.filter(slug="orders").exists()
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(world["member"])
    assert csrf.post("/apis/orders-v1/delete/").status_code == 403 and Api.objects.filter(slug="orders-v1").exists()
    gone = client.post("/apis/orders-v1/delete/")
    assert gone.status_code == 302 and gone.url == "/apis/" and not Api.objects.filter(slug="orders-v1").exists()
    done = client.post("/services/orders/delete/", follow=True)
    assert done.redirect_chain == [("/services/", 302)] and "Service orders deleted." in done.content.decode()
    assert not Service.objects.filter(slug="orders").exists()
    assert client.post("/services/orders/delete/").status_code == 404
