"""DRF's browsable renderer answers a refusal as the JSON renderer does: it calls the view's
permission checks again while it renders, so a refusal raised as a domain error there was a 500
(found by probing: GET /api/v1/metrics-backends/ with Accept: text/html, as a non-superuser)."""

import pytest


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_a_refused_list_is_403_whatever_the_accepted_type(world, client, accept):
    client.force_login(world["member"])
    response = client.get("/api/v1/metrics-backends/", HTTP_ACCEPT=accept)
    assert response.status_code == 403, response.content[:300]
    client.force_login(world["root"])
    assert client.get("/api/v1/metrics-backends/", HTTP_ACCEPT=accept).status_code == 200
