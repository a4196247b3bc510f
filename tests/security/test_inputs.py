"""Hostile input (issue 10, items 1, 8 and 11): specs that point outside themselves, GraphQL
documents too big to be worth parsing, crafted cursors and deeply nested JSON. Each gets a
4xx with a code, through every entry point, and nothing is written, opened or fetched."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from catalog.models import Api

# --- a real listener on loopback that must see nothing --------------------------------------


class Listener:
    """A TCP server on 127.0.0.1 that records every connection (and what it was sent)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                self.connections.append(data)
                body = json.dumps({"type": "object", "description": "LISTENER-SAW-YOU"}).encode()
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    # The listener works: a plain connection is seen (so "saw nothing" below means something).
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as probe:
        probe.sendall(b"GET /probe HTTP/1.0\r\n\r\n")
        probe.recv(100)
    server.connections.clear()
    yield server
    server.close()


@pytest.fixture
def secret_file(tmp_path):
    marker = f"SECRET-MARKER-{uuid.uuid4().hex}"
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"type": "object", "description": marker}))
    return path, marker


@pytest.fixture
def provider(world):
    from catalog.services import service_create

    return service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")


def _spec(ref: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": "1"},
        "paths": {
            "/orders": {
                "get": {
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": ref}}}}
                    }
                }
            }
        },
        "components": {"schemas": {"Order": {"type": "object"}}},
    }


def _external_refs(listener, secret_file) -> list[str]:
    path, _marker = secret_file
    return [
        f"file://{path}",
        f"http://127.0.0.1:{listener.port}/spec.json",
        f"http://127.0.0.1:{listener.port}/spec.json#/components",
        "http://169.254.169.254/latest/meta-data/",
        f"{path}",  # a relative/bare file name
        "secret.json#/",
        f"//127.0.0.1:{listener.port}/x",
    ]


def _rest_create(world, spec):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world["member"])
    body = {"slug": "ext-ref", "name": "E", "provider": "orders", "kind": "openapi", "spec": spec}
    response = client.post("/api/v1/apis/", body, format="json")
    return response.status_code, response.content.decode(), response.json().get("code")


def _graphql_create(world, spec):
    token = Token.objects.get_or_create(user=world["member"])[0].key
    query = (
        'mutation($spec: JSONString) { createApi(provider: "orders", slug: "ext-ref", name: "E", spec: $spec)'
        " { api { slug } } }"
    )
    response = Client().post(
        "/graphql",
        json.dumps({"query": query, "variables": {"spec": json.dumps(spec)}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    body = response.json()
    code = body["errors"][0]["extensions"]["code"] if body.get("errors") else None
    return response.status_code, response.content.decode(), code


def _form_data(provider, spec_text: str) -> dict:
    return {
        "provider": provider.pk,
        "slug": "ext-ref",
        "name": "E",
        "kind": "openapi",
        "version": "1",
        "base_path": "/",
        "lifecycle": "production",
        "spec": spec_text,
    }


def _portal_create(world, spec, provider):
    client = Client()
    client.force_login(world["member"])
    response = client.post("/apis/new/", _form_data(provider, json.dumps(spec)))
    content = response.content.decode()
    return response.status_code, content, "spec_external_ref" if "may only use local references" in content else None


def _admin_create(world, spec, provider):
    client = Client()
    client.force_login(world["root"])
    # The admin shows a service refusal as a message on the page it redirects to.
    response = client.post("/admin/catalog/api/add/", _form_data(provider, json.dumps(spec)), follow=True)
    content = response.content.decode()
    return response.status_code, content, "spec_external_ref" if "may only use local references" in content else None


ENTRY_POINTS = {
    "rest": lambda world, spec, provider: _rest_create(world, spec),
    "graphql": lambda world, spec, provider: _graphql_create(world, spec),
    "portal": _portal_create,
    "admin": _admin_create,
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_external_refs_are_refused_everywhere_and_nothing_is_read(world, provider, listener, secret_file, entry):
    _path, marker = secret_file
    for ref in _external_refs(listener, secret_file):
        status, content, code = ENTRY_POINTS[entry](world, _spec(ref), provider)
        # GraphQL answers a refused mutation with 200 and an error on its path; the admin re-shows its form.
        assert status in (200, 400), (ref, status, content[:500])
        assert code == "spec_external_ref", (ref, content[:1000])
        if entry in ("rest", "graphql"):
            assert ref[:200] in content  # the refusal names the reference
        assert marker not in content and "LISTENER-SAW-YOU" not in content
    assert listener.connections == []
    assert not Api.objects.filter(slug="ext-ref").exists()


@pytest.mark.parametrize("entry", ["graphql", "portal", "admin"])  # REST: tests/security/test_body_size.py
@pytest.mark.parametrize(("text", "code"), [("\ud800", "surrogate_character"), ("a\x00b", "nul_character")])
def test_a_spec_with_text_no_database_stores_is_refused_everywhere(world, provider, entry, text, code):
    """Found by probing: a lone surrogate inside a spec (GraphQL's JSONString, the portal's and
    the admin's text field) was stored, and every later API list and audit read failed (500);
    on PostgreSQL a NUL failed the write itself (500)."""
    spec = {"openapi": "3.0.0", "info": {"title": text, "version": "1"}, "paths": {}}
    status, content, _ = ENTRY_POINTS[entry](world, spec, provider)
    assert status in (200, 400), content[:500]
    assert code in content or ("surrogate" if "surrogate" in code else "NUL") in content, content[:1000]
    assert not Api.objects.filter(slug="ext-ref").exists()


def test_rest_refusal_names_the_reference_and_its_pointer(world, provider, listener):
    ref = f"http://127.0.0.1:{listener.port}/spec.json"
    status, content, code = _rest_create(world, _spec(ref))
    body = json.loads(content)
    assert (status, code) == (400, "spec_external_ref")
    assert body["ref"] == ref
    assert body["pointer"] == "/paths/~1orders/get/responses/200/content/application~1json/schema/$ref"
    assert "spec" in body["fields"]


def test_local_refs_are_accepted(world, provider):
    status, content, _code = _rest_create(world, _spec("#/components/schemas/Order"))
    assert status == 201, content
    assert Api.objects.get(slug="ext-ref").spec["components"]["schemas"]["Order"] == {"type": "object"}


def test_an_id_that_would_rebase_local_refs_is_refused(world, provider, listener):
    spec = _spec("#/components/schemas/Order")
    spec["components"]["schemas"]["Order"] = {"$id": f"http://127.0.0.1:{listener.port}/", "type": "object"}
    spec["openapi"] = "3.1.0"
    status, _content, code = _rest_create(world, spec)
    assert (status, code) == (400, "spec_external_ref")
    assert listener.connections == []


def test_the_validator_itself_resolves_nothing_external(listener, secret_file):
    """Defence in depth: with the pre-check bypassed, the validator's resolver still refuses
    every scheme (file, http, a bare file name, schemes it has no handler for)."""
    from catalog import validators

    path, marker = secret_file
    for ref in [*_external_refs(listener, secret_file), "ftp://127.0.0.1/x", "data:application/json,{}"]:
        with pytest.raises(Exception) as caught:
            validators.openapi_validate_local(_spec(ref))
        assert validators.refused_uri(caught.value) is not None, (ref, caught.value)
        assert marker not in str(caught.value)
    assert listener.connections == []
    validators.openapi_validate_local(_spec("#/components/schemas/Order"))  # local refs still resolve


def test_validation_errors_do_not_echo_the_document(world, provider):
    marker = f"ECHO-{uuid.uuid4().hex}"
    bad_specs = [
        {"openapi": "3.0.3", "info": marker, "paths": {}},
        {"openapi": "3.0.3", "info": {"title": marker}, "paths": {}},
        {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": marker}}}},
        {**_spec("#/components/schemas/Missing"), "x-note": marker},
        {"openapi": marker},
    ]
    for spec in bad_specs:
        for entry in ("rest", "graphql"):
            status, content, code = ENTRY_POINTS[entry](world, spec, provider)
            assert status in (200, 400) and code == "invalid", (entry, content)
            assert marker not in content, (entry, content)
    status, content, _ = _rest_create(world, bad_specs[0])
    assert "/info" in json.loads(content)["detail"]  # the pointer is named


# --- GraphQL documents: refused before parsing ------------------------------------------------


@pytest.fixture
def reader_token(world):
    return Token.objects.create(user=world["reader"]).key


def _gql(token, query, method="post"):
    client = Client()
    if method == "get":
        return client.get(
            "/graphql", {"query": query}, HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json"
        )
    return client.post(
        "/graphql", json.dumps({"query": query}), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )


def _gql_code(response):
    return response.json()["errors"][0]["extensions"]["code"]


def test_a_2mb_document_is_refused_as_too_large(reader_token, settings):
    fields = " ".join(f"f{i}: slug" for i in range(190_000))
    query = "{ services(first: 1) { edges { node { " + fields + " } } } }"
    assert 2_000_000 < len(query) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = _gql(reader_token, query)
    assert response.status_code == 413, response.content[:300]
    assert _gql_code(response) == "query_too_large"
    assert str(settings.GRAPHQL_MAX_BYTES) in response.json()["errors"][0]["message"]
    # A body over Django's upload limit is refused before it is even read as JSON.
    response = _gql(reader_token, query + " " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert response.status_code == 413 and _gql_code(response) == "body_too_large"


def test_byte_cap_counts_utf8_bytes_and_applies_to_every_transport(reader_token, settings):
    settings.GRAPHQL_MAX_BYTES = 1000
    query = '{ search(q: "' + "é" * 600 + '") { slug } }'  # 600 characters, 1,200 bytes
    assert _gql_code(_gql(reader_token, query)) == "query_too_large"
    response = _gql(reader_token, "{ __typename " + "#" * 2000 + "\n}", method="get")
    assert response.status_code == 413 and _gql_code(response) == "query_too_large"
    response = Client().post(
        "/graphql",
        "{ " + "a " * 600 + "}",
        content_type="application/graphql",
        HTTP_AUTHORIZATION=f"Token {reader_token}",
    )
    assert response.status_code == 413 and _gql_code(response) == "query_too_large"


def test_too_many_tokens_is_refused_before_parsing(reader_token, settings):
    query = "{ " + " ".join(["__typename"] * (settings.GRAPHQL_MAX_TOKENS + 10)) + " }"
    assert len(query.encode()) <= settings.GRAPHQL_MAX_BYTES
    response = _gql(reader_token, query)
    assert response.status_code == 400, response.content[:300]
    assert _gql_code(response) == "query_too_many_tokens"


def test_documents_within_the_caps_still_run(reader_token, settings):
    fields = (settings.GRAPHQL_MAX_TOKENS - 2) // 8  # "__typename @include(if: true)" is 8 tokens, cost 1
    query = "{ " + " ".join(["__typename @include(if: true)"] * fields) + " }"
    response = _gql(reader_token, query)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["data"] == {"__typename": "Query"}
    # A syntax error is still the parser's to report.
    response = _gql(reader_token, '{ search(q: "unterminated) }')
    assert response.status_code == 400 and "Syntax Error" in response.json()["errors"][0]["message"]


def test_token_count_agrees_with_graphql_cores_lexer():
    """The pre-parse count is graphql-core's token count (comments count as tokens too)."""
    from graphql import get_introspection_query
    from graphql.language import Lexer, Source, TokenKind

    from core.graphql import _TOKEN

    documents = [
        get_introspection_query(descriptions=True),
        'query Q($a: [Int!]! = [1, -2.5e3], $b: String = "x\\"#y") { ...F s(q: """bl\\"""o"ck""") @skip(if: false) }'
        " fragment F on Query { __typename }",
        '{ a(q: "' + "x" * 5000 + '") b(q: """' + 'line\n"q" x' * 500 + '""") }',
    ]
    for document in documents:
        lexer, expected = Lexer(Source(document)), 0
        while lexer.advance().kind is not TokenKind.EOF:
            expected += 1
        assert sum(1 for _ in _TOKEN.finditer(document)) == expected, document[:80]


def test_graphiql_introspection_query_fits(reader_token):
    from graphql import get_introspection_query

    response = _gql(reader_token, get_introspection_query(descriptions=True))
    assert response.status_code == 200 and "__schema" in response.json()["data"]


# --- Cursors ----------------------------------------------------------------------------------

CURSOR_LISTS = [
    "/api/v1/services/",
    "/api/v1/apis/",
    "/api/v1/orgs/",
    "/api/v1/teams/",
    "/api/v1/keys/",
    "/api/v1/audit/",
    "/api/v1/crawls/",
]


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize("path", CURSOR_LISTS)
def test_crafted_cursors_are_400(world, api, path):
    client = api(world["root"])
    assert client.get(path).status_code == 200
    for cursor in [
        "cD1hYmM=",  # p=abc
        _cursor("p=" + "9" * 40),  # beyond any integer column
        _cursor("p=1.5"),
        _cursor("r=x"),
        _cursor("o=-1"),
        "!!!not-base64",
        "\u00e9t\u00e9",
    ]:
        response = client.get(path, {"cursor": cursor})
        assert response.status_code == 400, (cursor, response.status_code, response.content[:300])
        assert response.json()["code"] == "cursor_invalid"


def test_crafted_cursor_with_another_ordering_is_400(world, api):
    client = api(world["root"])
    response = client.get("/api/v1/services/", {"ordering": "tier", "cursor": _cursor("p=abc")})
    assert response.status_code == 400 and response.json()["code"] == "cursor_invalid"


def test_cursors_the_list_hands_out_still_work(world, api):
    from catalog.services import service_create

    for i in range(5):
        service_create(actor=world["root"], team=world["other_team"], slug=f"svc-{i}", name=f"S{i}")
    client = api(world["root"])
    for ordering in (None, "slug", "tier"):
        params = {"page_size": 2, **({"ordering": ordering} if ordering else {})}
        seen, url = [], "/api/v1/services/"
        while url:
            body = client.get(url, params if url == "/api/v1/services/" else None).json()
            seen += [row["slug"] for row in body["results"]]
            url = body["next"]
        assert sorted(seen) == [f"svc-{i}" for i in range(5)], ordering


# --- Deeply nested JSON -----------------------------------------------------------------------


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
def test_deep_rest_bodies_are_400(world, api, provider, levels):
    client = api(world["member"])
    for path in ("/api/v1/services/", "/api/v1/apis/", "/api/v1/teams/"):
        for payload in (_deep(levels), _deep_list(levels)):
            response = client.generic("POST", path, payload, content_type="application/json")
            assert response.status_code == 400, (path, response.content[:300])
            assert response.json()["code"] == "json_too_deep"
    response = client.generic("PATCH", "/api/v1/services/orders/", _deep(levels), content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "json_too_deep"


def test_deep_spec_is_400_through_rest(world, provider):
    spec = json.loads(_deep(100))
    status, content, code = _rest_create(world, spec)
    assert (status, code) == (400, "json_too_deep"), content[:300]
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, "x-deep": json.loads(_deep(900))}
    body = json.dumps({"slug": "deep", "name": "D", "provider": "orders", "kind": "openapi", "spec": spec})
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world["member"])
    response = client.generic("POST", "/api/v1/apis/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "json_too_deep"
    assert not Api.objects.filter(slug__in=["ext-ref", "deep"]).exists()


def test_a_spec_at_the_body_depth_limit_is_accepted(world, provider, settings):
    spec = _spec("#/components/schemas/Order")
    # The REST body is one level, the spec another: the deepest spec the body can carry.
    spec["x-nested"] = json.loads(_deep(settings.JSON_MAX_DEPTH - 2))
    status, content, _ = _rest_create(world, spec)
    assert status == 201, content[:300]


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
def test_deep_graphql_bodies_and_variables_are_400(world, reader_token, provider, levels):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {reader_token}"}
    query = "query($q: String!) { search(q: $q) { slug } }"
    deep_body = '{"query": "{ __typename }", "variables": ' + _deep(levels) + "}"
    deep_string_vars = json.dumps({"query": query, "variables": _deep(levels)})
    for payload in (deep_body, deep_string_vars, _deep(levels), _deep_list(levels)):
        response = client.post("/graphql", payload, content_type="application/json", **auth)
        assert response.status_code == 400, response.content[:300]
        assert _gql_code(response) == "json_too_deep"
    response = client.get(
        "/graphql", {"query": query, "variables": _deep(levels)}, HTTP_ACCEPT="application/json", **auth
    )
    assert response.status_code == 400 and _gql_code(response) == "json_too_deep"


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
def test_deep_jsonstring_arguments_are_400(world, provider, levels):
    token = Token.objects.create(user=world["member"]).key
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    mutation = 'mutation($spec: JSONString) { createApi(provider: "orders", slug: "deep", name: "D", spec: $spec) { api { slug } } }'
    response = client.post(
        "/graphql",
        json.dumps({"query": mutation, "variables": {"spec": _deep(levels)}}),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 400, response.content[:300]
    assert _gql_code(response) == "json_too_deep"
    if levels < 10_000:  # a literal inside the document (the token cap refuses the largest one first)
        literal = json.dumps(_deep(levels))
        inline = (
            'mutation { createApi(provider: "orders", slug: "deep", name: "D", spec: '
            + literal
            + ") { api { slug } } }"
        )
        response = client.post("/graphql", json.dumps({"query": inline}), content_type="application/json", **auth)
        assert response.status_code == 400, response.content[:300]
        assert _gql_code(response) == "json_too_deep"
    assert not Api.objects.filter(slug="deep").exists()


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
@pytest.mark.parametrize("entry", ["portal", "admin"])
def test_deep_specs_in_forms_are_refused(world, provider, levels, entry):
    client = Client()
    client.force_login(world["member" if entry == "portal" else "root"])
    url = "/apis/new/" if entry == "portal" else "/admin/catalog/api/add/"
    response = client.post(url, _form_data(provider, _deep(levels)))
    assert response.status_code in (200, 400), response.status_code  # the form again, with its error
    assert "nested deeper than" in response.content.decode()
    assert not Api.objects.filter(slug="ext-ref").exists()
