"""The gateway check across real processes: two gunicorn web processes, and nginx's
auth_request in front of a tiny upstream."""

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


@pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian nginx is not installed")
def test_nginx_auth_request_round_trip(issued, web_processes, tmp_path):
    (switchboard,) = web_processes(1)
    seen_headers = {}

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self):
            seen_headers.update(self.headers)
            body = b"orders!"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
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
        url = f"http://127.0.0.1:{listen}/orders/42"
        assert status(url, {"X-Api-Key": issued["secret"]}) == 200
        assert seen_headers["X-Consumer-Service"] == "web" and seen_headers["X-Consumer-Team"] == "beta"
        assert status(url, {}) == 401
        secret = issued["secret"]
        assert status(url, {"X-Api-Key": secret[:-1] + ("x" if secret[-1] != "x" else "y")}) == 401
    finally:
        nginx.terminate()
        nginx.wait(10)
        upstream.shutdown()
