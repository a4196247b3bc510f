"""Gateway key verification under concurrent load against gunicorn (2 workers), beside a
bare Django view that returns 200 (`/healthz`) measured in the same run, with wrk. Issue 15:
the same with a key that carries a rate limit and a daily quota (never reached), alternating
with the plain key in the same run, and the Redis commands each quota check sends (MONITOR)."""

import os
import subprocess
import time
import urllib.request
import uuid

from django.contrib.auth import get_user_model

from bench.common import Row, peak_rss_mb, web_server, wrk
from catalog import services as catalog_services
from catalog.models import Api, Service
from teams.models import Org, Team

# As many sync workers as cores, and as many connections: no request waits for a worker. (gthread
# workers, as config/gunicorn.py runs them, keep wrk's connections open: in a trial both landed on
# one worker, the machine was 43 % idle and p99 ran from 7 to 213 ms between runs.)
PORT, WORKERS, SECONDS, CONNECTIONS = int(os.environ.get("BENCH_GATEWAY_PORT", 18900)), 2, 10, 2
MONITORED_CHECKS = 200


def _key(**limits) -> str:
    root = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "b@e.x", "bench"
    )
    org = Org.objects.filter(slug="gw").first() or Org.objects.create(slug="gw", name="Gateway bench")
    team = Team.objects.filter(slug="gw-team").first() or Team.objects.create(org=org, slug="gw-team", name="GW")
    provider = Service.objects.filter(slug="gw-orders").first() or catalog_services.service_create(
        actor=root, team=team, slug="gw-orders", name="Orders"
    )
    consumer = Service.objects.filter(slug="gw-web").first() or catalog_services.service_create(
        actor=root, team=team, slug="gw-web", name="Web"
    )
    api = Api.objects.filter(slug="gw-orders-v1").first() or catalog_services.api_create(
        actor=root, provider=provider, slug="gw-orders-v1", name="Orders v1", kind="other"
    )
    _, secret = catalog_services.key_issue(actor=root, api=api, consumer=consumer, name="bench", **limits)
    return secret


def _redis_per_check(url: str, headers: dict, key_id: str) -> dict:
    """Send MONITORED_CHECKS verifications one after another while Redis MONITOR watches this
    database: the commands web processes sent (a script's own commands run inside Redis and
    show as 'lua'), EVALSHA/EVAL and everything, per check."""
    import redis
    from django.conf import settings

    location = settings.CACHES["default"]["LOCATION"]
    db = int(location.rsplit("/", 1)[1] or 0)
    marker = f"bench-end-{uuid.uuid4().hex}"
    time.sleep(1)  # requests wrk left in flight at its deadline finish before anything is counted
    counts = {"quota_script": 0, "all": 0}
    with redis.Redis.from_url(location).monitor() as monitor:
        for _ in range(MONITORED_CHECKS):
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
                assert resp.status == 200 and resp.headers["RateLimit"]
        redis.Redis.from_url(location).echo(marker)
        while True:
            cmd = monitor.next_command()
            if marker in cmd["command"]:
                break
            if cmd["db"] != db or cmd["client_type"] == "lua":
                continue
            counts["all"] += 1
            verb = cmd["command"].split(" ", 1)[0].upper()
            # the quota script names this key's counters; the key-record script (a worker re-reading
            # the record after its Redis copy lapsed) is not part of the quota check
            counts["quota_script"] += (
                verb in ("EVALSHA", "EVAL") and f"gateway:quota:rate:{{{key_id}}}" in cmd["command"]
            )
    return {k: v / MONITORED_CHECKS for k, v in counts.items()}


def _wrk(url: str, headers: dict) -> dict:
    return wrk(url, connections=CONNECTIONS, seconds=SECONDS, headers=headers)


def run():
    secret = _key()
    limited = _key(rate_limit=1_000_000, rate_period="second", daily_quota=1_000_000_000)  # never reached
    with web_server(
        PORT,
        args=["config.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", str(WORKERS), "--log-level", "warning"],
        env={"LOG_LEVEL": "WARNING"},
    ) as server:
        headers = {"X-Api-Key": secret, "X-Target-Api": "gw-orders-v1"}
        quota_headers = {"X-Api-Key": limited, "X-Target-Api": "gw-orders-v1"}
        verify_url = f"http://127.0.0.1:{PORT}/gateway/verify"
        _wrk(verify_url, headers)  # warm every worker's caches
        _wrk(verify_url, quota_headers)  # and load the script into Redis
        bare = _wrk(f"http://127.0.0.1:{PORT}/healthz", {})
        verify = _wrk(verify_url, headers)
        quota = _wrk(verify_url, quota_headers)
        bare2 = _wrk(f"http://127.0.0.1:{PORT}/healthz", {})
        verify2 = _wrk(verify_url, headers)
        quota2 = _wrk(verify_url, quota_headers)
        per_check = _redis_per_check(verify_url, quota_headers, limited.split("_")[1])
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        peak = max(peak_rss_mb(int(w)) for w in workers)
    bare_p99 = min(bare["p99"], bare2["p99"])
    off_p99, on_p99 = min(verify["p99"], verify2["p99"]), min(quota["p99"], quota2["p99"])
    quota_ratio = on_p99 / off_p99
    quota_p50_ratio = min(quota["p50"], quota2["p50"]) / min(verify["p50"], verify2["p50"])
    ratio = verify["p99"] / bare_p99
    yield Row("gateway verify p50", round(verify["p50"], 3), "ms", "", None, verify)
    yield Row("gateway verify p99", round(verify["p99"], 3), "ms", "<= 5 ms", verify["p99"] <= 5, verify)
    yield Row("gateway verify requests/s", round(verify["rps"]), "req/s", "", None)
    yield Row(
        "bare Django 200 view p99 (same run)", round(bare_p99, 3), "ms", "", None, {"first": bare, "second": bare2}
    )
    yield Row("gateway verify p99 / bare view p99", round(ratio, 3), "x", "<= 1.5x", ratio <= 1.5)
    yield Row("web process peak RSS (through the verify load)", round(peak, 1), "MB", "<= 250 MB", peak <= 250)
    yield Row(
        "gateway verify p99 with a rate limit and daily quota (same run)",
        round(on_p99, 3),
        "ms",
        "",
        None,
        {"first": quota, "second": quota2, "without": {"first": verify, "second": verify2}},
    )
    yield Row("gateway verify p99, quotas on / off", round(quota_ratio, 3), "x", "<= 1.3x", quota_ratio <= 1.3)
    yield Row(
        "Redis round trips per quota check (MONITOR: quota script calls)",
        round(per_check["quota_script"], 3),
        "calls",
        "<= 1",
        per_check["quota_script"] <= 1,
        per_check,
    )
    yield Row("gateway verify p50, quotas on / off", round(quota_p50_ratio, 3), "x", "", None)
    for run in (verify, verify2, quota, quota2):
        if run["non_2xx"]:
            raise RuntimeError(f"{run['non_2xx']} verifications failed under load")
