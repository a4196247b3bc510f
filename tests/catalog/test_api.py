"""REST: permission matrix, limits over HTTP, bad input, query counts."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Api, Service
from core.models import AuditEvent
from teams.models import Membership, Org, Team

ROLES = ["anonymous", "reader", "member", "lead", "orgadmin"]


def _state():
    return (
        list(Org.objects.values_list("slug", "name", "max_members_per_team")),
        list(Team.objects.values_list("slug", "name", "description", "max_members")),
        list(Membership.objects.values_list("team__slug", "user__username", "role")),
        list(Service.objects.values_list("slug", "name", "team__slug", "tier")),
        list(Api.objects.values_list("slug", "name")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def catalog(world):
    from catalog.services import api_create, service_create

    svc = service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")
    api_create(actor=world["root"], provider=svc, slug="orders-v1", name="Orders v1")
    service_create(actor=world["root"], team=world["team"], slug="spare", name="Spare")
    return world


# (method, path, body, roles allowed) -- a refused role gets 401 (anonymous) or 403.
CASES = [
    ("get", "/api/v1/services/", None, {"reader", "member", "lead", "orgadmin"}),
    ("get", "/api/v1/teams/alpha/members/", None, {"reader", "member", "lead", "orgadmin"}),
    ("post", "/api/v1/orgs/", {"slug": "new", "name": "New"}, set()),
    ("patch", "/api/v1/orgs/acme/", {"name": "Renamed"}, {"orgadmin"}),
    ("post", "/api/v1/teams/", {"slug": "gamma", "name": "Gamma", "org": "acme"}, {"orgadmin"}),
    ("patch", "/api/v1/teams/alpha/", {"description": "d"}, {"lead", "orgadmin"}),
    ("patch", "/api/v1/teams/alpha/", {"max_members": 3}, {"orgadmin"}),
    ("delete", "/api/v1/teams/beta/", None, {"orgadmin"}),
    ("post", "/api/v1/teams/alpha/members/", {"username": "reader"}, {"lead", "orgadmin"}),
    ("delete", "/api/v1/teams/alpha/members/member/", None, {"lead", "orgadmin"}),
    ("post", "/api/v1/services/", {"slug": "new-svc", "name": "N", "team": "alpha"}, {"member", "lead", "orgadmin"}),
    ("patch", "/api/v1/services/orders/", {"tier": 1}, {"member", "lead", "orgadmin"}),
    ("delete", "/api/v1/services/spare/", None, {"member", "lead", "orgadmin"}),
    (
        "post",
        "/api/v1/apis/",
        {"slug": "spare-v1", "name": "S", "provider": "spare", "kind": "other"},
        {"member", "lead", "orgadmin"},
    ),
    ("patch", "/api/v1/apis/orders-v1/", {"version": "2"}, {"member", "lead", "orgadmin"}),
    ("get", "/api/v1/audit/", None, {"orgadmin"}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,body,allowed", CASES, ids=[f"{c[0]} {c[1]} {sorted(c[2] or {})}" for c in CASES])
def test_permission_matrix(catalog, api, role, method, path, body, allowed):
    client = api(None if role == "anonymous" else catalog[role])
    before = _state()
    response = getattr(client, method)(path, body, format="json")
    if role in allowed:
        assert response.status_code in (200, 201, 204), response.content
    else:
        assert response.status_code == (401 if role == "anonymous" else 403), response.content
        assert response.json()["code"] in ("not_authenticated", "permission_denied")
        assert _state() == before, "a refused request changed something"


def test_limit_over_http_is_409_with_the_numbers(catalog, api):
    org = catalog["org"]
    org.max_services_per_team = 2
    org.save()
    response = api(catalog["member"]).post(
        "/api/v1/services/", {"slug": "third", "name": "T", "team": "alpha"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "team_limit_exceeded",
        "limit": "services",
        "max": 2,
        "current": 2,
        "detail": "Team 'alpha' is at its limit of 2 services (2 now).",
    }
    assert not Service.objects.filter(slug="third").exists()


def test_transfer_checks_the_receiving_team(catalog, api):
    beta = catalog["other_team"]
    beta.max_services = 1
    beta.save()
    from catalog.services import service_create

    service_create(actor=catalog["root"], team=beta, slug="beta-one", name="B")
    response = api(catalog["root"]).post("/api/v1/services/orders/transfer/", {"team": "beta"}, format="json")
    assert response.status_code == 409 and response.json()["limit"] == "services"
    assert Service.objects.get(slug="orders").team.slug == "alpha"
    ok = api(catalog["root"]).post("/api/v1/services/spare/transfer/", {"team": "alpha"}, format="json")
    assert ok.status_code == 400 and ok.json()["code"] == "same_team"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "No slug", "team": "alpha"}, "slug"),
        ({"slug": "orders", "name": "Dup", "team": "alpha"}, "slug"),
        ({"slug": "x1", "name": "X", "team": "nope"}, "team"),
        ({"slug": "x2", "name": "n" * 201, "team": "alpha"}, "name"),
        ({"slug": "x3", "name": "X", "team": "alpha", "base_url": "ftp://host/"}, "base_url"),
        ({"slug": "x4", "name": "X", "team": "alpha", "base_url": "http://u:p@host/"}, "base_url"),
        ({"slug": "x5", "name": "X", "team": "alpha", "tier": 7}, "tier"),
        ({"slug": "x6", "name": "X", "team": "alpha", "aliases": ["bad alias!"]}, "aliases"),
        ({"slug": "x7", "name": "X", "team": "alpha", "aliases": "not-a-list"}, "aliases"),
        ({"slug": "x8", "name": "X", "team": "alpha", "metrics_path": "metrics"}, "metrics_path"),
    ],
)
def test_bad_service_input_is_400_with_field_errors(catalog, api, body, field):
    before = _state()
    response = api(catalog["member"]).post("/api/v1/services/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert _state() == before


def test_malformed_openapi_is_refused(catalog, api):
    body = {
        "slug": "bad-spec",
        "name": "B",
        "provider": "orders",
        "kind": "openapi",
        "spec": {"openapi": "3.0.3", "info": {"title": "x"}, "paths": {"/a": {"get": {"responses": 5}}}},
    }
    response = api(catalog["member"]).post("/api/v1/apis/", body, format="json")
    assert response.status_code == 400 and "spec" in response.json()["fields"]
    assert not Api.objects.filter(slug="bad-spec").exists()


def test_valid_openapi_is_accepted(catalog, api):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "x", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    body = {"slug": "good-spec", "name": "G", "provider": "orders", "kind": "openapi", "spec": spec}
    assert api(catalog["member"]).post("/api/v1/apis/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "content_type,payload",
    [
        ("application/json", "{not json"),
        ("text/plain", "slug=x"),
        ("application/json", json.dumps([1, 2, 3])),
    ],
)
def test_unreadable_bodies_are_400(catalog, api, content_type, payload):
    response = api(catalog["member"]).generic("POST", "/api/v1/services/", payload, content_type=content_type)
    assert response.status_code == 400, response.content
    assert "code" in response.json()


def test_token_auth(catalog, client):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=catalog["reader"])
    assert client.get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get("/api/v1/teams/", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/services/?page_size=200",
        "/api/v1/teams/?page_size=200",
        "/api/v1/apis/?page_size=200",
        "/api/v1/orgs/?page_size=200",
        "/api/v1/audit/?page_size=200",
    ],
)
def test_list_query_count_does_not_grow_with_rows(world, api, path):
    from catalog.services import api_create, service_create
    from teams.services import org_create, team_create

    client = api(world["root"])

    def grow(n):
        for _ in range(n):
            i = Org.objects.count()
            org = org_create(actor=world["root"], slug=f"o{i}", name=f"O{i}")
            team = team_create(actor=world["root"], org=org, slug=f"t{i}", name=f"T{i}")
            svc = service_create(actor=world["root"], team=team, slug=f"s{i}", name=f"S{i}")
            api_create(actor=world["root"], provider=svc, slug=f"a{i}", name=f"A{i}")

    grow(10)
    small = _queries(client, path)
    grow(90)
    assert _queries(client, path) == small


def test_list_rows_are_the_detail_without_consumes(world, api):
    """The list writes its rows by hand from dicts (catalog.selectors.service_rows), not through
    DRF's fields: each row must be the service's detail without ``consumes``, key for key, value
    for value and in the same order, for a service with every field set and one with none."""
    from catalog.models import System

    system = System.objects.create(team=world["team"], slug="payments", name="Payments")
    Service.objects.create(
        team=world["team"],
        slug="full",
        name="Full ünïcode",
        system=system,
        description="Takes payments.",
        tier=2,
        lifecycle="experimental",
        repository_url="https://git.example.com/full",
        base_url="http://10.0.0.1:8080",
        aliases=["full-old", "fullsvc"],
        metrics_path="/m",
        health_path="/h",
        crawl_enabled=False,
    )
    Service.objects.create(team=world["other_team"], slug="bare", name="Bare")
    client = api(world["reader"])
    listed = client.get("/api/v1/services/?ordering=slug").json()["results"]
    assert [row["slug"] for row in listed] == ["bare", "full"]
    for row in listed:
        detail = client.get(f"/api/v1/services/{row['slug']}/").json()
        detail.pop("consumes")
        assert list(row.items()) == list(detail.items())


def test_openapi_schema_and_docs_are_served_without_cdn(world, api):
    client = api(world["reader"])
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/services/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn." not in html and "unpkg" not in html and "/static/drf_spectacular_sidecar/" in html


def test_the_openapi_document_is_built_once_per_process_and_served_alike(world, api):
    """Found by probing: every request rebuilt it (0.5-0.75 s of CPU; twelve at once took 12 s)."""
    from config.openapi import SchemaView

    SchemaView._built.clear()
    first = api(world["reader"]).get("/api/schema/?format=json")
    assert SchemaView._built  # kept
    again = api(world["member"]).get("/api/schema/?format=json")
    assert again.status_code == 200 and again.json() == first.json()
    assert again["Content-Disposition"] == first["Content-Disposition"]
    assert api(None).get("/api/schema/?format=json").status_code == 401  # still signed in only


def test_declared_dependencies_are_set_with_put_and_a_service_is_never_replaced_whole(world, api):
    from catalog import services as catalog_services

    root, member = world["root"], world["member"]
    orders = catalog_services.service_create(actor=root, team=world["team"], slug="orders", name="Orders")
    catalog_services.api_create(actor=root, provider=orders, slug="orders-v1", name="Orders v1")
    web = catalog_services.service_create(actor=root, team=world["team"], slug="web", name="Web")
    client = api(member)
    response = client.put("/api/v1/services/web/consumes/", {"apis": ["orders-v1"]}, format="json")
    assert response.status_code == 200, response.content
    assert list(web.consumes.values_list("slug", flat=True)) == ["orders-v1"]
    response = client.put("/api/v1/services/web/", {"slug": "web", "name": "Web", "team": "alpha"}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
