"""API keys: format, lifecycle, permissions, and the gateway check."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import keys, services
from catalog.models import ApiKey, AuditEvent
from config.errors import Conflict, PermissionDenied


@pytest.fixture
def setup(world):
    """alpha provides orders-v1; beta's 'web' consumes it."""
    from catalog.services import api_create, service_create

    provider = service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")
    api = api_create(actor=world["root"], provider=provider, slug="orders-v1", name="Orders v1")
    other_api = api_create(actor=world["root"], provider=provider, slug="orders-admin", name="Admin")
    consumer = service_create(actor=world["root"], team=world["other_team"], slug="web", name="Web")
    return {**world, "api": api, "other_api": other_api, "consumer": consumer}


def verify(client, key, api="orders-v1", **headers):
    return client.get("/gateway/verify", HTTP_X_API_KEY=key, HTTP_X_TARGET_API=api, **headers)


def issue(setup, **kw):
    return services.key_issue(actor=setup["lead"], api=setup["api"], consumer=setup["consumer"], name="k", **kw)


def test_format_has_prefix_id_and_checksum():
    full, key_id, secret_hash = keys.generate()
    assert full.startswith(f"swb_{key_id}_") and len(full) == 4 + 8 + 1 + 40
    assert keys.parse(full) == (key_id, full[13:])
    assert keys.secret_matches(full[13:], secret_hash)
    typo = full[:-1] + ("A" if full[-1] != "A" else "B")
    assert keys.parse(typo) is None


def test_issue_stores_only_a_hash_and_the_secret_never_comes_back(setup, api):
    key, secret = issue(setup)
    row = ApiKey.objects.get(pk=key.pk)
    assert secret not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert row.secret_hash == keys.hash_secret(secret[13:])
    listing = api(setup["lead"]).get("/api/v1/keys/").content.decode()
    detail = api(setup["lead"]).get(f"/api/v1/keys/{key.pk}/").content.decode()
    audit = json.dumps(list(AuditEvent.objects.values("before", "after")), default=str)
    for text in (listing, detail, audit):
        assert secret[13:] not in text and "secret_hash" not in text and row.secret_hash not in text


def test_issue_over_rest_returns_the_secret_once(setup, api):
    response = api(setup["lead"]).post(
        "/api/v1/keys/", {"api": "orders-v1", "consumer": "web", "name": "prod"}, format="json"
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert keys.parse(secret) is not None
    assert "secret" not in api(setup["lead"]).get(f"/api/v1/keys/{response.json()['id']}/").json()


@pytest.mark.parametrize(
    "role,allowed", [("lead", True), ("member", True), ("orgadmin", True), ("other", False), ("reader", False)]
)
def test_only_the_provider_team_issues(setup, role, allowed):
    if allowed:
        services.key_issue(actor=setup[role], api=setup["api"], consumer=setup["consumer"], name="x")
    else:
        with pytest.raises(PermissionDenied):
            services.key_issue(actor=setup[role], api=setup["api"], consumer=setup["consumer"], name="x")
        assert not ApiKey.objects.exists()


def test_consumer_team_requests_and_provider_approves(setup, api):
    consumer_client, provider_client = api(setup["other"]), api(setup["lead"])
    response = consumer_client.post(
        "/api/v1/keys/request/", {"api": "orders-v1", "consumer": "web", "name": "r"}, format="json"
    )
    assert response.status_code == 201 and response.json()["status"] == "pending"
    key_id = response.json()["id"]
    assert consumer_client.post(f"/api/v1/keys/{key_id}/approve/").status_code == 403
    approved = provider_client.post(f"/api/v1/keys/{key_id}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert verify(api(None), approved.json()["secret"]).status_code == 200
    # the consumer's team sees its key's metadata, an unrelated reader does not
    assert [k["id"] for k in consumer_client.get("/api/v1/keys/").json()["results"]] == [key_id]
    assert api(setup["reader"]).get("/api/v1/keys/").json()["results"] == []
    assert provider_client.post(f"/api/v1/keys/{key_id}/approve/").status_code == 409


def test_reject(setup):
    key = services.key_request(actor=setup["other"], api=setup["api"], consumer=setup["consumer"], name="r")
    services.key_reject(actor=setup["lead"], key=key, reason="no")
    assert ApiKey.objects.get(pk=key.pk).status == "rejected"


def test_gateway_accepts_a_good_key_with_consumer_headers(setup, client):
    key, secret = issue(setup)
    response = verify(client, secret)
    assert response.status_code == 200
    assert response["X-Consumer-Service"] == "web" and response["X-Consumer-Team"] == "beta"
    auth = client.get("/gateway/verify", HTTP_AUTHORIZATION=f"Api-Key {secret}", HTTP_X_TARGET_API="orders-v1")
    assert auth.status_code == 200


@pytest.mark.parametrize(
    "raw,code",
    [
        ("", "key_missing"),
        ("x" * 5000, "key_malformed"),
        ("swb_ÄÖÜ" + "a" * 44, "key_malformed"),
        ("sk_live_" + "a" * 40, "key_malformed"),
        ("swb_abcdefgh_" + "a" * 40, "key_malformed"),  # bad checksum
        ("swb_abcdefgh_" + "a" * 20, "key_malformed"),  # truncated
        ("swb_' OR 1=1 --_" + "a" * 30, "key_malformed"),
        ("swb_abcdefgh_aaaa\r\nX-Injected: 1", "key_malformed"),
    ],
)
def test_bad_keys_are_401_with_a_code(setup, client, raw, code, caplog):
    response = client.get("/gateway/verify", HTTP_X_API_KEY=raw, HTTP_X_TARGET_API="orders-v1")
    assert response.status_code == 401 and response.json()["code"] == code
    assert raw[5:] not in caplog.text or not raw


def test_unknown_but_well_formed_key_is_401(setup, client):
    full, _, _ = keys.generate()
    assert verify(client, full).json()["code"] == "key_unknown"


def test_wrong_api_and_unknown_api_are_403(setup, client):
    _, secret = issue(setup)
    assert verify(client, secret, api="orders-admin").status_code == 403
    assert verify(client, secret, api="no-such-api").json()["code"] == "wrong_api"


def test_scopes_limit_methods_and_paths(setup, client):
    _, secret = issue(setup, scopes=["GET /orders", "POST /orders/search"])
    assert verify(client, secret, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/orders/7").status_code == 200
    denied = verify(client, secret, HTTP_X_ORIGINAL_METHOD="DELETE", HTTP_X_ORIGINAL_URI="/orders/7")
    assert denied.status_code == 403 and denied.json()["code"] == "scope_denied"
    # Envoy ext_authz appends the original path to the check URL
    envoy = client.post("/gateway/verify/orders/search", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1")
    assert envoy.status_code == 200


def test_expiry(setup, client):
    _, secret = issue(setup, expires_at=timezone.now() - timedelta(seconds=1))
    response = verify(client, secret)
    assert response.status_code == 401 and response.json()["code"] == "key_expired"


def test_revocation_is_irreversible_and_reported(setup, client, api, django_capture_on_commit_callbacks):
    key, secret = issue(setup)
    assert verify(client, secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = api(setup["lead"]).post(f"/api/v1/keys/{key.pk}/revoke/", {"reason": "leaked"}, format="json")
    assert response.status_code == 200
    assert response.json()["impact"]["consumer"] == "web"
    from catalog.gateway import _local

    _local.clear()  # this process's 0.5 s cache; other processes: see the two-process test
    assert verify(client, secret).json()["code"] == "key_revoked"
    with pytest.raises(Conflict):
        services.key_revoke(actor=setup["lead"], key=key, reason="again")
    assert api(setup["lead"]).post(f"/api/v1/keys/{key.pk}/revoke/", {}, format="json").status_code == 400


def test_rotation_keeps_the_old_key_for_the_overlap_then_expires_it(setup, client, django_capture_on_commit_callbacks):
    old, old_secret = issue(setup)
    verify(client, old_secret)
    with django_capture_on_commit_callbacks(execute=True):
        new, new_secret = services.key_rotate(actor=setup["lead"], key=old, overlap_seconds=60)
    from catalog.gateway import _local

    _local.clear()
    assert verify(client, old_secret).status_code == 200 and verify(client, new_secret).status_code == 200
    assert new.rotated_from_id == old.pk
    with django_capture_on_commit_callbacks(execute=True):
        services.key_rotate(actor=setup["lead"], key=new, overlap_seconds=0)
    _local.clear()
    assert verify(client, new_secret).json()["code"] == "key_expired"


def test_failed_attempts_are_rate_limited_per_address(setup, client, settings):
    settings.GATEWAY_FAILURES_PER_MINUTE = 5
    _, secret = issue(setup)
    for _ in range(6):
        client.get(
            "/gateway/verify", HTTP_X_API_KEY="swb_bad", HTTP_X_TARGET_API="orders-v1", REMOTE_ADDR="198.51.100.7"
        )
    limited = client.get(
        "/gateway/verify", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1", REMOTE_ADDR="198.51.100.7"
    )
    assert limited.status_code == 429
    assert verify(client, secret, REMOTE_ADDR="198.51.100.8").status_code == 200


def test_usage_is_counted_without_a_write_per_request_and_flushed(setup, client, graph):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.gateway import usage_push
    from graph.services import graph_sync

    graph_sync()
    key, secret = issue(setup)
    verify(client, secret)  # warms the caches
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(20):
            assert verify(client, secret).status_code == 200
    assert not [q for q in ctx.captured_queries if not q["sql"].startswith("SELECT")], "a write per request"
    usage_push()
    assert services.key_usage_flush() == 1
    key.refresh_from_db()
    assert key.usage_count == 21 and key.last_used_at is not None
    from graph import db

    edge = db.read("MATCH (:Service {slug:'web'})-[r:CALLS]->(:Service {slug:'orders'}) RETURN r.sources AS s")
    assert edge == [{"s": ["gateway"]}]


def test_an_active_key_is_a_declared_dependency_in_the_graph(setup, graph, eager, django_capture_on_commit_callbacks):
    from graph import db

    with django_capture_on_commit_callbacks(execute=True):
        from graph.services import graph_sync

        graph_sync()
        key, _ = issue(setup)
    assert db.read("MATCH (:Service {slug:'web'})-[:CONSUMES]->(a:Api) RETURN a.slug AS a") == [{"a": "orders-v1"}]
    with django_capture_on_commit_callbacks(execute=True):
        services.key_revoke(actor=setup["lead"], key=key, reason="gone")
    assert db.read("MATCH (:Service {slug:'web'})-[:CONSUMES]->(a:Api) RETURN a.slug AS a") == []
