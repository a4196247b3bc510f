"""The explorer's levels of detail, filters, neighbourhood, path and find (issue 16), against
the real Neo4j: grouped edges sum calls/min and keep the worst error rate, scoped by the filters."""

import pytest

from catalog import services as catalog_services
from catalog.models import System
from core.errors import InvalidInput
from graph import selectors, services
from teams.models import Org, Team
from tests.graph.conftest import windowed

NOW = 1_750_000_000_000


@pytest.fixture
def fleet(world, graph):
    """Org acme (alpha: web, orders, lonely; beta: payments, ledger), org globex (gamma: bank).
    web -> orders 10/min 0%, web -> payments 30/min 10%, orders -> payments 10/min 50%,
    payments -> ledger 8/min, ledger -> bank 20/min 5%, payments -> an unknown endpoint."""
    root, alpha, beta = world["root"], world["team"], world["other_team"]
    gamma = Team.objects.create(org=Org.objects.create(slug="globex", name="Globex"), slug="gamma", name="Gamma")
    shop = catalog_services.owned_create("system", actor=root, team=alpha, slug="shop", name="Shop")
    for slug, team, tier, system in [
        ("web", alpha, 2, shop),
        ("orders", alpha, 1, shop),
        ("lonely", alpha, 3, None),
        ("payments", beta, 1, None),
        ("ledger", beta, 3, None),
        ("bank", gamma, 4, None),
    ]:
        catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier, system=system)
    services.graph_sync()
    services.edges_merge(
        [
            windowed("web", ("orders", 10, 0), ("payments", 30, 3, [80] * 20)),
            windowed("orders", ("payments", 10, 5)),
            windowed("payments", ("ledger", 8, 0), ("bank.example:443", 3, 0)),
            windowed("ledger", ("bank", 20, 1)),
        ],
        crawl_id=1,
        now=NOW,
    )
    return world


def filters(**kw):
    return selectors.explorer_filters(kw)


def pairs(g):
    return {(e["source"], e["target"]): e for e in g["edges"]}


def test_orgs_sum_calls_and_keep_the_worst_error_rate(fleet):
    g = selectors.explorer_graph(by="org", filters=filters())
    nodes = {n["id"]: n for n in g["nodes"]}
    assert set(nodes) == {"org:acme", "org:globex"}
    assert nodes["org:acme"]["services"] == 5 and nodes["org:acme"]["tier"] == 1 and not nodes["org:acme"]["expanded"]
    assert list(pairs(g)) == [("org:acme", "org:globex")]  # calls inside acme are no edge; the endpoint hides
    edge = pairs(g)[("org:acme", "org:globex")]
    assert (
        edge["edges"] == 1 and edge["rate_per_min"] == pytest.approx(20) and edge["error_rate"] == pytest.approx(0.05)
    )

    teams = selectors.explorer_graph(by="team", filters=filters())
    e = pairs(teams)
    assert set(e) == {("team:alpha", "team:beta"), ("team:beta", "team:gamma")}
    assert e[("team:alpha", "team:beta")]["rate_per_min"] == pytest.approx(40)  # 30 + 10 summed
    assert e[("team:alpha", "team:beta")]["error_rate"] == pytest.approx(0.5)  # worst, not weighted
    assert e[("team:alpha", "team:beta")]["edges"] == 2 and e[("team:alpha", "team:beta")]["sources"] == []
    assert e[("team:alpha", "team:beta")]["p95_ms"] is not None


def test_expanding_a_group_shows_its_services_inside_it(fleet):
    g = selectors.explorer_graph(by="team", expand=["alpha"], filters=filters())
    nodes = {n["id"]: n for n in g["nodes"]}
    assert set(nodes) == {"team:alpha", "web", "orders", "lonely", "team:beta", "team:gamma"}
    assert nodes["team:alpha"]["expanded"] and nodes["team:alpha"]["services"] == 3
    assert nodes["web"]["parent"] == "team:alpha" and nodes["web"]["tier"] == 2 and nodes["web"]["team"] == "alpha"
    e = pairs(g)
    assert set(e) == {("web", "orders"), ("web", "team:beta"), ("orders", "team:beta"), ("team:beta", "team:gamma")}
    assert e[("web", "team:beta")]["rate_per_min"] == pytest.approx(30)
    assert e[("web", "team:beta")]["error_rate"] == pytest.approx(0.1)
    assert e[("web", "orders")]["last_seen"] == NOW and e[("web", "orders")]["sources"] == ["otlp"]

    # Expanding beta alone when alpha is open: beta's services and only the edges touching them.
    only = selectors.explorer_graph(by="team", expand=["alpha", "beta"], only="beta", filters=filters())
    assert only["only"] == "team:beta"
    assert {n["id"] for n in only["nodes"]} == {"team:beta", "payments", "ledger", "bank.example:443"}
    assert set(pairs(only)) == {
        ("web", "payments"),
        ("orders", "payments"),
        ("payments", "ledger"),
        ("ledger", "team:gamma"),
        ("payments", "bank.example:443"),
    }
    assert pairs(only)[("orders", "payments")]["error_rate"] == pytest.approx(0.5)
    with pytest.raises(InvalidInput):
        selectors.explorer_graph(by="team", expand=["alpha"], only="beta", filters=filters())

    beta = selectors.explorer_graph(by="team", expand=["beta"], filters=filters())
    assert "bank.example:443" in {n["id"] for n in beta["nodes"]}  # an endpoint beside its expanded caller


def test_filters_scope_the_aggregation(fleet):
    acme = selectors.explorer_graph(by="team", filters=filters(org="acme"))
    assert {n["id"] for n in acme["nodes"]} == {"team:alpha", "team:beta"}
    assert set(pairs(acme)) == {("team:alpha", "team:beta")}

    tier1 = selectors.explorer_graph(by="", filters=filters(tier="1"))
    assert {n["id"] for n in tier1["nodes"]} == {"orders", "payments", "bank.example:443"}  # endpoints beside callers
    assert set(pairs(tier1)) == {("orders", "payments"), ("payments", "bank.example:443")}

    erroring = selectors.explorer_graph(by="", filters=filters(errors="20"))
    assert set(pairs(erroring)) == {("orders", "payments")}
    assert {n["id"] for n in erroring["nodes"]} == {"orders", "payments"}  # the rest has no edge left

    linked = selectors.explorer_graph(by="", filters=filters(isolated="hide"))
    assert "lonely" not in {n["id"] for n in linked["nodes"]}
    everyone = selectors.explorer_graph(by="", filters=filters())
    assert "lonely" in {n["id"] for n in everyone["nodes"]}

    shop = selectors.explorer_graph(by="system", filters=filters())
    assert {n["id"]: n["name"] for n in shop["nodes"] if n["kind"] == "system"} == {"system:shop": "Shop"}


@pytest.mark.parametrize(
    "params", [{"tier": "7"}, {"errors": "150"}, {"errors": "x"}, {"org": "Not A Slug"}, {"system": "../x"}]
)
def test_bad_filters_are_400(fleet, client, params):
    client.force_login(fleet["reader"])
    response = client.get("/graph/data.json", params)
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    # the same error shape as the REST API: the field named (the explorer's form marks it)
    assert set(response.json()["fields"]) == {"errors" if "errors" in params else next(iter(params))}


def test_neighbourhood_path_and_find(fleet, client):
    one = selectors.explorer_neighbourhood(slug="orders", depth=1, filters=filters())
    assert {n["id"] for n in one["nodes"]} == {"orders", "web", "payments"}
    two = selectors.explorer_neighbourhood(slug="orders", depth=2, filters=filters())
    assert {"ledger", "bank.example:443"} <= {n["id"] for n in two["nodes"]}
    assert ("payments", "ledger") in pairs(two)
    hidden = selectors.explorer_neighbourhood(slug="orders", depth=1, filters=filters(tier="2"))
    assert hidden["nodes"] == [] and "hidden by the filter tier 2" in hidden["message"]

    path = selectors.explorer_path(src="web", dst="bank", filters=filters())
    assert path["path"] == ["web", "payments", "ledger", "bank"] and len(path["edges"]) == 3
    assert selectors.explorer_path(src="web", dst="nope", filters=filters())["message"] == "No service named 'nope'."
    assert (
        "bank is hidden by the filter org acme"
        in selectors.explorer_path(src="web", dst="bank", filters=filters(org="acme"))["message"]
    )
    assert "No observed call path" in selectors.explorer_path(src="bank", dst="web", filters=filters())["message"]

    client.force_login(fleet["reader"])
    body = client.get("/graph/data.json", {"from": "web", "to": "bank", "tier": "1"}).json()
    assert body["nodes"] == [] and "web is hidden by the filter tier 1" in body["message"]
    found = client.get("/graph/find.json", {"q": "Payments"}).json()
    assert found["exact"] == "payments" and found["results"] == [{"slug": "payments", "name": "Payments"}]
    assert client.get("/graph/find.json", {"q": "zzz"}).json() == {"results": [], "exact": None}
    assert client.get("/graph/data.json", {"focus": "orders", "depth": "9"}).status_code == 400


def test_aggregated_views_come_from_the_cache_until_the_graph_is_written(fleet):
    from django.core.cache import cache

    from graph import db

    version = db.version()
    first = selectors.explorer_graph(by="org", filters=filters())
    key = f"graph:explorer:org:{version}"
    stored = cache.get(key)
    assert stored is not None and set(stored["nodes"]) == {"org:acme", "org:globex"}
    # What the cache holds is what is served while the graph is not written.
    cache.set(key, {**stored, "edges": []})
    assert selectors.explorer_graph(by="org", filters=filters())["edges"] == []
    cache.set(key, stored)
    assert selectors.explorer_graph(by="org", filters=filters()) == first

    # A write (a new edge, bank -> web) bumps the version: the next read is the graph's.
    services.edges_merge([windowed("bank", ("web", 6, 0))], crawl_id=2, now=NOW + 60_000)
    assert db.version() != version
    after = pairs(selectors.explorer_graph(by="org", filters=filters()))
    assert set(after) == {("org:acme", "org:globex"), ("org:globex", "org:acme")}
    assert after[("org:globex", "org:acme")]["rate_per_min"] == pytest.approx(6)

    # Filters read the graph; a system renamed in the catalog (no graph write) shows its new name.
    assert {n["id"] for n in selectors.explorer_graph(by="team", filters=filters(org="globex"))["nodes"]} == {
        "team:gamma"
    }
    selectors.explorer_graph(by="system", filters=filters())
    catalog_services.owned_update("system", actor=fleet["root"], obj=System.objects.get(slug="shop"), name="Storefront")
    names = {n["id"]: n["name"] for n in selectors.explorer_graph(by="system", filters=filters())["nodes"]}
    assert names["system:shop"] == "Storefront"


def test_warming_reads_each_aggregated_view_into_the_cache(fleet):
    from django.core.cache import cache

    from graph import db

    version = db.version()
    assert all(cache.get(f"graph:explorer:{by}:{version}") is None for by in selectors.EXPLORER_GROUPS)
    selectors.explorer_warm()
    for by in selectors.EXPLORER_GROUPS:
        assert cache.get(f"graph:explorer:{by}:{version}") == selectors._explorer_read(
            by=by, expand=[], only=None, args=dict.fromkeys(("org", "team", "tier", "system")), min_error=None
        )
    # Six services: the flat view and its cycles are warmed too (none: this fleet has no cycle).
    assert set(cache.get(f"graph:explorer:flat:{version}")["nodes"]) >= {"web", "orders", "payments", "bank"}
    assert cache.get(f"graph:cycles:{selectors.EXPLORER_CYCLES}:{version}") == []

    # A cycle written (bank -> web closes web -> payments -> ledger -> bank) is a new version, read anew.
    services.edges_merge([windowed("bank", ("web", 1, 0))], crawl_id=2, now=NOW + 60_000)
    assert selectors.cycles(limit=selectors.EXPLORER_CYCLES) == [["bank", "web", "payments", "ledger", "bank"]]


def test_a_cache_that_fails_after_the_version_was_read_is_read_past(fleet, monkeypatch):
    """Redis answering the version and then failing (a timeout on a large view, a failover):
    the view is read from the graph, not a 500."""
    from django.core.cache import cache
    from redis.exceptions import TimeoutError as RedisTimeout

    def fails(*args, **kwargs):
        raise RedisTimeout("Timeout reading from socket")

    expected = selectors.explorer_graph(by="org", filters=filters())
    monkeypatch.setattr(cache, "get", fails)
    monkeypatch.setattr(cache, "set", fails)
    assert selectors.explorer_graph(by="org", filters=filters()) == expected
    assert selectors.explorer_graph(by="team", filters=filters())["nodes"]
    assert selectors.cycles(limit=selectors.EXPLORER_CYCLES) == []
