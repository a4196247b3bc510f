"""Issue 10, items 5 and 6: the audit trail is read per org, and crawl results never echo
what a crawled server sent (real HTTP listeners on loopback, real Neo4j and Redis)."""

import importlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from catalog import services as catalog_services
from core.models import AuditEvent
from graph import services as graph_services
from graph.models import CrawlRun, TracingSource
from teams import services as team_services
from teams.models import Org
from tests.conftest import ROOT

SECRET = "INTERNAL_SECRET=hunter2-7f3a"


# --- 5. Audit read across orgs ---------------------------------------------------------
@pytest.fixture
def two_orgs(world, make_user):
    """Org A (the world's 'acme') with a service, an API and a key; org Y with its own admin."""
    root = world["root"]
    orders = catalog_services.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    web = catalog_services.service_create(actor=world["member"], team=world["team"], slug="web", name="Web")
    api = catalog_services.api_create(actor=world["member"], provider=orders, slug="orders-v1", name="Orders v1")
    key, _secret = catalog_services.key_issue(actor=world["member"], api=api, consumer=web, name="web-key")
    org_y = team_services.org_create(actor=root, slug="yco", name="Y Co")
    y_admin = make_user("yadmin")
    team_services.org_admin_set(actor=root, org=org_y, user=y_admin, admin=True)
    team_services.team_create(actor=y_admin, org=org_y, slug="y-team", name="Y team")
    return {**world, "key": key, "org_y": org_y, "yadmin": y_admin}


def _audit(api, user) -> list[dict]:
    response = api(user).get("/api/v1/audit/?page_size=500")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_org_admin_of_another_org_sees_none_of_org_a_events(two_orgs, api):
    acme_ids = set(AuditEvent.objects.filter(org__slug="acme").values_list("id", flat=True))
    assert {"service.create", "api.create", "key.issue"} <= set(
        AuditEvent.objects.filter(id__in=acme_ids).values_list("action", flat=True)
    )
    seen_by_y = _audit(api, two_orgs["yadmin"])
    assert seen_by_y, "Y's admin reads Y's own events"
    assert {e["org"] for e in seen_by_y} == {"yco"}
    assert not acme_ids & {e["id"] for e in seen_by_y}
    assert not [e for e in seen_by_y if e["object_type"] == "apikey"]
    key_event = AuditEvent.objects.get(action="key.issue")
    assert api(two_orgs["yadmin"]).get(f"/api/v1/audit/{key_event.pk}/").status_code == 404
    # Org A's admin reads A's events (keys included) and none of Y's; superusers read all.
    seen_by_a = _audit(api, two_orgs["orgadmin"])
    assert {e["org"] for e in seen_by_a} == {"acme"} and key_event.pk in {e["id"] for e in seen_by_a}
    assert len(_audit(api, two_orgs["root"])) == AuditEvent.objects.count()
    # Everyone else: refused, as before.
    assert api(two_orgs["member"]).get("/api/v1/audit/").status_code == 403


def test_events_without_an_org_are_for_superusers_only(two_orgs, api):
    graph_services_schedule_event = AuditEvent.objects.create(
        actor_repr="root", action="crawl.schedule", object_type="periodictask", object_id="1", object_repr="x"
    )
    assert graph_services_schedule_event.pk not in {e["id"] for e in _audit(api, two_orgs["orgadmin"])}
    assert graph_services_schedule_event.pk in {e["id"] for e in _audit(api, two_orgs["root"])}


def test_admin_audit_list_uses_the_same_selector(two_orgs, client):
    y_admin = two_orgs["yadmin"]
    y_admin.is_staff = True
    y_admin.save()
    from django.contrib.auth.models import Permission

    y_admin.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(y_admin)
    page = client.get("/admin/core/auditevent/")
    assert page.status_code == 200
    assert b"web-key" not in page.content and b"orders-v1" not in page.content and b"y-team" in page.content


def test_migration_backfills_the_org_of_existing_events(two_orgs):
    """The data migration, run on events written before the column existed (org empty),
    finds each one's org, including deleted objects' from their snapshots."""
    spare = catalog_services.service_create(actor=two_orgs["member"], team=two_orgs["team"], slug="spare", name="Spare")
    catalog_services.service_delete(actor=two_orgs["member"], service=spare)
    AuditEvent.objects.create(
        actor_repr="root", action="crawl.schedule", object_type="periodictask", object_id="1", object_repr="x"
    )
    expected = dict(AuditEvent.objects.values_list("id", "org_id"))
    assert expected[AuditEvent.objects.get(action="service.delete").pk] == two_orgs["org"].pk
    AuditEvent.objects.update(org=None)
    migration = importlib.import_module("catalog.migrations.0002_auditevent_org")
    # The models as they were when the migration ran (AuditEvent was catalog's then; core owns it now).
    state = MigrationLoader(connection).project_state(("catalog", "0002_auditevent_org"))
    migration.backfill(state.apps, None)
    assert dict(AuditEvent.objects.values_list("id", "org_id")) == expected


# --- 6. Crawler echoes response bodies -------------------------------------------------
class _Telemetry(BaseHTTPRequestHandler):
    """Each path misbehaves in its own way, always with the secret in what it sends."""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self._send(200, "text/plain", b"ok")
        if path == "/bad-line/metrics":
            body = f"# HELP up Up.\nup 1\n{SECRET}\n".encode()
            return self._send(200, f"text/plain; version=0.0.4; note={SECRET}", body)
        if path == "/bad-series/metrics":
            body = f'traces_service_graph_request_total{{client="a",server="b"}} {SECRET.replace("=", "_")}\n'
            return self._send(200, "text/plain", body.encode())
        if path == "/binary/metrics":
            return self._send(200, "application/octet-stream", b"\xff\xfe" + SECRET.encode())
        if path == "/redirect/metrics":
            self.send_response(302)
            self.send_header("Location", f"http://{SECRET.replace('=', '-').lower()}.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/api/v2/dependencies":
            return self._send(200, "application/json", f'[{{"parent": "{SECRET}" '.encode())
        if path == "/api/dependencies":
            return self._send(200, "application/json", b"\xff" + SECRET.encode())
        return self._send(404, "text/plain", SECRET.encode())

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _broken_http_server():
    """A listener that answers with a response line and header aiohttp cannot parse."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n{SECRET}\x01\r\n\r\nabcd".encode())
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return sock, stop


def test_crawl_results_name_line_type_and_size_never_content(world, graph, api):
    root = world["root"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Telemetry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    broken, stop = _broken_http_server()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for slug, path in [
            ("bad-line", "/bad-line/metrics"),
            ("bad-series", "/bad-series/metrics"),
            ("binary", "/binary/metrics"),
            ("redirect", "/redirect/metrics"),
        ]:
            catalog_services.service_create(
                actor=root, team=world["team"], slug=slug, name=slug, base_url=base, metrics_path=path
            )
        catalog_services.service_create(
            actor=root,
            team=world["team"],
            slug="broken",
            name="broken",
            base_url=f"http://127.0.0.1:{broken.getsockname()[1]}",
        )
        TracingSource.objects.create(name="z", kind="zipkin", base_url=base, aggregator=True)
        TracingSource.objects.create(name="j", kind="jaeger", base_url=base, aggregator=True)
        run = graph_services.crawl_inline()
    finally:
        server.shutdown()
        stop.set()
        broken.close()
    errors = dict(run.results.values_list("target", "error"))
    assert errors["bad-line"].startswith("metrics: invalid exposition at line 3 (text/plain, ")
    assert errors["bad-line"].endswith(" bytes)")
    assert "invalid exposition in a call series" in errors["bad-series"]
    assert "not UTF-8" in errors["binary"] and "application/octet-stream" in errors["binary"]
    assert "redirect to another host" in errors["redirect"]
    assert "bad response" in errors["broken"] or "connection failed" in errors["broken"]
    assert errors["zipkin:z"].startswith("not JSON (line 1, column ") and "application/json" in errors["zipkin:z"]
    assert errors["jaeger:j"].startswith("not JSON: not UTF-8 text")
    everything = json.dumps(list(run.results.values()), default=str) + run.error
    assert "hunter2" not in everything.lower() and "internal_secret" not in everything.lower(), errors
    # What every reader sees through the API says the same.
    detail = api(world["reader"]).get(f"/api/v1/crawls/{run.pk}/")
    assert detail.status_code == 200 and "hunter2" not in detail.content.decode().lower()
    assert CrawlRun.objects.count() == 1


def _settings_in_subprocess(env_changes: dict, expression: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DISCOVERY_ALLOWED_NETWORKS")}
    env.update(env_changes)
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; import django; django.setup(); "
        f"from django.conf import settings as s; print({expression})"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_production_default_allow_list_is_rfc1918_only():
    expression = "','.join(str(n) for n in s.DISCOVERY_ALLOWED_NETWORKS)"
    assert _settings_in_subprocess({}, expression) == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    debug = _settings_in_subprocess({"DJANGO_DEBUG": "true"}, expression)
    assert debug.startswith("127.0.0.0/8,::1/128,") and debug.endswith("192.168.0.0/16")
    explicit = _settings_in_subprocess({"DISCOVERY_ALLOWED_NETWORKS": "127.0.0.0/8"}, expression)
    assert explicit == "127.0.0.0/8"


def test_make_run_allows_loopback_explicitly():
    script = (ROOT / "scripts" / "run").read_text()
    assert 'DISCOVERY_ALLOWED_NETWORKS="${DISCOVERY_ALLOWED_NETWORKS:-127.0.0.0/8,' in script


def test_loopback_target_is_refused_under_the_production_default(world, graph, settings):
    """With the default of a production settings run, a loopback target is refused before
    any request: the listener sees nothing."""
    import ipaddress

    settings.DISCOVERY_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12")]
    seen = []

    class Counting(_Telemetry):
        def do_GET(self):
            seen.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        catalog_services.service_create(
            actor=world["root"],
            team=world["team"],
            slug="local",
            name="local",
            base_url=f"http://127.0.0.1:{server.server_port}",
        )
        run = graph_services.crawl_inline()
    finally:
        server.shutdown()
    result = run.results.get(target="local")
    assert not result.ok and "refused" in result.error and seen == []
    assert Org.objects.count() == 1
