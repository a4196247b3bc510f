"""Graph results have one shape: the types of graph/results.py, the REST serializers, the
GraphQL types, the OpenAPI document and the real answers of both APIs agree (real Neo4j)."""

import json
import re

import graphene
import pytest
from drf_spectacular.generators import SchemaGenerator
from openapi_schema_validator import OAS30Validator
from rest_framework import serializers
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from graph import results, services
from graph.discovery.latency import Histogram
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge
from tests.graph.test_graph import result

NOW = 1_750_000_000_000  # epoch milliseconds: past a 32-bit integer, as every real time is


@pytest.fixture
def loop(world, graph):
    """web -> orders -> payments -> web (a cycle), payments -> ledger and an unknown endpoint;
    teams alpha (web, orders) and beta (payments, ledger); times in real epoch milliseconds."""
    root, alpha, beta = world["root"], world["team"], world["other_team"]
    for slug, team, tier in [("web", alpha, 1), ("orders", alpha, 2), ("payments", beta, 1), ("ledger", beta, 3)]:
        catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier)
    services.graph_sync()
    services.edges_merge(
        [
            result("web", ("service", "orders", 10, 0)),
            result("orders", ("service", "payments", 8, 2)),
            result(
                "payments", ("service", "web", 2, 0), ("service", "ledger", 8, 0), ("endpoint", "bank.test:443", 3, 0)
            ),
        ],
        crawl_id=1,
        now=NOW,
    )
    # Latency on one edge (spans: a windowed histogram), so both APIs answer numbers and nulls.
    spans = Observation(target="web", source="otlp", service_slug="web", ok=True, window_seconds=60)
    spans.edges.append(
        ObservedEdge("web", Target("service", "orders"), 4, 0, latency=Histogram((10.0, 100.0), (1.0, 3.0, 0.0)))
    )
    services.edges_merge([spans], crawl_id=1, now=NOW)
    return world


def gql(client, token, query):
    response = client.post(
        "/graphql", json.dumps({"query": query}), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def snake(value):
    """GraphQL's camelCase keys as the REST snake_case ones, recursively."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def typed(value):
    """Each leaf as (JSON type, value): 1 and 1.0 differ here."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


# --- the declarations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "result_type, serializer, graphene_type",
    results.result_types(),
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_serializer_and_graphql_type_declare_the_result_type(result_type, serializer, graphene_type):
    assert results.mismatches(result_type, serializer, graphene_type) == []


def test_a_drifted_declaration_is_named():
    """The check finds what was wrong before: an epoch float in GraphQL, a missing field,
    an extra one, a nullable field declared required, a nested type of another shape."""

    class EdgeType(graphene.ObjectType):
        source = graphene.String(required=True)
        target = graphene.String(required=True)
        rate_per_min = graphene.Float()
        error_rate = graphene.Float()
        calls = graphene.Float()
        errors = graphene.Float()
        stale = graphene.Boolean()
        first_seen = graphene.Float()
        last_seen = graphene.BigInt()
        sources = graphene.List(graphene.NonNull(graphene.String))
        p50_ms = graphene.Float()
        p95_ms = graphene.Float()
        p99_ms = graphene.Float()

    class AffectedServiceSerializer(serializers.Serializer):
        slug = serializers.CharField()
        tier = serializers.IntegerField()  # nullable in the result

    class TeamSerializer(serializers.Serializer):
        team = serializers.CharField()
        team_name = serializers.CharField()
        oncall = serializers.CharField()
        chat = serializers.CharField()
        worst_tier = serializers.IntegerField(allow_null=True)
        services = AffectedServiceSerializer(many=True)

    class RadiusSerializer(serializers.Serializer):
        affected_services = serializers.IntegerField()
        teams = TeamSerializer(many=True)
        extra = serializers.CharField()

    assert results.mismatches(results.CallEdge, graphene_type=EdgeType) == [
        "CallEdge.first_seen: GraphQL EdgeType says number or null, the result type says integer or null"
    ]
    assert results.mismatches(results.BlastRadius, serializer_class=RadiusSerializer) == [
        "BlastRadius.service: REST RadiusSerializer lacks it",
        "BlastRadius.extra: REST RadiusSerializer declares it, BlastRadius does not",
        "BlastRadius.teams[].services[].tier: REST AffectedServiceSerializer says integer, "
        "the result type says integer or null",
    ]


# --- the real answers -----------------------------------------------------------------------


def test_rest_and_graphql_answer_the_same_values_with_the_same_types(loop, api, client):
    rest = api(loop["reader"])
    token = Token.objects.create(user=loop["reader"]).key

    g = gql(
        client,
        token,
        """{ graph { nodes { id name team tier kind }
                     edges { source target ratePerMin errorRate calls errors stale firstSeen lastSeen sources
                                 p50Ms p95Ms p99Ms } }
             unknownEndpoints { key host port firstSeen lastSeen callers }
             team(slug: "alpha") { teamDependencies { callerTeam calleeTeam edges ratePerMin } }
             service(slug: "ledger") {
               dependencies(direction: UP, depth: 3) { kind slug name team tier distance }
               blastRadius { service affectedServices
                             teams { team teamName oncall chat worstTier services { slug tier } } }
               drift { declaredNotSeen seenNotDeclared } } }""",
    )
    g = snake(g)
    assert g["graph"]["edges"], "the fixture has edges"
    assert all(e["first_seen"] == NOW for e in g["graph"]["edges"])

    assert typed(g["graph"]) == typed(rest.get("/api/v1/graph").json())
    latency = {(e["source"], e["target"]): (e["p50_ms"], e["p99_ms"]) for e in g["graph"]["edges"]}
    assert latency[("web", "orders")] == (40.0, 98.8) and latency[("orders", "payments")] == (None, None)
    assert typed(g["unknown_endpoints"]) == typed(rest.get("/api/v1/graph/endpoints").json()["endpoints"])
    assert typed(g["team"]["team_dependencies"]) == typed(
        rest.get("/api/v1/graph/coupling?team=alpha").json()["coupling"]
    )
    ledger = g["service"]
    assert typed(ledger["dependencies"]) == typed(
        rest.get("/api/v1/services/ledger/dependencies/?direction=up&depth=3").json()
    )
    assert typed(ledger["blast_radius"]) == typed(rest.get("/api/v1/services/ledger/blast-radius/").json())
    assert ledger["blast_radius"]["service"] == "ledger" and ledger["blast_radius"]["affected_services"] == 3
    assert typed(ledger["drift"]) == typed(rest.get("/api/v1/services/ledger/drift/").json())


# --- the OpenAPI document against the real answers --------------------------------------------


GRAPH_ENDPOINTS = [
    ("/api/v1/graph", "/api/v1/graph"),
    ("/api/v1/graph", "/api/v1/graph?team=beta"),
    ("/api/v1/graph/systems", "/api/v1/graph/systems"),
    ("/api/v1/graph/systems", "/api/v1/graph/systems?expand=none&team=beta"),
    ("/api/v1/graph/coupling", "/api/v1/graph/coupling"),
    ("/api/v1/graph/cycles", "/api/v1/graph/cycles"),
    ("/api/v1/graph/endpoints", "/api/v1/graph/endpoints"),
    ("/api/v1/services/{slug}/dependencies/", "/api/v1/services/web/dependencies/?depth=3"),
    ("/api/v1/services/{slug}/dependencies/", "/api/v1/services/web/dependencies/?direction=up"),
    ("/api/v1/services/{slug}/blast-radius/", "/api/v1/services/web/blast-radius/"),
    ("/api/v1/services/{slug}/drift/", "/api/v1/services/web/drift/"),
    ("/api/v1/services/{slug}/path/", "/api/v1/services/web/path/?to=ledger"),
]


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_graph_answers_match_the_openapi_document(loop, api, openapi):
    rest = api(loop["reader"])
    problems = []
    for template, url in GRAPH_ENDPOINTS:
        response = rest.get(url)
        assert response.status_code == 200, (url, response.content)
        body = response.json()
        schema = openapi["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = OAS30Validator({**schema, "components": openapi["components"]})
        problems += [f"{url}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(body)]
    assert problems == []


def test_openapi_document_says_what_the_graph_endpoints_answer(openapi):
    """Objects where objects are answered, a bare list where a bare list is answered."""

    def resolved(template):
        schema = openapi["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        while "$ref" in schema:
            schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    for template, key in [
        ("/api/v1/graph/coupling", "coupling"),
        ("/api/v1/graph/cycles", "cycles"),
        ("/api/v1/graph/endpoints", "endpoints"),
    ]:
        schema = resolved(template)
        assert schema["type"] == "object" and schema["required"] == [key], template
    deps = resolved("/api/v1/services/{slug}/dependencies/")
    assert deps["type"] == "array"
    params = {p["name"] for p in openapi["paths"]["/api/v1/services/{slug}/dependencies/"]["get"]["parameters"]}
    assert {"page", "page_size"}.isdisjoint(params)
