"""Issue 10, item 7 and weak spots: alias hijack, forged edges from a service's own
/metrics, who may start a crawl, team limits within the org's maxima, GraphQL addMember
and revokeKey answering as REST does. Real Neo4j, Redis and HTTP listeners on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from catalog.models import ApiKey, Service
from core.errors import Conflict, PermissionDenied
from core.models import AuditEvent
from graph import db
from graph import services as graph_services
from graph.discovery.matching import CatalogIndex, ServiceRef
from graph.discovery.parse import RawCall
from graph.models import CrawlRun, TracingSource
from teams import permissions
from teams.models import Membership, Org, Team


def gql(client, token, query, variables=None):
    response = client.post(
        "/graphql",
        json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 200, response.content
    return response.json()


def gql_error(body) -> dict:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]


@pytest.fixture
def teams_ab(world):
    """Team A (alpha) owns 'orders' at orders.internal:8080; team B (beta, led by 'other')
    owns 'shop' with an alias of its own."""
    root = world["root"]
    orders = catalog_services.service_create(
        actor=root,
        team=world["team"],
        slug="orders",
        name="Orders",
        base_url="http://orders.internal:8080",
        aliases=["orders-legacy"],
    )
    shop = catalog_services.service_create(
        actor=root, team=world["other_team"], slug="shop", name="Shop", aliases=["shop.internal:9000"]
    )
    return {**world, "orders": orders, "shop": shop}


def _state():
    return json.dumps(list(Service.objects.values("slug", "aliases").order_by("slug"))), AuditEvent.objects.count()


# --- 7. Alias hijack ----------------------------------------------------------------
@pytest.mark.parametrize("alias", ["orders", "ORDERS", "orders.internal:8080", "orders-legacy"])
def test_alias_equal_to_another_services_slug_alias_or_address_is_409_on_every_path(teams_ab, api, client, alias):
    other = teams_ab["other"]  # lead of team B
    before = _state()
    # REST create and update.
    created = api(other).post(
        "/api/v1/services/", {"slug": "hijack", "name": "H", "team": "beta", "aliases": [alias]}, format="json"
    )
    assert created.status_code == 409 and created.json()["code"] == "alias_taken", created.content
    patched = api(other).patch("/api/v1/services/shop/", {"aliases": [alias]}, format="json")
    assert patched.status_code == 409 and patched.json()["code"] == "alias_taken"
    # GraphQL create and update.
    token = Token.objects.create(user=other).key
    body = gql(
        client,
        token,
        'mutation($a: [String!]) { updateService(slug: "shop", input: {aliases: $a}) { service { slug } } }',
        {"a": [alias]},
    )
    assert gql_error(body)["code"] == "alias_taken"
    body = gql(
        client,
        token,
        'mutation($a: [String!]) { createService(team: "beta", slug: "hijack", input: {aliases: $a}) '
        "{ service { slug } } }",
        {"a": [alias]},
    )
    assert gql_error(body)["code"] == "alias_taken"
    # Portal form.
    client.force_login(other)
    page = client.post(
        "/services/shop/edit/",
        {
            "name": "Shop",
            "tier": 3,
            "lifecycle": "production",
            "aliases": alias,
            "metrics_path": "/metrics",
            "health_path": "/health",
        },
    )
    assert page.status_code == 400 and b"taken" in page.content
    assert _state() == before


def test_admin_refuses_a_taken_alias(teams_ab, client):
    root = teams_ab["root"]
    client.force_login(root)
    before = _state()
    page = client.post(
        f"/admin/catalog/service/{teams_ab['shop'].pk}/change/",
        {
            "team": teams_ab["other_team"].pk,
            "name": "Shop",
            "tier": 3,
            "lifecycle": "production",
            "aliases": '["orders"]',
            "metrics_path": "/metrics",
            "health_path": "/health",
            "description": "",
            "repository_url": "",
            "base_url": "",
            "crawl_enabled": "on",
        },
        follow=True,
    )
    assert page.status_code == 200 and b"already the slug of service" in page.content
    assert _state() == before


def test_own_and_free_aliases_are_accepted(teams_ab, api):
    response = api(teams_ab["other"]).patch(
        "/api/v1/services/shop/", {"aliases": ["shop.internal:9000", "shop-v2"]}, format="json"
    )
    assert response.status_code == 200, response.content
    with pytest.raises(Conflict):
        catalog_services.service_update(actor=teams_ab["lead"], service=teams_ab["orders"], aliases=["shop-v2"])


def test_slug_and_base_url_outrank_any_alias():
    services = [
        ServiceRef("hijacker", "Hijacker", "", ("orders", "orders.internal:8080")),
        ServiceRef("orders", "Orders", "http://orders.internal:8080", ()),
        ServiceRef("named", "payments", "", ()),
        ServiceRef("payments-owner", "Payments owner", "", ("payments",)),
    ]
    index = CatalogIndex(services)
    assert index.resolve(RawCall(None, "name", "orders", 1, 0)).key == "orders"
    assert index.resolve(RawCall(None, "hostport", "orders.internal:8080", 1, 0)).key == "orders"
    assert index.service_for_name("orders") == "orders"
    assert index.service_for_name("payments") == "payments-owner"  # an alias outranks a display name


# --- 7. Forged edges ----------------------------------------------------------------
class _Metrics(BaseHTTPRequestHandler):
    body = ""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            data, ctype = self.body.encode(), "text/plain"
        elif path == "/api/v2/dependencies":
            data = json.dumps([{"parent": "orders", "child": "payments", "callCount": 50}]).encode()
            ctype = "application/json"
        else:
            data, ctype = b"ok", "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_services_own_metrics_only_create_its_own_edges(world, graph, api):
    root = world["root"]
    _Metrics.body = (
        'traces_service_graph_request_total{client="orders",server="payments"} 900\n'
        'traces_service_graph_request_total{client="evil",server="payments"} 7\n'
        'istio_requests_total{source_workload="orders",destination_service_name="payments",response_code="200"} 5\n'
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for slug in ("orders", "payments"):
            catalog_services.service_create(actor=root, team=world["team"], slug=slug, name=slug, crawl_enabled=False)
        catalog_services.service_create(actor=root, team=world["other_team"], slug="evil", name="evil", base_url=base)
        # A tracing source a superuser has not registered as an aggregator reports nothing either.
        TracingSource.objects.create(name="z", kind="zipkin", base_url=base)
        graph_services.graph_sync()
        run = graph_services.crawl_inline()
    finally:
        server.shutdown()
    edges = {(r["s"], r["t"]) for r in db.read("MATCH (s)-[:CALLS]->(t) RETURN s.slug AS s, t.slug AS t")}
    assert edges == {("evil", "payments")}
    evil = run.results.get(target="evil")
    # Tempo's and Istio's series of the forged orders->payments calls are one observation (dedup).
    assert evil.ok and evil.foreign_callers == 1 and evil.skipped_series == 1 and evil.edges == 1
    tracer = run.results.get(target="zipkin:z")
    assert tracer.ok and tracer.foreign_callers == 1 and tracer.edges == 0
    shown = api(world["reader"]).get(f"/api/v1/crawls/{run.pk}/").json()["results"]
    assert {r["target"]: r["foreign_callers"] for r in shown} == {"evil": 1, "zipkin:z": 1}


def test_only_superusers_register_aggregators(world):
    staff = world["orgadmin"]
    staff.is_staff = True
    staff.save()
    source = graph_services.tracing_source_save(
        actor=staff, source=TracingSource(name="t", kind="zipkin", base_url="http://10.0.0.1", aggregator=True)
    )
    assert TracingSource.objects.get(pk=source.pk).aggregator is False
    trusted = TracingSource.objects.get(pk=source.pk)
    trusted.aggregator = True
    graph_services.tracing_source_save(actor=world["root"], source=trusted, changed=["aggregator"])
    assert TracingSource.objects.get(pk=source.pk).aggregator is True
    moved = TracingSource.objects.get(pk=source.pk)
    moved.base_url = "http://10.0.0.2"
    graph_services.tracing_source_save(actor=staff, source=moved, changed=["base_url"])
    assert TracingSource.objects.get(pk=source.pk).aggregator is False
    with pytest.raises(PermissionDenied):
        graph_services.tracing_source_save(
            actor=world["member"], source=TracingSource(name="u", kind="zipkin", base_url="http://10.0.0.3")
        )


# --- Who may start a crawl -----------------------------------------------------------
def test_signed_in_user_without_team_or_org_cannot_start_a_crawl(world, client, api):
    reader = world["reader"]
    response = api(reader).post("/api/v1/crawls/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    body = gql(client, Token.objects.create(user=reader).key, "mutation { triggerCrawl { run { status } } }")
    assert gql_error(body)["code"] == "permission_denied"
    client.force_login(reader)
    client.post("/discovery/crawl/")
    assert CrawlRun.objects.count() == 0


def test_superusers_org_admins_and_team_members_may_start_a_crawl(world, make_user, api):
    from config.celery import app

    loner_admin = make_user("loner-admin")
    Org.objects.create(slug="solo", name="Solo").admins.add(loner_admin)
    for name in ("root", "lead", "member"):
        assert permissions.can_start_crawl(world[name]), name
    assert permissions.can_start_crawl(loner_admin)
    assert not permissions.can_start_crawl(world["reader"])
    try:
        response = api(world["member"]).post("/api/v1/crawls/")
        assert response.status_code == 202, response.content
    finally:
        app.control.purge()
        for run in CrawlRun.objects.all():
            graph_services.crawl_lock_release(run.pk)


# --- Team limits within the org's maxima -----------------------------------------------
def test_team_limit_above_the_org_maximum_is_refused(world, api):
    org = world["org"]
    response = api(world["orgadmin"]).patch(
        "/api/v1/teams/alpha/", {"max_members": org.max_members_per_team + 1}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "limit_above_org_maximum"
    created = api(world["orgadmin"]).post(
        "/api/v1/teams/",
        {"slug": "gamma", "name": "G", "org": "acme", "max_services": org.max_services_per_team + 5},
        format="json",
    )
    assert created.status_code == 400 and created.json()["code"] == "limit_above_org_maximum"
    assert Team.objects.get(slug="alpha").max_members is None and not Team.objects.filter(slug="gamma").exists()
    ok = api(world["orgadmin"]).patch("/api/v1/teams/alpha/", {"max_members": 3}, format="json")
    assert ok.status_code == 200


def test_only_superusers_set_org_maxima_and_lowering_them_caps_team_limits(world, api, make_user):
    response = api(world["orgadmin"]).patch("/api/v1/orgs/acme/", {"max_members_per_team": 500}, format="json")
    assert response.status_code == 403 and Org.objects.get(slug="acme").max_members_per_team == 10
    assert api(world["orgadmin"]).patch("/api/v1/orgs/acme/", {"name": "Acme Inc"}, format="json").status_code == 200
    Team.objects.filter(slug="alpha").update(max_members=8)
    assert api(world["root"]).patch("/api/v1/orgs/acme/", {"max_members_per_team": 2}, format="json").status_code == 200
    team = Team.objects.select_related("org").get(slug="alpha")
    assert team.effective_max_members == 2  # the team's 8 no longer exceeds the org's maximum
    refused = api(world["root"]).post("/api/v1/teams/alpha/members/", {"username": "reader"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "team_limit_exceeded"


# --- GraphQL addMember and revokeKey answer as REST does ---------------------------------
def test_graphql_add_member_refuses_inactive_users_as_rest_does(world, api, client):
    get_user_model().objects.filter(username="reader").update(is_active=False)
    rest = api(world["lead"]).post("/api/v1/teams/alpha/members/", {"username": "reader"}, format="json")
    assert rest.status_code == 400
    token = Token.objects.create(user=world["lead"]).key
    add = 'mutation($u: String!) { addMember(team: "alpha", username: $u) { member { role } } }'
    inactive = gql_error(gql(client, token, add, {"u": "reader"}))
    unknown = gql_error(gql(client, token, add, {"u": "nobody"}))
    assert inactive["code"] == unknown["code"] == rest.json()["code"] == "invalid"
    assert inactive["fields"] == rest.json()["fields"]
    assert not Membership.objects.filter(user__username="reader").exists()


@pytest.fixture
def keys(world, make_user):
    root = world["root"]
    provider = catalog_services.service_create(actor=root, team=world["team"], slug="orders", name="Orders")
    consumer = catalog_services.service_create(actor=root, team=world["team"], slug="web", name="Web")
    api_obj = catalog_services.api_create(actor=root, provider=provider, slug="orders-v1", name="Orders v1")
    key, _ = catalog_services.key_issue(actor=root, api=api_obj, consumer=consumer, name="k")
    outsider = make_user("outsider")
    team_y = Team.objects.create(org=Org.objects.create(slug="yco", name="Y"), slug="y-team", name="Y")
    Membership.objects.create(team=team_y, user=outsider, role="lead")
    return {**world, "key": key, "outsider": outsider}


def test_revoke_key_answers_the_same_for_unknown_and_forbidden_ids(keys, client, api):
    key, outsider = keys["key"], keys["outsider"]
    token = Token.objects.create(user=outsider).key
    revoke = 'mutation($k: String!) { revokeKey(keyId: $k, reason: "x") { key { name } } }'
    hidden = gql(client, token, revoke, {"k": key.key_id})
    unknown = gql(client, token, revoke, {"k": "zzzzzzzz"})
    assert gql_error(hidden)["code"] == gql_error(unknown)["code"] == "not_found"
    assert hidden["errors"][0]["message"].replace(key.key_id, "?") == unknown["errors"][0]["message"].replace(
        "zzzzzzzz", "?"
    )
    # REST: identical 404 bodies.
    rest_hidden = api(outsider).post(f"/api/v1/keys/{key.pk}/revoke/", {"reason": "x"}, format="json")
    rest_unknown = api(outsider).post("/api/v1/keys/999999/revoke/", {"reason": "x"}, format="json")
    assert rest_hidden.status_code == rest_unknown.status_code == 404
    assert rest_hidden.json() == rest_unknown.json()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
