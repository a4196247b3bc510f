"""URLs a client gives (webhooks, remote catalog locations, metrics backends) that urlsplit
cannot take apart, or whose port is no port, are refused with a 400 and stored nowhere: a
malformed IPv6 literal or a port out of range used to raise inside the SSRF check (500), and
a location or backend on port 99999 was stored."""

import pytest

from catalog.models import Location
from changes.models import Webhook
from graph.models import MetricsBackend

BAD_PORTS = ["http://10.0.0.9:99999/x.yaml", "http://10.0.0.9:0/x.yaml", "http://10.0.0.9:8o/x.yaml"]
BAD_HOSTS = ["http://[::1/x.yaml", "http://[10.0.0.9]/x.yaml"]


@pytest.fixture
def root_client(world, client):
    client.force_login(world["root"])
    return client


@pytest.mark.parametrize("url", BAD_PORTS + BAD_HOSTS)
def test_webhook_urls(root_client, url):
    body = {"name": "w", "url": url, "types": ["*"], "team": "alpha"}
    response = root_client.post("/api/v1/webhooks/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "webhook_url_refused"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "kind, target",
    [("url", u) for u in BAD_PORTS + BAD_HOSTS]
    + [("git", u.replace("http:", "https:").replace(".yaml", ".git")) for u in BAD_PORTS + BAD_HOSTS],
)
def test_remote_location_targets(root_client, kind, target):
    before = Location.objects.count()
    body = {"kind": kind, "target": target}
    response = root_client.post("/api/v1/catalog/locations/remote/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] and response.json()["detail"]
    assert Location.objects.count() == before


@pytest.mark.parametrize("url", [u.removesuffix("/x.yaml") for u in BAD_PORTS + BAD_HOSTS])
def test_metrics_backend_urls(root_client, url):
    body = {"name": "thanos", "url": url, "auth": "none"}
    response = root_client.post("/api/v1/metrics-backends/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert not MetricsBackend.objects.filter(name="thanos").exists()
