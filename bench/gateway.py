"""Gateway key verification under concurrent load against gunicorn (2 workers), beside a
bare Django view that returns 200 (`/healthz`) measured in the same run, with wrk."""

import re
import shutil
import subprocess

from django.contrib.auth import get_user_model

from bench.common import Row, peak_rss_mb, web_server
from catalog import services as catalog_services
from catalog.models import Api, Service
from teams.models import Org, Team

# As many sync workers as cores, and as many connections: no request waits for a worker.
PORT, WORKERS, SECONDS, CONNECTIONS = 18900, 2, 10, 2


def _key() -> str:
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
    _, secret = catalog_services.key_issue(actor=root, api=api, consumer=consumer, name="bench")
    return secret


def _wrk(url: str, headers: dict) -> dict:
    args = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{SECONDS}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50": ms("50"),
        "p99": ms("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def run():
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    secret = _key()
    with web_server(
        PORT,
        args=["config.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", str(WORKERS), "--log-level", "warning"],
        env={"LOG_LEVEL": "WARNING"},
    ) as server:
        headers = {"X-Api-Key": secret, "X-Target-Api": "gw-orders-v1"}
        _wrk(f"http://127.0.0.1:{PORT}/gateway/verify", headers)  # warm every worker's caches
        bare = _wrk(f"http://127.0.0.1:{PORT}/healthz", {})
        verify = _wrk(f"http://127.0.0.1:{PORT}/gateway/verify", headers)
        bare2 = _wrk(f"http://127.0.0.1:{PORT}/healthz", {})
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        peak = max(peak_rss_mb(int(w)) for w in workers)
    bare_p99 = min(bare["p99"], bare2["p99"])
    ratio = verify["p99"] / bare_p99
    yield Row("gateway verify p50", round(verify["p50"], 3), "ms", "", None, verify)
    yield Row("gateway verify p99", round(verify["p99"], 3), "ms", "<= 5 ms", verify["p99"] <= 5, verify)
    yield Row("gateway verify requests/s", round(verify["rps"]), "req/s", "", None)
    yield Row(
        "bare Django 200 view p99 (same run)", round(bare_p99, 3), "ms", "", None, {"first": bare, "second": bare2}
    )
    yield Row("gateway verify p99 / bare view p99", round(ratio, 3), "x", "<= 1.5x", ratio <= 1.5)
    yield Row("web process peak RSS (through the verify load)", round(peak, 1), "MB", "<= 250 MB", peak <= 250)
    if verify["non_2xx"]:
        raise RuntimeError(f"{verify['non_2xx']} verifications failed under load")
