"""Per-consumer quotas (issue 15): a key's rate limit (GCRA) and daily quota, checked by one Lua
script in the real Redis, with time moved by passing ``now`` (no sleeps)."""

import re

import pytest
import redis
from django.conf import settings as django_settings

from catalog import gateway, services
from catalog.models import ApiKey
from core.limiter import QuotaLimiter

T0 = 1_790_000_000.0  # a fixed instant (2026-09-21 14:13:20 UTC); the tests move it by hand


@pytest.fixture
def setup(world):
    provider = services.service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")
    api = services.api_create(actor=world["root"], provider=provider, slug="orders-v1", name="Orders v1")
    consumer = services.service_create(actor=world["root"], team=world["other_team"], slug="web", name="Web")
    return {**world, "api": api, "consumer": consumer}


def issue(setup, **limits):
    return services.key_issue(actor=setup["lead"], api=setup["api"], consumer=setup["consumer"], name="k", **limits)


def check(secret, now, api="orders-v1"):
    return gateway.key_verify(raw_key=secret, target_api=api, client_ip="192.0.2.1", method="GET", path="/", now=now)


def headers(verdict) -> dict:
    return dict(verdict.headers)


def test_burst_then_429_with_the_retry_after_gcra_gives(setup):
    _, secret = issue(setup, rate_limit=3, rate_period="minute")  # a burst of 3, then one per 20 s
    answers = [check(secret, T0) for _ in range(3)]
    assert [v.status for v in answers] == [200, 200, 200]
    assert [headers(v)["RateLimit"] for v in answers] == ['"rate";r=2;t=20', '"rate";r=1;t=40', '"rate";r=0;t=60']
    assert headers(answers[0])["RateLimit-Policy"] == '"rate";q=3;w=60'
    refused = check(secret, T0 + 5)
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert headers(refused)["Retry-After"] == "15"  # the next slot opens 20 s after T0
    assert headers(refused)["RateLimit"] == '"rate";r=0;t=15'
    assert check(secret, T0 + 19.9).status == 429  # a refused request spends nothing...
    assert check(secret, T0 + 20).status == 200  # ...so the slot is there at 20 s
    assert check(secret, T0 + 20).status == 429
    assert check(secret, T0 + 80).status == 200  # a full minute later the burst is back
    assert headers(check(secret, T0 + 80))["RateLimit"].startswith('"rate";r=1;')


def test_per_second_rate(setup):
    _, secret = issue(setup, rate_limit=2)  # rate_period defaults to second
    assert [check(secret, T0).status for _ in range(3)] == [200, 200, 429]
    assert headers(check(secret, T0 + 0.1))["Retry-After"] == "1"  # whole seconds, never 0
    assert check(secret, T0 + 0.5).status == 200


def test_daily_quota_runs_out_and_comes_back_the_next_utc_day(setup):
    _, secret = issue(setup, daily_quota=2)
    assert headers(check(secret, T0))["RateLimit"].startswith('"daily";r=1;t=')
    assert check(secret, T0 + 1).status == 200
    refused = check(secret, T0 + 2)
    assert (refused.status, refused.code) == (429, "quota_exceeded")
    midnight = (T0 // 86400 + 1) * 86400
    assert headers(refused)["Retry-After"] == str(int(midnight - (T0 + 2)))
    assert headers(refused)["RateLimit-Policy"] == '"daily";q=2;w=86400'
    assert headers(refused)["RateLimit"] == f'"daily";r=0;t={int(midnight - (T0 + 2))}'
    assert check(secret, midnight - 1).status == 429
    assert check(secret, midnight).status == 200  # a new UTC day


def test_rate_and_quota_together_and_a_rate_refusal_spends_no_quota(setup):
    _, secret = issue(setup, rate_limit=1, rate_period="second", daily_quota=3)
    assert check(secret, T0).status == 200
    assert check(secret, T0).code == "rate_limited"
    assert check(secret, T0).code == "rate_limited"
    ok = check(secret, T0 + 1)
    assert ok.status == 200
    assert headers(ok)["RateLimit-Policy"] == '"rate";q=1;w=1, "daily";q=3;w=86400'
    assert headers(ok)["RateLimit"].endswith(', "daily";r=1;t=' + str(int((T0 // 86400 + 1) * 86400 - T0 - 1)))
    assert check(secret, T0 + 2).status == 200
    assert check(secret, T0 + 3).code == "quota_exceeded"
    assert gateway.quotas.used_today(ApiKey.objects.get().key_id, now=T0) == 3


def test_key_without_limits_sends_no_ratelimit_headers_and_asks_redis_nothing(setup):
    _, secret = issue(setup)
    verdict = check(secret, T0)
    assert verdict.status == 200 and "RateLimit" not in headers(verdict)


def _monitor_url() -> str:
    return django_settings.CACHES["default"]["LOCATION"]


def test_one_script_call_per_check_seen_by_redis_monitor(setup):
    """Real Redis MONITOR: each check is one EVALSHA from the client (the script's own
    GET/SET/INCR run inside Redis, as 'lua'), whatever the outcome."""
    key, secret = issue(setup, rate_limit=2, rate_period="minute", daily_quota=100)
    check(secret, T0)  # warm: the key record is cached and the script loaded
    url = _monitor_url()
    db = int(url.rsplit("/", 1)[1] or 0)
    watcher = redis.Redis.from_url(url)
    marker = f"h4-quota-end-{key.key_id}"
    with watcher.monitor() as monitor:
        verdicts = [check(secret, T0 + 1), check(secret, T0 + 2), check(secret, T0 + 3)]  # ok, 429, 429
        redis.Redis.from_url(url).echo(marker)
        seen = []
        while True:
            cmd = monitor.next_command()
            if marker in cmd["command"]:
                break
            if cmd["db"] == db and cmd["client_type"] != "lua" and key.key_id in cmd["command"]:
                seen.append(cmd["command"].split()[0].upper())
    assert [v.status for v in verdicts] == [200, 429, 429]
    assert seen == ["EVALSHA", "EVALSHA", "EVALSHA"]


def test_a_check_after_redis_forgot_the_script_and_closed_the_connection_still_counts(setup):
    """The quota check holds its own connection: after Redis drops every script (as a restart
    does) and closes that connection, the next check reconnects, loads the script and counts."""
    _, secret = issue(setup, rate_limit=2, rate_period="minute")
    assert check(secret, T0).status == 200  # one of two spent; the connection is open
    url = _monitor_url()
    admin = redis.Redis.from_url(url)
    admin.script_flush()
    # This suite's connections only (its database): another suite may share the server.
    ours = [c for c in admin.client_list() if c["db"] == url.rsplit("/", 1)[1] and c["id"] != str(admin.client_id())]
    assert ours and all(admin.client_kill_filter(_id=c["id"]) == 1 for c in ours)
    second = check(secret, T0 + 1)
    assert second.status == 200 and headers(second)["RateLimit"].startswith('"rate";r=0;')
    assert check(secret, T0 + 2).status == 429  # the counter survived: both requests counted


def test_view_answers_429_with_headers_and_a_success_carries_them(setup, client):
    _, secret = issue(setup, rate_limit=2, rate_period="minute")
    first = client.get("/gateway/verify", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1")
    assert first.status_code == 200
    assert first["RateLimit-Policy"] == '"rate";q=2;w=60'
    assert re.fullmatch(r'"rate";r=1;t=\d+', first["RateLimit"])
    client.get("/gateway/verify", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1")
    third = client.get("/gateway/verify", HTTP_X_API_KEY=secret, HTTP_X_TARGET_API="orders-v1")
    assert (
        third.status_code == 429 and third.json()["code"] == "rate_limited" and third["X-Auth-Error"] == "rate_limited"
    )
    assert 1 <= int(third["Retry-After"]) <= 30 and third.json()["detail"]
    assert third["RateLimit"].startswith('"rate";r=0;t=')


def _redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # a real refused connection: nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


def test_redis_down_fails_open_by_default(setup, settings):
    _, secret = issue(setup, rate_limit=1, daily_quota=1)
    assert "RateLimit" in headers(check(secret, T0 - 86_400))  # this thread now holds a connection...
    _redis_down(settings)  # ...which the settings change retires: the next checks go to the new server
    answers = [check(secret, T0) for _ in range(3)]
    assert [v.status for v in answers] == [200, 200, 200] and "RateLimit" not in headers(answers[0])


def test_redis_down_fails_closed_when_set(setup, settings):
    _, secret = issue(setup, rate_limit=1)
    _, free = services.key_issue(actor=setup["lead"], api=setup["api"], consumer=setup["consumer"], name="free")
    _redis_down(settings)
    settings.GATEWAY_QUOTA_REDIS_DOWN = "closed"
    refused = check(secret, T0)
    assert (refused.status, refused.code) == (503, "quota_unavailable") and headers(refused)["Retry-After"]
    assert check(free, T0).status == 200  # a key without limits does not need Redis


def test_limits_are_set_through_rest_and_reach_the_gateway(setup, api, django_capture_on_commit_callbacks):
    lead = api(setup["lead"])
    issued = lead.post(
        "/api/v1/keys/",
        {"api": "orders-v1", "consumer": "web", "name": "k", "rate_limit": 5, "rate_period": "minute"},
        format="json",
    )
    assert issued.status_code == 201, issued.content
    body = issued.json()
    assert (body["rate_limit"], body["rate_period"], body["daily_quota"]) == (5, "minute", None)
    check(body["secret"], T0 - 100)  # the record is now cached in this process and in Redis
    with django_capture_on_commit_callbacks(execute=True):
        changed = lead.post(f"/api/v1/keys/{body['id']}/limits/", {"rate_limit": 1, "daily_quota": 10}, format="json")
    assert changed.status_code == 200 and (changed.json()["rate_limit"], changed.json()["daily_quota"]) == (1, 10)
    assert (
        headers(check(body["secret"], T0))["RateLimit-Policy"] == '"rate";q=1;w=60, "daily";q=10;w=86400'
    )  # the cached record was dropped on commit
    bad = lead.post(f"/api/v1/keys/{body['id']}/limits/", {"rate_limit": 0}, format="json")
    assert bad.status_code == 400 and bad.json()["code"]
    bad_period = lead.post(f"/api/v1/keys/{body['id']}/limits/", {"rate_period": "hour"}, format="json")
    assert bad_period.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        cleared = lead.post(
            f"/api/v1/keys/{body['id']}/limits/", {"rate_limit": None, "daily_quota": None}, format="json"
        )
    assert cleared.status_code == 200 and "RateLimit" not in headers(check(body["secret"], T0))
    consumer_side = api(setup["other"]).post(f"/api/v1/keys/{body['id']}/limits/", {"rate_limit": 9}, format="json")
    assert consumer_side.status_code in (403, 404)
    assert ApiKey.objects.get(pk=body["id"]).rate_limit is None


def test_limits_set_on_approval(setup, api):
    requested = services.key_request(actor=setup["other"], api=setup["api"], consumer=setup["consumer"], name="r")
    approved = api(setup["lead"]).post(
        f"/api/v1/keys/{requested.pk}/approve/", {"daily_quota": 1000, "rate_limit": 50}, format="json"
    )
    assert approved.status_code == 200, approved.content
    assert (approved.json()["daily_quota"], approved.json()["rate_limit"]) == (1000, 50)


@pytest.mark.unit
def test_limiter_keys_share_one_hash_slot():
    keys = QuotaLimiter("x")._keys("abc", 5)
    assert all("{abc}" in k for k in keys)


def test_key_page_shows_usage_against_quota_and_the_limits_form_sets_them(setup, client):
    import time

    key, secret = issue(setup, daily_quota=10, rate_limit=100)
    for _ in range(3):
        assert check(secret, time.time()).status == 200
    client.force_login(setup["lead"])
    page = client.get("/keys/").content.decode()
    assert "3 / 10 today" in page and '<progress max="100" value="30"' in page and "100/second" in page
    saved = client.post(f"/keys/{key.pk}/limits/", {"rate_limit": "7", "rate_period": "minute", "daily_quota": ""})
    assert saved.status_code == 302
    key.refresh_from_db()
    assert (key.rate_limit, key.rate_period, key.daily_quota) == (7, "minute", None)
    refused = client.post(f"/keys/{key.pk}/limits/", {"rate_limit": "0"})
    assert refused.status_code == 400 and ApiKey.objects.get(pk=key.pk).rate_limit == 7


def test_graphql_issues_keys_with_limits_and_changes_them(setup, client):
    client.force_login(setup["lead"])

    def gql(query):
        return client.post("/graphql", {"query": query}, content_type="application/json").json()

    issued = gql(
        'mutation { issueKey(api: "orders-v1", consumer: "web", name: "g", rateLimit: 3, ratePeriod: "minute", '
        "dailyQuota: 50) { secret key { keyId rateLimit ratePeriod dailyQuota } } }"
    )
    key = issued["data"]["issueKey"]["key"]
    assert (key["rateLimit"], key["ratePeriod"], key["dailyQuota"]) == (3, "minute", 50)
    changed = gql(f'mutation {{ setKeyLimits(keyId: "{key["keyId"]}", dailyQuota: null) {{ key {{ dailyQuota }} }} }}')
    assert changed["data"]["setKeyLimits"]["key"]["dailyQuota"] is None
    bad = gql(f'mutation {{ setKeyLimits(keyId: "{key["keyId"]}", ratePeriod: "hour") {{ key {{ keyId }} }} }}')
    assert bad["errors"] and ApiKey.objects.get(key_id=key["keyId"]).rate_period == "minute"
