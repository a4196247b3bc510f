"""A REST body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with the API's JSON error shape."""

import json


def test_an_oversized_rest_body_is_413_in_the_json_error_shape(world, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client.force_login(world["member"])
    body = json.dumps({"slug": "big", "name": "x" * 4096, "team": "alpha"})
    response = client.post("/api/v1/services/", body, content_type="application/json")
    assert response.status_code == 413, response.content[:200]
    assert response.json()["code"] == "body_too_large"
