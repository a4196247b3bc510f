"""REST bodies the API cannot take are refused with its JSON error shape: over
DATA_UPLOAD_MAX_MEMORY_SIZE (413), or with a NUL character or a lone surrogate, text no column
stores or renderer writes (400)."""

import json


def test_an_oversized_rest_body_is_413_in_the_json_error_shape(world, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client.force_login(world["member"])
    body = json.dumps({"slug": "big", "name": "x" * 4096, "team": "alpha"})
    response = client.post("/api/v1/services/", body, content_type="application/json")
    assert response.status_code == 413, response.content[:200]
    assert response.json()["code"] == "body_too_large"


def test_a_nul_character_in_a_json_body_is_400_not_a_database_error(world, client):
    """Found by schemathesis on PostgreSQL: a NUL in a related slug reached the database."""
    client.force_login(world["member"])
    body = json.dumps({"api": "orders\u0000v1", "consumer": "x", "name": "k"})
    response = client.post("/api/v1/keys/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["code"] == "nul_character"


def test_a_nul_character_in_a_query_parameter_is_not_a_server_error(world, client):
    client.force_login(world["member"])
    response = client.get("/api/v1/services/", {"team": "al\x00pha"})
    assert response.status_code in (200, 400), response.content[:200]


def test_a_lone_surrogate_is_400_in_rest_and_graphql(world, client):
    """Found by probing: a choice field's "not a valid choice" message echoed the lone
    surrogate and DRF's renderer failed on it (500); GraphQL passed it to the database."""
    client.force_login(world["member"])
    service = {"slug": "lone", "name": "Lone", "team": "alpha"}
    assert client.post("/api/v1/services/", service, content_type="application/json").status_code == 201
    body = '{"lifecycle": "\\ud800"}'  # the JSON escape of a lone surrogate, as a client sends it
    response = client.patch("/api/v1/services/lone/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["code"] == "surrogate_character"
    paired = '{"description": "\\ud83d\\ude80"}'  # a surrogate pair is a character (U+1F680)
    assert client.patch("/api/v1/services/lone/", paired, content_type="application/json").status_code == 200

    mutation = 'mutation($d: String) { updateService(slug: "lone", input: {description: $d}) { service { slug } } }'
    lone = "\udfff"  # json.dumps writes it as the escape \\udfff
    for variables in ({"d": lone}, json.dumps({"d": lone})):  # an object, or JSON in a string
        body = json.dumps({"query": mutation, "variables": variables})
        response = client.post("/graphql", body, content_type="application/json")
        assert response.status_code == 400, response.content[:300]
        assert response.json()["errors"][0]["extensions"]["code"] == "surrogate_character"
    from catalog.models import Service

    assert Service.objects.get(slug="lone").description == "\U0001f680"
