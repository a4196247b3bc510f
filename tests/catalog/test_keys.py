"""API keys: format, lifecycle, permissions, and the gateway check."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import services
from catalog.models import ApiKey
from core import keys
from core.errors import Conflict, PermissionDenied
from core.models import AuditEvent


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


@pytest.mark.unit
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


def test_scopes_limit_methods_and_paths(setup, client, settings):
    settings.GATEWAY_MODE = "nginx"
    _, secret = issue(setup, scopes=["GET /orders", "POST /orders/search"])
    assert verify(client, secret, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/orders/7").status_code == 200
    denied = verify(client, secret, HTTP_X_ORIGINAL_METHOD="DELETE", HTTP_X_ORIGINAL_URI="/orders/7")
    assert denied.status_code == 403 and denied.json()["code"] == "scope_denied"
    # Envoy ext_authz appends the original path to the check URL
    settings.GATEWAY_MODE = "envoy"
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
    # The next discovery run's gateway source turns the flushed counts into evidence.
    from graph import db
    from graph.services import crawl_inline

    gateway = crawl_inline().results.get(source="gateway")
    assert (gateway.target_key, gateway.ok, gateway.edges) == ("gateway", True, 1)
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


# --- Gateway paths (issue 10, item 2) ----------------------------------------------------
BYPASSES = [
    "/orders/../admin",
    "/orders/%2e%2e/admin",
    "/orders/..%2fadmin",
    "/orders/./../admin",
    "/orders//../../admin",
]


@pytest.mark.parametrize("bypass", BYPASSES)
def test_envoy_path_bypasses_are_refused(setup, client, bypass):
    """Envoy appends the raw path; gunicorn hands it over undecoded in RAW_URI."""
    _, secret = issue(setup, scopes=["GET /orders/"])
    ok = verify(client, secret, RAW_URI="/gateway/verify/orders/7?x=1")
    assert ok.status_code == 200
    response = verify(client, secret, RAW_URI=f"/gateway/verify{bypass}")
    assert response.status_code == 403 and response.json()["code"] in ("path_invalid", "scope_denied"), bypass


@pytest.mark.parametrize("bypass", BYPASSES)
def test_nginx_path_bypasses_are_refused(setup, client, settings, bypass):
    settings.GATEWAY_MODE = "nginx"
    _, secret = issue(setup, scopes=["GET /orders/"])
    assert verify(client, secret, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/orders/7").status_code == 200
    response = verify(client, secret, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI=bypass)
    assert response.status_code == 403 and response.json()["code"] in ("path_invalid", "scope_denied"), bypass


def test_encoded_slash_and_climbing_are_path_invalid_even_for_unscoped_keys(setup, client):
    _, secret = issue(setup)
    for raw in ("/orders/..%2fadmin", "/orders//../../admin", "/a/%00", "/a/..%5c"):
        response = verify(client, secret, RAW_URI=f"/gateway/verify{raw}")
        assert response.status_code == 403 and response.json()["code"] == "path_invalid", raw
        assert "X-Consumer-Service" not in response


def test_scopes_match_whole_segments(setup, client):
    _, secret = issue(setup, scopes=["GET /orders/items"])
    assert verify(client, secret, RAW_URI="/gateway/verify/orders/items").status_code == 200
    assert verify(client, secret, RAW_URI="/gateway/verify/orders/items/7").status_code == 200
    assert verify(client, secret, RAW_URI="/gateway/verify/orders/itemsXYZ").json()["code"] == "scope_denied"


def test_client_headers_cannot_choose_the_path_in_envoy_mode(setup, client):
    """The Envoy-appended path wins; X-Original-* and X-Forwarded-* are not read."""
    _, secret = issue(setup, scopes=["GET /orders/"])
    spoofed = {
        "HTTP_X_ORIGINAL_URI": "/orders/1",
        "HTTP_X_ORIGINAL_METHOD": "GET",
        "HTTP_X_FORWARDED_URI": "/orders/1",
        "HTTP_X_FORWARDED_METHOD": "GET",
    }
    response = verify(client, secret, RAW_URI="/gateway/verify/admin", **spoofed)
    assert response.status_code == 403 and response.json()["code"] == "scope_denied"
    post = client.post("/gateway/verify/orders/1", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1", **spoofed)
    assert post.json()["code"] == "scope_denied"  # the method is the request's own


def test_forwarded_headers_are_not_read_in_nginx_mode_either(setup, client, settings):
    settings.GATEWAY_MODE = "nginx"
    _, secret = issue(setup, scopes=["GET /orders/"])
    spoofed = {"HTTP_X_FORWARDED_URI": "/orders/1", "HTTP_X_FORWARDED_METHOD": "GET"}
    response = verify(client, secret, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/admin", **spoofed)
    assert response.json()["code"] == "scope_denied"


# --- Client addresses (issue 10, item 4) -------------------------------------------------
def test_rotating_forwarded_for_from_an_untrusted_peer_still_reaches_429(setup, client, settings):
    settings.GATEWAY_FAILURES_PER_MINUTE = 5
    _, secret = issue(setup)
    codes = []
    for n in range(8):
        response = client.get(
            "/gateway/verify",
            HTTP_X_API_KEY="swb_bad",
            HTTP_X_TARGET_API="orders-v1",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        codes.append(response.status_code)
    assert codes[-1] == 429, codes
    assert verify(client, secret, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.200").status_code == 429


def test_a_trusted_proxy_passes_on_its_clients_address(setup, client, settings):
    settings.GATEWAY_FAILURES_PER_MINUTE = 5
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    _, secret = issue(setup)
    for _ in range(8):
        client.get(
            "/gateway/verify",
            HTTP_X_API_KEY="swb_bad",
            HTTP_X_TARGET_API="orders-v1",
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.7",  # the client wrote 9.9.9.9 itself
        )
    blocked = verify(client, secret, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="9.9.9.8, 198.51.100.7")
    assert blocked.status_code == 429
    other = verify(client, secret, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 198.51.100.8")
    assert other.status_code == 200
    garbage = verify(client, secret, REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="198.51.100.7, <script>")
    assert garbage.status_code == 200  # not an IP: the proxy's own address is the bucket


# --- Invalidation on every change (issue 10, item 3) -------------------------------------
@pytest.fixture
def no_local_cache(settings):
    """Every verification reads Redis, as another web process would after 0.5 s."""
    settings.KEY_LOCAL_CACHE_SECONDS = 0


def _redis_record(key):
    from catalog.gateway import _record_key
    from core.redis import client

    raw = client().get(_record_key(key.key_id))
    return None if raw is None else json.loads(raw)


def test_a_record_read_before_an_invalidation_is_not_written_back_after_it(setup, no_local_cache):
    """The race a revocation must win: a process reads the key from the database, the key
    is revoked and its record dropped, then that process tries to cache what it read."""
    from catalog import gateway
    from core.redis import client

    key, secret = issue(setup)
    generation = (client().get(gateway._generation_key(key.key_id)) or b"").decode()
    stale = {"hash": key.secret_hash, "status": "active", "revoked": False}
    gateway.key_cache_forget(key.key_id)  # the revocation's after-commit step
    assert gateway._store_if_unchanged(key.key_id, generation, stale) is False
    assert _redis_record(key) is None
    # A read after the invalidation caches normally.
    fresh = (client().get(gateway._generation_key(key.key_id)) or b"").decode()
    assert gateway._store_if_unchanged(key.key_id, fresh, stale) is True
    assert _redis_record(key) == stale


def test_deleting_the_consumer_service_stops_its_keys(
    setup, client, no_local_cache, django_capture_on_commit_callbacks
):
    key, secret = issue(setup)
    assert verify(client, secret).status_code == 200 and _redis_record(key)
    with django_capture_on_commit_callbacks(execute=True):
        services.service_delete(actor=setup["root"], service=setup["consumer"])
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert verify(client, secret).json()["code"] == "key_unknown"


def test_deleting_the_api_stops_its_keys(setup, client, no_local_cache, django_capture_on_commit_callbacks):
    key, secret = issue(setup)
    assert verify(client, secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.api_delete(actor=setup["lead"], api=setup["api"])
    assert verify(client, secret).json()["code"] == "key_unknown"


def test_transfer_moves_the_consumer_team_header_at_once(
    setup, client, no_local_cache, django_capture_on_commit_callbacks
):
    _, secret = issue(setup)
    assert verify(client, secret)["X-Consumer-Team"] == "beta"
    with django_capture_on_commit_callbacks(execute=True):
        services.service_transfer(actor=setup["root"], service=setup["consumer"], team=setup["team"])
    assert verify(client, secret)["X-Consumer-Team"] == "alpha"


def test_renaming_the_consumer_team_drops_the_cached_records(
    setup, client, no_local_cache, django_capture_on_commit_callbacks
):
    from teams.services import team_update

    key, secret = issue(setup)
    other_key, other_secret = services.key_issue(
        actor=setup["lead"], api=setup["api"], consumer=setup["api"].provider, name="own"
    )
    assert verify(client, secret).status_code == 200 and verify(client, other_secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        team_update(actor=setup["other"], team=setup["other_team"], name="Beta Renamed")
    assert _redis_record(key) is None  # re-read from the database on the next check
    assert _redis_record(other_key)  # another team's keys keep their records
    assert verify(client, secret).status_code == 200


def test_changing_expiry_takes_effect_at_once(setup, client, api, no_local_cache, django_capture_on_commit_callbacks):
    key, secret = issue(setup)
    assert verify(client, secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = api(setup["lead"]).post(
            f"/api/v1/keys/{key.pk}/expiry/", {"expires_at": "2000-01-01T00:00:00Z"}, format="json"
        )
    assert response.status_code == 200 and response.json()["state"] == "expired"
    assert verify(client, secret).json()["code"] == "key_expired"
    assert AuditEvent.objects.filter(action="key.expiry").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.key_expiry_set(actor=setup["lead"], key=key, expires_at=None)
    assert verify(client, secret).status_code == 200
    assert (
        api(setup["other"]).post(f"/api/v1/keys/{key.pk}/expiry/", {"expires_at": None}, format="json").status_code
        == 403
    )
    bad = api(setup["lead"]).post(f"/api/v1/keys/{key.pk}/expiry/", {"expires_at": "soon"}, format="json")
    assert bad.status_code == 400


def test_rotation_keeps_the_old_expiry_unless_a_new_one_is_given(setup):
    expiry = timezone.now() + timedelta(days=30)
    old, _ = issue(setup, expires_at=expiry)
    new, _ = services.key_rotate(actor=setup["lead"], key=old, overlap_seconds=60)
    assert new.expires_at == expiry
    later = timezone.now() + timedelta(days=90)
    newer, _ = services.key_rotate(actor=setup["lead"], key=new, overlap_seconds=60, expires_at=later)
    assert newer.expires_at == later


def test_rest_rotation_keeps_or_sets_expiry(setup, api):
    old, _ = issue(setup, expires_at=timezone.now() + timedelta(days=30))
    kept = api(setup["lead"]).post(f"/api/v1/keys/{old.pk}/rotate/", {"overlap_seconds": 0}, format="json")
    assert kept.status_code == 201 and kept.json()["expires_at"] is not None
    assert kept.json()["expires_at"][:16] == old.expires_at.isoformat()[:16]
    given = api(setup["lead"]).post(
        f"/api/v1/keys/{kept.json()['id']}/rotate/", {"expires_at": "2099-01-01T00:00:00Z"}, format="json"
    )
    assert given.json()["expires_at"].startswith("2099-01-01")


# --- One state everywhere (issue 11) -----------------------------------------------------
def test_state_is_the_same_in_rest_graphql_portal_and_gateway(setup, api, client):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    expired, expired_secret = issue(setup, expires_at=timezone.now() - timedelta(seconds=1))
    active, _ = issue(setup)
    revoked, _ = issue(setup)
    services.key_revoke(actor=setup["lead"], key=revoked, reason="x")
    pending = services.key_request(actor=setup["other"], api=setup["api"], consumer=setup["consumer"], name="p")
    rejected = services.key_request(actor=setup["other"], api=setup["api"], consumer=setup["consumer"], name="r")
    services.key_reject(actor=setup["lead"], key=rejected)
    want = {expired.pk: "expired", active.pk: "active", revoked.pk: "revoked", pending.pk: "pending"}
    want[rejected.pk] = "rejected"
    assert {k.pk: k.state for k in ApiKey.objects.all()} == want
    rest = {k["id"]: k["state"] for k in api(setup["lead"]).get("/api/v1/keys/").json()["results"]}
    assert rest == want
    query = "{ keys(first: 10) { edges { node { keyId name state } } } }"
    token = Token.objects.create(user=setup["lead"]).key
    graphql = client.post(
        "/graphql", json.dumps({"query": query}), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    ).json()
    assert "errors" not in graphql, graphql
    assert sorted(e["node"]["state"] for e in graphql["data"]["keys"]["edges"]) == sorted(want.values())
    portal = Client()
    portal.force_login(setup["lead"])
    page = portal.get("/keys/").content.decode()
    for pk, state in want.items():
        row = page.split(f'id="key-{pk}"', 1)[1].split("</tr>", 1)[0]
        assert f">{state}</span>" in row, (state, row)
    assert verify(client, expired_secret).json()["code"] == "key_expired"


@pytest.mark.unit
def test_the_presented_key_is_read_one_way_for_the_gateway_and_otlp():
    assert keys.presented("", " swb_k ", scheme="api-key") == "swb_k"
    assert keys.presented("Api-Key swb_a", "", scheme="api-key") == "swb_a"
    assert keys.presented("API-KEY swb_a", "", scheme="api-key") == "swb_a"  # schemes are case-insensitive
    assert keys.presented("Bearer swb_b", "", scheme="api-key") == ""  # another scheme is no key here
    assert keys.presented("Bearer swb_b", "", scheme="bearer") == "swb_b"
    assert keys.presented("Bearer swb_b", "swb_x", scheme="bearer") == "swb_x"  # X-Api-Key first, everywhere


def test_rotation_keeps_the_rate_limit_and_daily_quota(setup):
    """Found by probing: a rotated key came out without its limits."""
    old, _ = issue(setup, rate_limit=5, rate_period="minute", daily_quota=100)
    new, _ = services.key_rotate(actor=setup["lead"], key=old, overlap_seconds=60)
    assert (new.rate_limit, new.rate_period, new.daily_quota) == (5, "minute", 100)
