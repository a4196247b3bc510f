"""What changed around a service (issue 14): GET /api/v1/services/<slug>/changes, GraphQL
Service.changes and the service page's panel, scoped by the dependency closure read from Neo4j.

web calls orders, orders calls ledger and an unknown endpoint; audit is unrelated. Each has a
deploy; ledger's tier changes; orders gets an API whose spec changes and a key for web that is
revoked; a regression is recorded after orders' deploy."""

from datetime import UTC, datetime, timedelta

import pytest

from catalog import services as catalog
from changes import services as changes
from changes.models import Regression
from graph import services as graph_services
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge

SPEC = {"openapi": "3.0.3", "info": {"title": "Orders", "version": "1"}, "paths": {}}


@pytest.fixture
def town(graph, world):
    root, team = world["root"], world["team"]
    svc = {
        slug: catalog.service_create(actor=root, team=team, slug=slug, name=slug)
        for slug in ("web", "orders", "ledger", "audit")
    }
    graph_services.graph_sync()
    edges = [
        Observation(
            target=src,
            source="zipkin:t",
            ok=True,
            edges=[ObservedEdge(src, Target(kind, dst), 30, 0)],
            window_seconds=60,
        )
        for src, kind, dst in [
            ("web", "service", "orders"),
            ("orders", "service", "ledger"),
            ("ledger", "endpoint", "db.internal:5432"),
        ]
    ]
    graph_services.edges_merge(edges, crawl_id=1)
    deploys = {
        slug: changes.deploy_record(
            actor=root, deploy_key=None, service=s, client_id=f"ci-{slug}", version=f"{slug}-2"
        )[0]
        for slug, s in svc.items()
    }
    catalog.service_update(actor=root, service=svc["ledger"], tier=1)
    catalog.service_update(actor=root, service=svc["web"], description="only words")  # not a change that counts
    api = catalog.api_create(actor=root, provider=svc["orders"], slug="orders-v1", name="Orders v1")
    catalog.api_update(actor=root, api=api, spec=SPEC)
    catalog.api_update(actor=root, api=api, spec={**SPEC, "info": {"title": "Orders", "version": "2"}})
    key, _ = catalog.key_issue(actor=root, api=api, consumer=svc["web"], name="web-prod")
    catalog.key_revoke(actor=root, key=key, reason="leaked")
    Regression.objects.create(
        deploy=deploys["orders"],
        service=svc["orders"],
        src="web",
        dst="orders",
        direction="in",
        metric="error_rate",
        before=0.0,
        after=0.2,
        calls_before=500,
        calls_after=480,
    )
    return world


def _get(api, user, slug, **params):
    return api(user).get(f"/api/v1/services/{slug}/changes", params)


def test_each_kind_of_change_within_the_direct_dependencies(town, api):
    response = _get(api, town["reader"], "web", since="1h")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(s["slug"], s["distance"]) for s in body["scope"]] == [("web", 0), ("orders", 1)]
    assert body["depth"] == 1 and body["scope_complete"] is True and body["truncated"] is False
    # web -> orders (web's own) and orders -> ledger (its dependency's); not ledger -> db.internal
    assert sorted((e["change"], e["src"], e["dst"]) for e in body["edges"]) == [
        ("appeared", "orders", "ledger"),
        ("appeared", "web", "orders"),
    ]
    assert sorted((d["service"], d["version"], d["distance"]) for d in body["deploys"]) == [
        ("orders", "orders-2", 1),
        ("web", "web-2", 0),
    ]
    (regression,) = body["regressions"]
    assert (regression["service"], regression["version"], regression["metric"], regression["after"]) == (
        "orders",
        "orders-2",
        "error_rate",
        0.2,
    )
    kinds = [(c["type"], c["service"], c["changed"]) for c in body["catalog"]]
    assert ("api.created", "orders", []) in kinds
    assert [k for k in kinds if k[0] == "api.updated"] == [("api.updated", "orders", ["spec"])] * 2
    assert ("key.revoked", "orders", []) in kinds  # web's key to orders' API
    assert not any(t == "service.updated" for t, _, _ in kinds)  # web's description is not a change that counts


def test_depth_all_takes_the_whole_closure(town, api):
    body = _get(api, town["reader"], "web", since="1h", depth="all").json()
    assert body["depth"] == 6
    assert [(s["slug"], s["kind"], s["distance"]) for s in body["scope"]] == [
        ("web", "service", 0),
        ("orders", "service", 1),
        ("ledger", "service", 2),
        ("db.internal:5432", "endpoint", 3),
    ]
    assert {d["service"] for d in body["deploys"]} == {"web", "orders", "ledger"}  # never audit's
    assert ("appeared", "ledger", "db.internal:5432") in {(e["change"], e["src"], e["dst"]) for e in body["edges"]}
    tier = [c for c in body["catalog"] if c["type"] == "service.updated"]
    assert [(c["service"], c["changed"], c["summary"]) for c in tier] == [
        ("ledger", ["tier"], "ledger: changed (tier 1)")
    ]
    # depth 2 stops at ledger; a time after everything finds nothing
    two = _get(api, town["reader"], "web", since="1h", depth="2").json()
    assert [s["slug"] for s in two["scope"]] == ["web", "orders", "ledger"]
    later = (datetime.now(tz=UTC) + timedelta(seconds=0)).isoformat()
    empty = _get(api, town["reader"], "web", since=later, depth="all").json()
    assert (empty["edges"], empty["deploys"], empty["regressions"], empty["catalog"]) == ([], [], [], [])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"since": "yesterday"}, "since_invalid"),
        ({"since": "0h"}, "since_invalid"),
        ({"since": "91d"}, "since_invalid"),
        ({"since": "2999-01-01T00:00:00Z"}, "since_invalid"),
        ({"since": "x" * 5000}, "since_invalid"),
        ({"depth": "0"}, "depth_invalid"),
        ({"depth": "7"}, "depth_invalid"),
        ({"depth": "１"}, "depth_invalid"),
        ({"depth": "every"}, "depth_invalid"),
    ],
)
def test_bad_since_or_depth_is_400_with_a_code(world, api, params, code):
    catalog.service_create(actor=world["root"], team=world["team"], slug="web", name="web")
    response = _get(api, world["reader"], "web", **params)
    assert response.status_code == 400 and response.json()["code"] == code, response.content


def test_unknown_service_and_anonymous(world, api):
    missing = _get(api, world["reader"], "nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert _get(api, None, "nope").status_code == 401


def test_changes_is_a_graphql_field_of_service(town, client):
    client.force_login(town["reader"])
    query = """{ service(slug: "web") { changes(since: "1h", depth: "all") {
        depth scope { slug distance } deploys { service version distance } regressions { service metric }
        edges { change src dst } catalog { type service changed } } } }"""
    body = client.post("/graphql", {"query": query}, content_type="application/json").json()
    assert "errors" not in body, body
    found = body["data"]["service"]["changes"]
    assert found["depth"] == 6 and [s["slug"] for s in found["scope"]][:3] == ["web", "orders", "ledger"]
    assert {d["service"] for d in found["deploys"]} == {"web", "orders", "ledger"}
    assert found["regressions"] == [{"service": "orders", "metric": "error_rate"}]
    bad = client.post(
        "/graphql",
        {"query": '{ service(slug: "web") { changes(depth: "9") { depth } } }'},
        content_type="application/json",
    ).json()
    assert bad["errors"][0]["extensions"]["code"] == "depth_invalid"


def test_the_service_page_loads_the_panel_lazily(town, client):
    client.force_login(town["reader"])
    page = client.get("/services/web/").content.decode()
    assert 'hx-get="/services/web/changes/"' in page and 'hx-trigger="change, revealed"' in page
    panel = client.get("/services/web/changes/", {"since": "24h", "depth": "all"})
    assert panel.status_code == 200
    text = panel.content.decode()
    assert "ledger-2" in text and "orders-2" in text and "ledger: changed (tier 1)" in text
    bad = client.get("/services/web/changes/", {"depth": "nine"})
    assert bad.status_code == 400 and "depth" in bad.content.decode()
    assert client.get("/services/nope/changes/").status_code == 404
