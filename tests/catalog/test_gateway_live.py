"""The gateway check across real processes: two gunicorn web processes, and nginx's
auth_request in front of a tiny upstream."""

import contextlib
import http.client
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template

import pytest

from catalog import services
from tests.conftest import ROOT, free_port, wait_http

pytestmark = pytest.mark.worker


@contextlib.contextmanager
def nginx_gateway(tmp_path, switchboard: str, upstream_handler):
    """Debian's nginx with the repository's gateway.conf in front of an upstream on loopback,
    asking ``switchboard`` to verify each call; yields nginx's port."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), upstream_handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen = free_port()
    server = Template((ROOT / "scripts" / "nginx" / "gateway.conf").read_text()).safe_substitute(
        LISTEN=f"127.0.0.1:{listen}",
        API_PREFIX="/orders/",
        UPSTREAM=f"http://127.0.0.1:{upstream.server_port}",
        SWITCHBOARD=switchboard,
        API_SLUG="orders-v1",
    )
    for d in ("logs", "tmp"):
        (tmp_path / d).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""worker_processes 1; pid {tmp_path}/nginx.pid; error_log {tmp_path}/logs/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {tmp_path}/tmp; proxy_temp_path {tmp_path}/tmp;
fastcgi_temp_path {tmp_path}/tmp; uwsgi_temp_path {tmp_path}/tmp; scgi_temp_path {tmp_path}/tmp;
{server} }}""")
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"])
    try:
        wait_http(f"http://127.0.0.1:{listen}/orders/")
        yield listen
    finally:
        nginx.terminate()
        nginx.wait(10)
        upstream.shutdown()


@pytest.fixture
def issued(django_user_model):
    from catalog.services import api_create, service_create
    from teams.models import Org, Team

    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    org = Org.objects.create(slug="acme", name="Acme")
    alpha = Team.objects.create(org=org, slug="alpha", name="Alpha")
    beta = Team.objects.create(org=org, slug="beta", name="Beta")
    provider = service_create(actor=root, team=alpha, slug="orders", name="Orders")
    api = api_create(actor=root, provider=provider, slug="orders-v1", name="Orders v1")
    consumer = service_create(actor=root, team=beta, slug="web", name="Web")
    key, secret = services.key_issue(actor=root, api=api, consumer=consumer, name="live")
    return {"root": root, "key": key, "secret": secret}


def status(url: str, headers: dict) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def raw_get(base: str, path: str, headers: dict) -> tuple[int, dict]:
    """GET with the path sent byte for byte (no client-side normalisation or quoting)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        conn.close()


def within_a_second(urls, check) -> dict:
    """Poll every web process until ``check(url)`` holds; the delay each one took."""
    changed_at = time.monotonic()
    seen = {}
    while len(seen) < len(urls) and time.monotonic() - changed_at < 5:
        for url in urls:
            if url not in seen and check(url):
                seen[url] = time.monotonic() - changed_at
        time.sleep(0.02)
    assert set(seen) == set(urls) and max(seen.values()) <= 1.0, seen
    return seen


def test_revocation_reaches_every_web_process_within_a_second(issued, web_processes):
    a, b = web_processes(2)
    headers = {"X-Api-Key": issued["secret"], "X-Target-Api": "orders-v1"}
    assert status(f"{a}/gateway/verify", headers) == 200 and status(f"{b}/gateway/verify", headers) == 200
    services.key_revoke(actor=issued["root"], key=issued["key"], reason="leaked")  # commits: on_commit runs
    revoked_at = time.monotonic()
    seen = {}
    while len(seen) < 2 and time.monotonic() - revoked_at < 5:
        for url in (a, b):
            if url not in seen and status(f"{url}/gateway/verify", headers) == 401:
                seen[url] = time.monotonic() - revoked_at
        time.sleep(0.02)
    assert set(seen) == {a, b} and max(seen.values()) <= 1.0, seen


def test_every_change_reaches_every_web_process_within_a_second(issued, web_processes):
    """Deleting the consumer or the API, transferring the consumer and changing expiry all
    drop the key records after commit, as revocation does."""
    from datetime import UTC, datetime

    from catalog.models import Api
    from teams.models import Team

    root = issued["root"]
    api = Api.objects.get(slug="orders-v1")
    provider = api.provider
    mobile = services.service_create(actor=root, team=Team.objects.get(slug="beta"), slug="mobile", name="Mobile")
    batch = services.service_create(actor=root, team=Team.objects.get(slug="beta"), slug="batch", name="Batch")
    api2 = services.api_create(actor=root, provider=provider, slug="orders-v2", name="Orders v2")
    keys = {
        "transfer": (issued["secret"], "orders-v1"),
        "service_delete": (services.key_issue(actor=root, api=api, consumer=mobile, name="m")[1], "orders-v1"),
        "api_delete": (services.key_issue(actor=root, api=api2, consumer=batch, name="b2")[1], "orders-v2"),
    }
    expiring, expiring_secret = services.key_issue(actor=root, api=api, consumer=batch, name="b")
    keys["expiry"] = (expiring_secret, "orders-v1")
    a, b = web_processes(2)

    def answer(url, which):
        secret, target = keys[which]
        return raw_get(url, "/gateway/verify", {"X-Api-Key": secret, "X-Target-Api": target})

    for which in keys:
        for url in (a, b):
            assert answer(url, which)[0] == 200, which  # every process has the record cached now
    assert answer(a, "transfer")[1]["X-Consumer-Team"] == "beta"

    services.service_transfer(actor=root, service=issued["key"].consumer, team=Team.objects.get(slug="alpha"))
    within_a_second((a, b), lambda url: answer(url, "transfer")[1].get("X-Consumer-Team") == "alpha")
    services.service_delete(actor=root, service=mobile)
    within_a_second((a, b), lambda url: answer(url, "service_delete")[0] == 401)
    services.api_delete(actor=root, api=api2)
    within_a_second((a, b), lambda url: answer(url, "api_delete")[0] == 401)
    services.key_expiry_set(actor=root, key=expiring, expires_at=datetime(2000, 1, 1, tzinfo=UTC))
    within_a_second((a, b), lambda url: answer(url, "expiry")[1].get("X-Auth-Error") == "key_expired")


def test_envoy_paths_are_read_raw_from_gunicorn(issued, web_processes):
    """Envoy appends the original path; gunicorn's RAW_URI keeps %2F and %2e as sent."""
    from catalog.models import Api

    root = issued["root"]
    _, secret = services.key_issue(
        actor=root,
        api=Api.objects.get(slug="orders-v1"),
        consumer=issued["key"].consumer,
        name="s",
        scopes=["GET /orders/"],
    )
    (url,) = web_processes(1)
    headers = {"X-Api-Key": secret, "X-Target-Api": "orders-v1", "X-Original-URI": "/orders/1"}
    assert raw_get(url, "/gateway/verify/orders/7?q=1", headers)[0] == 200
    for bypass in ("/orders/../admin", "/orders/%2e%2e/admin", "/orders/..%2fadmin", "/orders/./../admin"):
        code, answer = raw_get(url, "/gateway/verify" + bypass, headers)
        assert code == 403 and answer["X-Auth-Error"] in ("path_invalid", "scope_denied"), bypass
    # a client's X-Original-URI is not read in envoy mode
    assert raw_get(url, "/gateway/verify/admin", headers)[1]["X-Auth-Error"] == "scope_denied"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian nginx is not installed")
def test_nginx_auth_request_round_trip(issued, web_processes, tmp_path, monkeypatch):
    from catalog.models import Api

    _, scoped = services.key_issue(
        actor=issued["root"],
        api=Api.objects.get(slug="orders-v1"),
        consumer=issued["key"].consumer,
        name="items only",
        scopes=["GET /orders/items"],
    )
    monkeypatch.setenv("GATEWAY_MODE", "nginx")  # the gunicorn behind nginx reads X-Original-*
    (switchboard,) = web_processes(1)
    seen_headers = {}
    seen_paths = []

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self):
            seen_headers.update(self.headers)
            seen_paths.append(self.path)
            body = b"orders!"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with nginx_gateway(tmp_path, switchboard, Upstream) as listen:
        url = f"http://127.0.0.1:{listen}/orders/42"
        assert status(url, {"X-Api-Key": issued["secret"]}) == 200
        assert seen_headers["X-Consumer-Service"] == "web" and seen_headers["X-Consumer-Team"] == "beta"
        assert status(url, {}) == 401
        secret = issued["secret"]
        assert status(url, {"X-Api-Key": secret[:-1] + ("x" if secret[-1] != "x" else "y")}) == 401
        # A key scoped to /orders/items: nginx routes these to the /orders/ location and
        # would pass them upstream as sent; Switchboard refuses them first.
        base = f"http://127.0.0.1:{listen}"
        seen_paths.clear()
        assert raw_get(base, "/orders/items/7", {"X-Api-Key": scoped})[0] == 200
        for bypass in ("/orders/items/../secret", "/orders/items/%2e%2e/secret", "/orders/items/..%2fsecret"):
            code, answer = raw_get(base, bypass, {"X-Api-Key": scoped})
            assert code == 403, (bypass, code)
        assert raw_get(base, "/orders/itemsXYZ", {"X-Api-Key": scoped})[0] == 403
        assert seen_paths == ["/orders/items/7"]


@pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian nginx is not installed")
def test_nginx_passes_ratelimit_and_deprecation_headers_to_the_caller(issued, web_processes, tmp_path, monkeypatch):
    """Issue 15: the caller behind nginx sees RateLimit/RateLimit-Policy on success and on a 429
    (with Retry-After; auth_request's 500 is turned back into Switchboard's 429), and a deprecated
    API's Deprecation, Sunset and Link; after the sunset, 403 api_sunset."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog.models import Api

    root = issued["root"]
    v1 = Api.objects.get(slug="orders-v1")
    v2 = services.api_create(actor=root, provider=v1.provider, slug="orders-v2", name="Orders v2", base_path="/v2/")
    _, limited = services.key_issue(
        actor=root, api=v1, consumer=issued["key"].consumer, name="limited", rate_limit=2, rate_period="minute"
    )
    sunset = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    v1 = services.api_deprecate(actor=root, api=v1, sunset_at=sunset, successor=v2)
    monkeypatch.setenv("GATEWAY_MODE", "nginx")
    (switchboard,) = web_processes(1)

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    with nginx_gateway(tmp_path, switchboard, Upstream) as listen:
        base = f"http://127.0.0.1:{listen}"
        first, second, third = (raw_get(base, "/orders/1", {"X-Api-Key": limited}) for _ in range(3))
        assert first[0] == 200 and second[0] == 200
        assert first[1]["RateLimit-Policy"] == '"rate";q=2;w=60' and first[1]["RateLimit"].startswith('"rate";r=1;t=')
        assert first[1]["Deprecation"] == f"@{int(v1.deprecated_at.timestamp())}"
        assert first[1]["Sunset"] == sunset.strftime("%a, %d %b %Y %H:%M:%S GMT")
        assert first[1]["Link"] == '</v2/>; rel="successor-version"'
        assert third[0] == 429, third
        assert 1 <= int(third[1]["Retry-After"]) <= 30 and third[1]["X-Auth-Error"] == "rate_limited"
        assert third[1]["RateLimit"].startswith('"rate";r=0;t=')
        unlimited = raw_get(base, "/orders/1", {"X-Api-Key": issued["secret"]})
        assert unlimited[0] == 200 and "RateLimit" not in unlimited[1] and unlimited[1]["Deprecation"]
        Api.objects.filter(pk=v1.pk).update(sunset_at=timezone.now() - timedelta(seconds=1))  # the date passes
        from catalog.gateway import key_cache_forget

        key_cache_forget(issued["key"].key_id)
        within_a_second((base,), lambda url: raw_get(url, "/orders/1", {"X-Api-Key": issued["secret"]})[0] == 403)
        refused = raw_get(base, "/orders/1", {"X-Api-Key": issued["secret"]})
        assert refused[1]["X-Auth-Error"] == "api_sunset" and refused[1]["Sunset"]
