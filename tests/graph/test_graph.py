"""Projection, edge merging and aging, graph queries: all on the real Neo4j."""

import pytest

from catalog import services as catalog_services
from graph import db, selectors, services
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge


def result(src, *edges, source="prometheus", window=None):
    return Observation(
        target=src,
        source=source,
        service_slug=src,
        ok=True,
        window_seconds=window,
        edges=[ObservedEdge(src, Target(kind, dst), calls, errors) for kind, dst, calls, errors in edges],
    )


@pytest.fixture
def chain(world, graph):
    """web -> orders -> payments -> ledger, web -> search; teams alpha and beta."""
    root, alpha, beta = world["root"], world["team"], world["other_team"]
    beta.oncall_contact = "beta@oncall"
    beta.save()
    for slug, team, tier in [
        ("web", alpha, 1),
        ("orders", alpha, 2),
        ("payments", beta, 1),
        ("ledger", beta, 3),
        ("search", alpha, 4),
    ]:
        catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier)
    services.graph_sync()
    services.edges_merge(
        [
            result("web", ("service", "orders", 10, 0), ("service", "search", 5, 1)),
            result("orders", ("service", "payments", 8, 2)),
            result("payments", ("service", "ledger", 8, 0), ("endpoint", "bank.example:443", 3, 0)),
        ],
        crawl_id=1,
        now=1_000_000,
    )
    return world


def test_graph_sync_is_idempotent_and_removes_what_django_lost(world, graph):
    catalog_services.service_create(actor=world["root"], team=world["team"], slug="gone", name="Gone")
    catalog_services.service_create(actor=world["root"], team=world["team"], slug="kept", name="Kept")
    services.graph_sync()
    first = db.read("MATCH (n) RETURN labels(n)[0] AS l, coalesce(n.slug, n.key) AS k ORDER BY l, k")
    services.graph_sync()
    assert db.read("MATCH (n) RETURN labels(n)[0] AS l, coalesce(n.slug, n.key) AS k ORDER BY l, k") == first
    from catalog.models import Service

    Service.objects.filter(slug="gone").delete()  # behind the service layer's back
    services.graph_sync()
    slugs = {r["s"] for r in db.read("MATCH (s:Service) RETURN s.slug AS s")}
    assert slugs == {"kept"}
    owner = db.read("MATCH (t:Team)-[:OWNS]->(:Service {slug: 'kept'}) RETURN t.slug AS t")
    assert owner == [{"t": "alpha"}]


def test_catalog_writes_are_projected_on_commit(world, graph, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        svc = catalog_services.service_create(actor=world["root"], team=world["team"], slug="fresh", name="Fresh")
    assert db.read("MATCH (:Team {slug:'alpha'})-[:OWNS]->(s:Service {slug:'fresh'}) RETURN s.name AS n") == [
        {"n": "Fresh"}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.service_transfer(actor=world["root"], service=svc, team=world["other_team"])
    assert db.read("MATCH (t:Team)-[:OWNS]->(:Service {slug:'fresh'}) RETURN t.slug AS t") == [{"t": "beta"}]
    with django_capture_on_commit_callbacks(execute=True):
        api = catalog_services.api_create(actor=world["root"], provider=svc, slug="fresh-v1", name="F1")
        user = catalog_services.service_create(actor=world["root"], team=world["team"], slug="user", name="U")
        catalog_services.service_consumes_set(actor=world["root"], service=user, apis=[api])
    assert db.read(
        "MATCH (:Service {slug:'user'})-[:CONSUMES]->(a:Api)<-[:PROVIDES]-(:Service {slug:'fresh'}) RETURN a.slug AS a"
    ) == [{"a": "fresh-v1"}]


def test_dependencies_both_ways_with_depth(chain):
    down = selectors.dependencies(slug="web", direction="down", depth=3)
    assert [(d["slug"], d["distance"]) for d in down] == [
        ("orders", 1),
        ("search", 1),
        ("payments", 2),
        ("bank.example:443", 3),
        ("ledger", 3),
    ]
    assert {d["kind"] for d in down if d["slug"] == "bank.example:443"} == {"endpoint"}
    up = selectors.dependencies(slug="ledger", direction="up", depth=2)
    assert [(d["slug"], d["distance"]) for d in up] == [("payments", 1), ("orders", 2)]


def test_dependencies_carry_every_field_with_separators_in_names(chain):
    """Dependencies come from Neo4j as ``|``-separated strings (graph.cypher._dependencies): a
    service name or an unknown endpoint's key holding ``|`` comes back whole, every field is
    filled, and the list is ordered by distance, then slug."""
    from catalog.models import Service

    ledger = Service.objects.get(slug="ledger")
    catalog_services.service_update(actor=chain["root"], service=ledger, name="Ledger | books")
    services.graph_sync()
    services.edges_merge([result("payments", ("endpoint", "odd|key:443", 1, 0))], crawl_id=2, now=1_000_100)
    down = selectors.dependencies_many(slugs=["orders", "ledger"], direction="down", depth=2)
    assert down == {
        "orders": [
            {"kind": "service", "slug": "payments", "name": "Payments", "team": "beta", "tier": 1, "distance": 1},
            {
                "kind": "endpoint",
                "slug": "bank.example:443",
                "name": "bank.example:443",
                "team": None,
                "tier": None,
                "distance": 2,
            },
            {"kind": "service", "slug": "ledger", "name": "Ledger | books", "team": "beta", "tier": 3, "distance": 2},
            {
                "kind": "endpoint",
                "slug": "odd|key:443",
                "name": "odd|key:443",
                "team": None,
                "tier": None,
                "distance": 2,
            },
        ],
        "ledger": [],
    }


@pytest.mark.parametrize("depth", [0, 7, "x"])
def test_depth_out_of_range_is_invalid(chain, depth):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        selectors.dependencies(slug="web", depth=depth)


def test_blast_radius_groups_dependents_by_team_with_oncall(chain):
    radius = selectors.blast_radius(slug="ledger")
    assert radius["affected_services"] == 3
    assert [(t["team"], t["oncall"], t["worst_tier"], [s["slug"] for s in t["services"]]) for t in radius["teams"]] == [
        ("alpha", "alpha@oncall", 1, ["web", "orders"]),
        ("beta", "beta@oncall", 1, ["payments"]),
    ]


def test_path_cycles_coupling_and_drift(chain):
    assert selectors.shortest_path(src="web", dst="ledger") == ["web", "orders", "payments", "ledger"]
    assert selectors.shortest_path(src="ledger", dst="web") == []
    assert selectors.cycles() == []
    services.edges_merge([result("ledger", ("service", "orders", 1, 0))], crawl_id=2, now=1_000_100)
    assert selectors.cycles() == [["ledger", "orders", "payments", "ledger"]]
    coupling = {(c["caller_team"], c["callee_team"]): c["edges"] for c in selectors.team_coupling()}
    assert coupling == {("alpha", "beta"): 1, ("beta", "alpha"): 1}


def test_drift_declared_versus_observed(chain):
    from catalog.models import Service

    root = chain["root"]
    ledger_api = catalog_services.api_create(
        actor=root, provider=Service.objects.get(slug="ledger"), slug="ledger-v1", name="L"
    )
    search_api = catalog_services.api_create(
        actor=root, provider=Service.objects.get(slug="search"), slug="search-v1", name="S"
    )
    catalog_services.service_consumes_set(actor=root, service=Service.objects.get(slug="web"), apis=[ledger_api])
    services.graph_sync()
    assert selectors.drift(slug="web") == {"declared_not_seen": ["ledger"], "seen_not_declared": ["search"]}
    assert search_api.slug == "search-v1"


def test_rates_from_counter_deltas_and_resets(world, graph):
    catalog_services.service_create(actor=world["root"], team=world["team"], slug="a", name="A")
    catalog_services.service_create(actor=world["root"], team=world["team"], slug="b", name="B")
    services.graph_sync()

    def edge():
        return db.read("MATCH (:Service {slug:'a'})-[r:CALLS]->(:Service {slug:'b'}) RETURN properties(r) AS p")[0]["p"]

    services.edges_merge([result("a", ("service", "b", 100, 10))], crawl_id=1, now=0 + 10_000)
    assert "rate_per_min" not in edge() and edge()["error_rate"] == 0.1
    services.edges_merge([result("a", ("service", "b", 160, 13))], crawl_id=2, now=70_000)  # +60 in 60 s
    assert edge()["rate_per_min"] == 60.0 and edge()["error_rate"] == 0.05
    services.edges_merge([result("a", ("service", "b", 30, 0))], crawl_id=3, now=100_000)  # restart: 30 in 30 s
    assert edge()["rate_per_min"] == 60.0 and edge()["error_rate"] == 0.0
    assert edge()["first_seen"] == 10_000 and edge()["last_seen"] == 100_000


def test_edges_age_only_where_the_fetch_succeeded(world, graph, settings):
    settings.DISCOVERY_EDGE_TTL = 60
    settings.DISCOVERY_EDGE_REMOVE_AFTER = 600
    for slug in ("a", "b", "c"):
        catalog_services.service_create(actor=world["root"], team=world["team"], slug=slug, name=slug)
    services.graph_sync()
    services.edges_merge(
        [result("a", ("service", "b", 1, 0)), result("c", ("service", "b", 1, 0))], crawl_id=1, now=1_000
    )
    # 'c' failed to fetch this time: its edge must not age; 'a' was fetched and no longer calls b.
    aged = services.edges_age(ok_services=["a"], ok_sources=[], now=1_000 + 120_000)
    assert aged == {"stale": 1, "removed": 0}
    stale = {r["s"]: r["stale"] for r in db.read("MATCH (s)-[r:CALLS]->() RETURN s.slug AS s, r.stale AS stale")}
    assert stale == {"a": True, "c": False}
    assert services.edges_age(ok_services=["a"], ok_sources=[], now=1_000 + 700_000)["removed"] == 1
    assert {r["s"] for r in db.read("MATCH (s)-[r:CALLS]->() RETURN s.slug AS s")} == {"c"}


def test_graph_api_endpoints(chain, api):
    client = api(chain["reader"])
    deps = client.get("/api/v1/services/web/dependencies/?direction=down&depth=2").json()
    assert [d["slug"] for d in deps] == ["orders", "search", "payments"]
    assert client.get("/api/v1/services/web/dependencies/?depth=99").status_code == 400
    assert client.get("/api/v1/services/ledger/blast-radius/").json()["affected_services"] == 3
    assert client.get("/api/v1/services/web/path/?to=ledger").json() == {
        "path": ["web", "orders", "payments", "ledger"]
    }
    whole = client.get("/api/v1/graph").json()
    assert len(whole["edges"]) == 5 and {"bank.example:443", "web"} <= {n["id"] for n in whole["nodes"]}
    beta = client.get("/api/v1/graph?team=beta").json()
    assert {(e["source"], e["target"]) for e in beta["edges"]} == {
        ("orders", "payments"),
        ("payments", "ledger"),
        ("payments", "bank.example:443"),
    }
    assert client.get("/api/v1/graph/endpoints").json()["endpoints"][0]["callers"] == ["payments"]
    assert api(None).get("/api/v1/graph").status_code == 401


def test_graph_down_gives_503_and_catalog_keeps_working(chain, api, settings):
    from graph import db as graph_db

    real_uri = settings.NEO4J_URI
    graph_db.close()
    settings.NEO4J_URI = "bolt://127.0.0.1:1"  # nothing listens there: a real refused connection
    try:
        client = api(chain["reader"])
        response = client.get("/api/v1/services/web/dependencies/")
        assert response.status_code == 503 and response.json()["code"] == "graph_unavailable"
        assert client.get("/api/v1/services/web/").status_code == 200
    finally:
        settings.NEO4J_URI = real_uri
        graph_db.close()


def test_revoke_impact_asks_the_graph_through_core_observed(chain, world, settings):
    """catalog never imports graph: a key's revoke impact learns of observed calls from the
    answer graph registers in core.observed (True, False, or None while Neo4j is down)."""
    from catalog import selectors as catalog_selectors
    from catalog.models import Service
    from graph import db as graph_db

    root = world["root"]
    web, orders, search = (Service.objects.get(slug=s) for s in ("web", "orders", "search"))
    api = catalog_services.api_create(actor=root, provider=orders, slug="orders-v1", name="Orders")
    calling, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="web")
    silent, _ = catalog_services.key_issue(actor=root, api=api, consumer=search, name="search")
    assert catalog_selectors.key_revoke_impact(key=calling)["observed_calls"] is True
    assert catalog_selectors.key_revoke_impact(key=silent)["observed_calls"] is False
    real_uri = settings.NEO4J_URI
    graph_db.close()
    settings.NEO4J_URI = "bolt://127.0.0.1:1"  # nothing listens there: a real refused connection
    try:
        assert catalog_selectors.key_revoke_impact(key=calling)["observed_calls"] is None
    finally:
        settings.NEO4J_URI = real_uri
        graph_db.close()
