"""GraphQL batching through core/loaders.py: one graph query per field for a page of
services or a team's services, and nothing kept past the request (real Neo4j)."""

import json

import pytest
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from core.loaders import Loader, RequestLoaders
from graph import db
from graph import services as graph_services
from tests.graph.test_graph import result


@pytest.fixture
def fleet(world, graph):
    root = world["root"]
    for slug in ("web", "orders", "payments", "ledger"):
        catalog_services.service_create(actor=root, team=world["team"], slug=slug, name=slug.title())
    graph_services.graph_sync()
    graph_services.edges_merge(
        [result("web", ("service", "orders", 5, 0)), result("orders", ("service", "payments", 5, 0))],
        crawl_id=1,
        now=1000,
    )
    return world


@pytest.fixture
def ask(fleet, client, monkeypatch):
    """Run a GraphQL query; answer its data and the Cypher statements it ran."""
    token = Token.objects.create(user=fleet["reader"]).key
    real_read = db.read

    def run(query):
        calls = []
        monkeypatch.setattr(db, "read", lambda q, **p: calls.append(q) or real_read(q, **p))
        body = client.post(
            "/graphql",
            json.dumps({"query": query}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        ).json()
        monkeypatch.setattr(db, "read", real_read)
        assert "errors" not in body, body
        return body["data"], calls

    return run


def test_a_teams_services_load_their_dependencies_in_one_query(ask):
    d, calls = ask(
        '{ team(slug: "alpha") { services { slug dependencies { slug } callers: dependencies(direction: UP) { slug } } } }'
    )
    deps = {
        s["slug"]: ([x["slug"] for x in s["dependencies"]], [x["slug"] for x in s["callers"]])
        for s in d["team"]["services"]
    }
    assert deps == {
        "web": (["orders"], []),
        "orders": (["payments"], ["web"]),
        "payments": ([], ["orders"]),
        "ledger": ([], []),
    }
    assert len(calls) == 2, calls  # one per field, not one per service


def test_loaders_live_for_one_request(ask):
    query = "{ services(first: 10) { edges { node { slug dependencies { slug } } } } }"
    before, _ = ask(query)
    graph_services.edges_merge([result("ledger", ("service", "web", 1, 0))], crawl_id=2, now=2000)
    after, calls = ask(query)
    deps = {e["node"]["slug"]: [x["slug"] for x in e["node"]["dependencies"]] for e in after["services"]["edges"]}
    assert deps["ledger"] == ["web"] and len(calls) == 1
    assert {e["node"]["slug"]: e["node"]["dependencies"] for e in before["services"]["edges"]}["ledger"] == []


def test_loader_fetches_the_asked_key_with_every_hinted_one_once():
    batches = []

    def batch(keys):
        batches.append(keys)
        return {k: k.upper() for k in keys}

    loaders = RequestLoaders()
    loaders.hint("service", ["a", "b"])
    first = loaders.get("service", "upper", batch)
    assert [first.load("b"), first.load("a"), first.load("c")] == ["B", "A", "C"]
    loaders.hint("service", ["d", "a"])  # a is known: only d is fetched, with the next miss
    assert first.load("e") == "E"
    assert loaders.get("service", "upper", batch) is first
    assert batches == [["a", "b"], ["c"], ["d", "e"]]
    assert Loader(batch).load("x") == "X"
