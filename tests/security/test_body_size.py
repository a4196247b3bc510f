"""REST bodies the API cannot take are refused with its JSON error shape: over
DATA_UPLOAD_MAX_MEMORY_SIZE (413), or with a NUL character, which no text column stores (400)."""

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
