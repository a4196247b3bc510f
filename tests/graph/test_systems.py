"""The graph grouped by system (issue 12): the projection carries each service's system, and
system nodes with summed system-to-system edges come from the real Neo4j, over REST and GraphQL."""

import json

import pytest
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from graph import db, selectors, services
from tests.graph.conftest import windowed

NOW = 1_750_000_000_000


@pytest.fixture
def systems(world, graph):
    """System shop (alpha: web, orders), system money (beta: payments, ledger), search in none."""
    root, alpha, beta = world["root"], world["team"], world["other_team"]
    shop = catalog_services.owned_create("system", actor=root, team=alpha, slug="shop", name="Shop")
    money = catalog_services.owned_create("system", actor=root, team=beta, slug="money", name="Money")
    for slug, team, tier, system in [
        ("web", alpha, 2, shop),
        ("orders", alpha, 1, shop),
        ("payments", beta, 1, money),
        ("ledger", beta, 3, money),
        ("search", alpha, 4, None),
    ]:
        catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier, system=system)
    services.graph_sync()
    services.edges_merge(
        [
            windowed("web", ("orders", 10, 0), ("payments", 30, 3, [80] * 20), ("search", 5, 1)),
            windowed("orders", ("payments", 10, 5), ("ledger", 20, 0, [700] * 20)),
            windowed("payments", ("ledger", 8, 0), ("bank.example:443", 3, 0)),
        ],
        crawl_id=1,
        now=NOW,
    )
    return world


def by_pair(graph):
    return {(e["source"], e["target"]): e for e in graph["edges"]}


def test_projection_carries_the_system_and_follows_a_change(systems, eager, django_capture_on_commit_callbacks):
    rows = db.read("MATCH (s:Service) RETURN s.slug AS slug, s.system AS system ORDER BY slug")
    assert {r["slug"]: r["system"] for r in rows} == {
        "ledger": "money",
        "orders": "shop",
        "payments": "money",
        "search": None,
        "web": "shop",
    }
    from catalog.models import Service, System

    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.service_update(
            actor=systems["root"], service=Service.objects.get(slug="search"), system=System.objects.get(slug="shop")
        )
    assert db.read("MATCH (s:Service {slug: 'search'}) RETURN s.system AS system") == [{"system": "shop"}]
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.service_update(actor=systems["root"], service=Service.objects.get(slug="web"), system=None)
    assert db.read("MATCH (s:Service {slug: 'web'}) RETURN s.system AS system") == [{"system": None}]


def test_system_edges_sum_rates_weight_errors_and_take_the_worst_p95(systems):
    flat = by_pair(selectors.graph())
    grouped = selectors.system_graph()
    nodes = {n["id"]: n for n in grouped["nodes"]}
    assert nodes["system:shop"] == {
        "id": "system:shop",
        "kind": "system",
        "name": "Shop",
        "team": "alpha",
        "tier": 1,
        "system": "shop",
        "services": 2,
    }
    assert nodes["system:money"]["services"] == 2 and nodes["system:money"]["team"] == "beta"
    assert nodes["search"]["kind"] == "service" and nodes["search"]["system"] is None
    assert nodes["bank.example:443"]["kind"] == "endpoint"
    assert set(nodes) == {"system:shop", "system:money", "search", "bank.example:443"}

    edges = by_pair(grouped)
    # web->orders and payments->ledger are inside one system: no loop on its node.
    assert set(edges) == {
        ("system:shop", "system:money"),
        ("system:shop", "search"),
        ("system:money", "bank.example:443"),
    }
    money = edges[("system:shop", "system:money")]
    assert money["edges"] == 3
    assert money["rate_per_min"] == pytest.approx(60.0)  # 30 + 10 + 20
    assert money["error_rate"] == pytest.approx((3 + 5 + 0) / 60)  # weighted by rate, not a mean of rates
    p95s = [flat[pair]["p95_ms"] for pair in [("web", "payments"), ("orders", "ledger")]]
    assert None not in p95s and p95s[0] < p95s[1]
    assert money["p95_ms"] == pytest.approx(max(p95s))
    search = edges[("system:shop", "search")]
    assert (search["edges"], search["rate_per_min"], search["error_rate"], search["p95_ms"]) == (
        1,
        pytest.approx(5.0),
        pytest.approx(0.2),
        None,
    )


def test_expanding_a_system_shows_its_services_and_their_edges(systems):
    grouped = selectors.system_graph(expand=["money"])
    nodes = {n["id"]: n for n in grouped["nodes"]}
    assert set(nodes) == {"system:shop", "payments", "ledger", "search", "bank.example:443"}
    assert nodes["payments"]["system"] == "money" and nodes["payments"]["services"] == 1
    edges = by_pair(grouped)
    assert set(edges) == {
        ("system:shop", "payments"),
        ("system:shop", "ledger"),
        ("system:shop", "search"),
        ("payments", "ledger"),
        ("payments", "bank.example:443"),
    }
    to_payments = edges[("system:shop", "payments")]
    assert to_payments["edges"] == 2 and to_payments["rate_per_min"] == pytest.approx(40.0)
    assert to_payments["error_rate"] == pytest.approx(8 / 40)
    everything = selectors.system_graph(expand=["money", "shop", "no-such-system"])
    assert {(e["source"], e["target"]) for e in everything["edges"]} == set(by_pair(selectors.graph()))


def test_team_filter_keeps_edges_touching_it(systems):
    beta = selectors.system_graph(team="beta")
    nodes = {n["id"]: n for n in beta["nodes"]}
    # shop is reached only through its calls into money: a node without a service count.
    assert nodes["system:shop"]["services"] is None and nodes["system:shop"]["name"] == "Shop"
    assert set(by_pair(beta)) == {("system:shop", "system:money"), ("system:money", "bank.example:443")}


def test_rest_and_graphql(systems, api, client):
    rest = api(systems["reader"])
    body = rest.get("/api/v1/graph/systems?expand=money").json()
    assert body == selectors.system_graph(expand=["money"])
    token = Token.objects.create(user=systems["reader"]).key
    response = client.post(
        "/graphql",
        json.dumps(
            {
                "query": '{ systemGraph(expand: ["money"]) { nodes { id kind name team tier system services }'
                " edges { source target edges ratePerMin errorRate p95Ms } } }"
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    data = response.json()
    assert "errors" not in data, data
    g = data["data"]["systemGraph"]
    assert {(e["source"], e["target"], e["edges"]) for e in g["edges"]} == {
        (e["source"], e["target"], e["edges"]) for e in body["edges"]
    }
    assert {n["id"] for n in g["nodes"]} == {n["id"] for n in body["nodes"]}
    assert api(None).get("/api/v1/graph/systems").status_code == 401


@pytest.mark.parametrize(
    "query, code",
    [("expand=Not%20A%20Slug", "invalid"), ("&".join(f"expand=s{i}" for i in range(101)), "too_many")],
)
def test_bad_expand_is_a_400_with_a_code(systems, api, query, code):
    response = api(systems["reader"]).get(f"/api/v1/graph/systems?{query}")
    assert response.status_code == 400 and response.json()["code"] == code


def test_explorer_data_grouped_by_system(systems, client):
    client.force_login(systems["reader"])
    body = client.get("/graph/data.json?group=system&expand=money").json()
    assert {n["id"] for n in body["nodes"]} == {
        "system:shop",
        "system:money",
        "payments",
        "ledger",
        "search",
        "bank.example:443",
    }
    assert body["cycles"] == []
    bad = client.get("/graph/data.json?group=system&expand=BAD")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
