"""GraphQL: queries, mutations through the service layer, permissions, abuse limits,
N+1 freedom, and parity with REST."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from graph import services as graph_services


def gql(client, query, variables=None, token=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    response = client.post(
        "/graphql",
        json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
        **headers,
        **extra,
    )
    return response


def data(response):
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def error_code(response):
    body = response.json()
    return body["errors"][0]["extensions"]["code"]


@pytest.fixture
def tokens(world):
    return {
        name: Token.objects.create(user=world[name]).key
        for name in ("root", "lead", "member", "orgadmin", "reader", "other")
    }


@pytest.fixture
def chain(world, graph):
    root = world["root"]
    for slug, team in [("web", world["team"]), ("orders", world["team"]), ("payments", world["other_team"])]:
        catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=1)
    graph_services.graph_sync()
    from tests.graph.test_graph import result

    graph_services.edges_merge(
        [result("web", ("service", "orders", 5, 0)), result("orders", ("service", "payments", 5, 1))],
        crawl_id=1,
        now=1000,
    )
    return world


def test_anonymous_gets_401_and_graphiql_needs_sign_in(client):
    assert (
        client.post(
            "/graphql", '{"query":"{ teams(first: 1) { edges { node { slug } } } }"}', content_type="application/json"
        ).status_code
        == 401
    )
    assert client.get("/graphql", HTTP_ACCEPT="text/html").status_code == 401


def test_graphiql_is_served_from_vendored_assets(world, client):
    client.force_login(world["reader"])
    html = client.get("/graphql", HTTP_ACCEPT="text/html").content.decode()
    assert "/static/vendor/graphiql/graphiql.min.js" in html and "cdn" not in html


def test_service_with_owner_dependencies_blast_radius_and_path(chain, client, tokens):
    query = """query($slug: String!) { service(slug: $slug) {
        slug team { slug oncallContact usage { members { current max state } } }
        dependencies(direction: DOWN, depth: 2) { slug distance team }
        blastRadius { affectedServices }
        pathTo(slug: "payments")
        drift { declaredNotSeen seenNotDeclared } } }"""
    svc = data(gql(client, query, {"slug": "web"}, tokens["reader"]))["service"]
    assert svc["team"] == {
        "slug": "alpha",
        "oncallContact": "alpha@oncall",
        "usage": {"members": {"current": 2, "max": 10, "state": "ok"}},
    }
    assert svc["dependencies"] == [
        {"slug": "orders", "distance": 1, "team": "alpha"},
        {"slug": "payments", "distance": 2, "team": "beta"},
    ]
    assert svc["pathTo"] == ["web", "orders", "payments"]
    up = data(
        gql(
            client,
            '{ service(slug: "payments") { dependencies(direction: UP, depth: 3) { slug } '
            "blastRadius { affectedServices teams { team services { slug } } } } }",
            token=tokens["reader"],
        )
    )
    assert [d["slug"] for d in up["service"]["dependencies"]] == ["orders", "web"]
    assert up["service"]["blastRadius"]["affectedServices"] == 2


def test_team_graph_search_crawls_and_endpoints(chain, client, tokens):
    d = data(
        gql(
            client,
            """{ team(slug: "alpha") { services { slug } members { username role }
        teamDependencies { callerTeam calleeTeam edges } }
        graph(team: "beta") { nodes { id } edges { source target errorRate } }
        search(q: "pay") { kind slug url }
        crawlRuns(first: 5) { edges { node { status progress } } }
        unknownEndpoints { key } }""",
            token=tokens["reader"],
        )
    )
    assert sorted(s["slug"] for s in d["team"]["services"]) == ["orders", "web"]
    assert d["team"]["teamDependencies"] == [{"callerTeam": "alpha", "calleeTeam": "beta", "edges": 1}]
    assert d["graph"]["edges"] == [{"source": "orders", "target": "payments", "errorRate": 0.2}]
    assert d["search"] == [{"kind": "service", "slug": "payments", "url": "/services/payments/"}]
    assert d["unknownEndpoints"] == []


def test_mutations_share_limits_permissions_and_audit(world, client, tokens, make_user):
    from core.models import AuditEvent

    make_user("newbie")
    world["org"].max_members_per_team = 2
    world["org"].save()
    add = 'mutation { addMember(team: "alpha", username: "newbie") { member { username } } }'
    denied = gql(client, add, token=tokens["member"])
    assert error_code(denied) == "permission_denied"
    full = gql(client, add, token=tokens["lead"])
    ext = full.json()["errors"][0]["extensions"]
    assert ext == {
        "code": "team_limit_exceeded",
        "limit": "members",
        "max": 2,
        "current": 2,
        "detail": "Team 'alpha' is at its limit of 2 members (2 now).",
    }
    created = data(
        gql(
            client,
            'mutation { createService(team: "alpha", slug: "gql-svc", input: {name: "G", tier: 2})'
            " { service { slug tier team { slug } } } }",
            token=tokens["member"],
        )
    )
    assert created["createService"]["service"] == {"slug": "gql-svc", "tier": 2, "team": {"slug": "alpha"}}
    bad = gql(
        client,
        'mutation { createService(team: "alpha", slug: "x", input: {baseUrl: "ftp://x"}) { service { slug } } }',
        token=tokens["member"],
    )
    assert error_code(bad) == "invalid" and "base_url" in bad.json()["errors"][0]["extensions"]["fields"]
    assert AuditEvent.objects.filter(action="service.create", object_repr="gql-svc").exists()
    moved = gql(
        client,
        'mutation { transferService(slug: "gql-svc", team: "beta") { service { slug } } }',
        token=tokens["member"],
    )
    assert error_code(moved) == "permission_denied"  # a member of alpha only


def test_team_create_update_and_keys(world, client, tokens):
    data(
        gql(
            client,
            'mutation { createTeam(org: "acme", slug: "gamma", name: "G") { team { slug } } }',
            token=tokens["orgadmin"],
        )
    )
    assert (
        error_code(
            gql(
                client,
                'mutation { createTeam(org: "acme", slug: "delta", name: "D") { team { slug } } }',
                token=tokens["lead"],
            )
        )
        == "permission_denied"
    )
    catalog_services.service_create(actor=world["root"], team=world["team"], slug="prov", name="P")
    catalog_services.service_create(actor=world["root"], team=world["other_team"], slug="cons", name="C")
    data(
        gql(
            client,
            'mutation { createApi(provider: "prov", slug: "prov-v1", name: "P1", kind: "other") { api { slug } } }',
            token=tokens["member"],
        )
    )
    issued = data(
        gql(
            client,
            'mutation { issueKey(api: "prov-v1", consumer: "cons", name: "k") { secret key { keyId status } } }',
            token=tokens["lead"],
        )
    )["issueKey"]
    assert issued["secret"].startswith("swb_") and issued["key"]["status"] == "active"
    listed = data(gql(client, "{ keys(first: 10) { edges { node { keyId name } } } }", token=tokens["other"]))
    assert listed["keys"]["edges"] == [{"node": {"keyId": issued["key"]["keyId"], "name": "k"}}]
    assert "secret" not in json.dumps(listed)
    revoked = data(
        gql(
            client,
            'mutation($k: String!) { revokeKey(keyId: $k, reason: "rotating") { key { revokedReason } } }',
            {"k": issued["key"]["keyId"]},
            token=tokens["lead"],
        )
    )
    assert revoked["revokeKey"]["key"]["revokedReason"] == "rotating"


@pytest.mark.parametrize(
    "query,code",
    [
        ("{ teams(first: 1) { edges { node { slug } } ", "GRAPHQL_PARSE_FAILED"),
        ("{ teams(first: 1) { edges { node { nope } } } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ teams(first: "x") { edges { node { slug } } } }', "GRAPHQL_VALIDATION_FAILED"),
        ("{ teams(first: 1) { edges { node { ...Missing } } } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ teams { edges { node { slug } } } }", "first_or_last_required"),
        ("{ teams(first: 1000) { edges { node { slug } } } }", "page_too_large"),
    ],
)
def test_malformed_queries_get_an_error_not_a_500(world, client, tokens, query, code):
    response = gql(client, query, token=tokens["reader"])
    assert response.status_code in (200, 400)
    body = response.json()
    assert body["errors"] and body["errors"][0]["message"]
    assert response.status_code != 500


def test_abusive_queries_are_refused_unrun(world, client, tokens):
    deep = (
        "{ services(first: 1) { edges { node { team { services { team { services { team { services { "
        "team { services { team { slug } } } } } } } } } } } } }"
    )
    assert "exceeds maximum operation depth" in gql(client, deep, token=tokens["reader"]).json()["errors"][0]["message"]
    costly = (
        "{ services(first: 100) { edges { node { dependencies(depth: 6) { slug } blastRadius "
        "{ affectedServices } } } } }"
    )
    assert error_code(gql(client, costly, token=tokens["reader"])) == "query_too_costly"
    by_variable = costly.replace("{ services(first: 100)", "query($n: Int) { services(first: $n)")
    assert error_code(gql(client, by_variable, {"n": 1}, token=tokens["reader"])) == "query_too_costly"
    # Found by probing: a list without pages (a resource's dependents, a team's services) was
    # costed as one item, so 20 aliases ran 560 blast radii under the limit. Each is now
    # assumed to hold LIST_SIZE items for the graph fields below it.
    through_a_list = " ".join(
        f'a{i}: resource(slug: "db") {{ dependents {{ blastRadius {{ affectedServices }} }} }}' for i in range(20)
    )
    assert error_code(gql(client, "{ " + through_a_list + " }", token=tokens["reader"])) == "query_too_costly"
    fragment = "{ teams(first: 10) { edges { node { ...T } } } } fragment T on TeamType { services { drift { declaredNotSeen } } }"
    assert error_code(gql(client, fragment, token=tokens["reader"])) == "query_too_costly"
    small = '{ resource(slug: "db") { dependents { slug dependencies(depth: 1) { slug } } } }'
    assert "errors" not in gql(client, small, token=tokens["reader"]).json()
    aliases = "{ " + " ".join(f'a{i}: search(q: "x") {{ slug }}' for i in range(30)) + " }"
    assert error_code(gql(client, aliases, token=tokens["reader"])) == "too_many_aliases"
    batch = client.post(
        "/graphql",
        json.dumps([{"query": '{ search(q: "a") { slug } }'}] * 2),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {tokens['reader']}",
    )
    assert batch.status_code == 400 and batch.json()["errors"][0]["extensions"]["code"] == "batch_not_supported"
    invalid_json = client.post(
        "/graphql", "{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Token {tokens['reader']}"
    )
    assert invalid_json.status_code == 400


def test_session_mutations_need_csrf(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world["orgadmin"])
    response = gql(client, 'mutation { createTeam(org: "acme", slug: "csrf", name: "C") { team { slug } } }')
    assert response.status_code == 403 and error_code(response) == "csrf_failed"
    client.get("/graphql", HTTP_ACCEPT="text/html")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    ok = gql(
        client,
        'mutation { createTeam(org: "acme", slug: "csrf", name: "C") { team { slug } } }',
        HTTP_X_CSRFTOKEN=token,
    )
    assert data(ok)["createTeam"]["team"]["slug"] == "csrf"


def _count(client, token, first):
    query = (
        "{ services(first: FIRST) { edges { node { slug team { slug org { slug } } apis { slug } } } } "
        "teams(first: FIRST) { edges { node { slug usage { members { current } } members { username } "
        "services { slug } } } } }"
    ).replace("FIRST", str(int(first)))
    with CaptureQueriesContext(connection) as ctx:
        data(gql(client, query, token=token))
    return len(ctx.captured_queries)


def test_sql_query_count_is_the_same_for_10_and_100_rows(world, client, tokens):
    from teams.models import Org
    from teams.services import org_create, team_create

    def grow(n):
        for _ in range(n):
            org = org_create(actor=world["root"], slug=f"o{Org.objects.count()}", name="O")
            team = team_create(actor=world["root"], org=org, slug=f"t{org.slug}", name="T")
            svc = catalog_services.service_create(actor=world["root"], team=team, slug=f"s{org.slug}", name="S")
            catalog_services.api_create(actor=world["root"], provider=svc, slug=f"a{org.slug}", name="A")

    grow(10)
    at_10 = _count(client, tokens["reader"], 10)
    grow(90)
    assert _count(client, tokens["reader"], 100) == at_10


def test_graph_fields_use_one_cypher_query_per_field(chain, client, tokens, monkeypatch):
    from graph import db

    calls = []
    real_read = db.read
    monkeypatch.setattr(db, "read", lambda q, **p: calls.append(q) or real_read(q, **p))
    d = data(
        gql(
            client,
            "{ services(first: 10) { edges { node { slug dependencies(depth: 2) { slug } "
            "callers: dependencies(direction: UP) { slug } } } } }",
            token=tokens["reader"],
        )
    )
    assert len(d["services"]["edges"]) == 3
    assert len(calls) == 2, calls  # one per graph field, not one per service


def test_parity_with_rest(chain, client, tokens, api):
    rest = api(chain["reader"])
    r_services = {s["slug"]: s["team"] for s in rest.get("/api/v1/services/").json()["results"]}
    g = data(
        gql(
            client,
            "{ services(first: 100) { edges { node { slug team { slug } "
            "dependencies(depth: 3) { slug distance } } } } }",
            token=tokens["reader"],
        )
    )
    g_services = {e["node"]["slug"]: e["node"]["team"]["slug"] for e in g["services"]["edges"]}
    assert g_services == r_services
    for edge in g["services"]["edges"]:
        slug = edge["node"]["slug"]
        r_deps = rest.get(f"/api/v1/services/{slug}/dependencies/?depth=3").json()
        assert [(d["slug"], d["distance"]) for d in r_deps] == [
            (d["slug"], d["distance"]) for d in edge["node"]["dependencies"]
        ]
    r_team = rest.get("/api/v1/teams/alpha/").json()["usage"]
    g_team = data(
        gql(
            client,
            '{ team(slug: "alpha") { usage { members { current max } services { current max } } } }',
            token=tokens["reader"],
        )
    )["team"]["usage"]
    assert g_team == {k: {"current": v["current"], "max": v["max"]} for k, v in r_team.items()}
