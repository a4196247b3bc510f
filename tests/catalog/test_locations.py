"""Issue 12, URL and git locations: a real git repository (``git`` in a temporary directory, a
bare origin served over file://, commits pushed between refreshes), a real HTTP listener for URL
locations and hostile ones (a listener that never answers, a huge body, a redirect to the
metadata address), refresh runs on a real Celery worker, the push webhook's HMAC (GitHub) and
token (GitLab) checks, orphans removed after their grace period, and ``$text`` that cannot leave
the checkout."""

import hashlib
import hmac
import http.server
import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from catalog import services
from catalog.models import Api, Location, LocationRun, ManagedEntity, Service, Team
from core.errors import InvalidInput
from core.models import AuditEvent

ROOT_FILE = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: shop
spec:
  type: organization
  children: [checkout-team]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: checkout-team
spec:
  type: team
  parent: shop
  children: []
"""

CART = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: cart
  description: {description}
spec:
  type: service
  lifecycle: production
  owner: checkout-team
  providesApis: [cart-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: cart-api
spec:
  type: openapi
  lifecycle: production
  owner: checkout-team
  definition:
    $text: {text}
"""

OPENAPI = """\
openapi: 3.0.3
info: {title: Cart, version: "1"}
paths: {}
"""

ORDERS = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: service
  lifecycle: {lifecycle}
  owner: {owner}
"""


def git(*args, cwd):
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


class Repo:
    """A bare origin and a working clone that commits and pushes."""

    def __init__(self, base: Path):
        self.origin = base / "origin.git"
        self.work = base / "work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.origin), cwd=base)
        git("init", "--quiet", "--initial-branch=main", str(self.work), cwd=base)
        git("config", "user.email", "dev@example.com", cwd=self.work)
        git("config", "user.name", "Dev", cwd=self.work)
        git("remote", "add", "origin", str(self.origin), cwd=self.work)

    @property
    def url(self) -> str:
        return f"file://{self.origin}"

    def push(self, files: dict, message="change", remove=()):
        for name, content in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        for name in remove:
            git("rm", "--quiet", name, cwd=self.work)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()


def catalog_files(*, description="Holds the basket", orders_owner="checkout-team", lifecycle="production"):
    return {
        "catalog-info.yaml": ROOT_FILE,
        "services/cart/catalog-info.yaml": CART.format(description=description, text="./openapi.yaml"),
        "services/cart/openapi.yaml": OPENAPI,
        "services/orders/catalog-info.yaml": ORDERS.format(owner=orders_owner, lifecycle=lifecycle),
    }


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path)


def _refresh(location, actor=None):
    run = services.location_refresh(actor=actor, location=location, trigger="manual")
    return services.location_refresh_run(run.pk)


def _create(root, repo, **extra):
    location, secret, run = services.location_create(
        actor=root, kind="git", target=repo.url, branch="main", path_glob="**/catalog-info.yaml", **extra
    )
    return location, secret, services.location_refresh_run(run.pk)


# --- git: import, refresh after a push, unchanged refresh, all or nothing, orphans ------------------
@pytest.mark.django_db
def test_git_location_imports_and_follows_pushes(root, repo):
    first = repo.push(catalog_files())
    location, secret, run = _create(root, repo)
    assert run.status == "succeeded", (run.error, run.errors)
    assert run.revision == first and run.total == 3
    assert {f["file"]: f["entities"] for f in run.files} == {
        "catalog-info.yaml": 2,
        "services/cart/catalog-info.yaml": 2,
        "services/orders/catalog-info.yaml": 1,
    }
    assert Team.objects.get(slug="checkout-team").org.slug == "shop"
    assert Api.objects.get(slug="cart-api").spec["info"]["title"] == "Cart"  # $text next to the descriptor
    assert set(ManagedEntity.objects.filter(location=location).values_list("slug", flat=True)) == {
        "shop",
        "checkout-team",
        "cart",
        "cart-api",
        "orders",
    }
    location.refresh_from_db()
    assert location.revision == first and len(secret) == 64

    # unchanged: nothing in the catalog is written (no audit event, no import time)
    events, imported = AuditEvent.objects.count(), location.imported_at
    run = _refresh(location)
    assert run.status == "unchanged"
    location.refresh_from_db()
    assert AuditEvent.objects.count() == events and location.imported_at == imported

    # a pushed change is applied
    second = repo.push(catalog_files(description="Holds the basket, now bigger"))
    run = _refresh(location)
    assert run.status == "succeeded" and run.revision == second
    assert run.summary["service"] == {"unchanged": 1, "update": 1}
    assert Service.objects.get(slug="cart").description == "Holds the basket, now bigger"

    # all or nothing: one bad file (unknown owner) and a good change elsewhere: nothing changes
    repo.push({**catalog_files(description="changed again", orders_owner="nobody-team")})
    run = _refresh(location)
    assert run.status == "failed" and "nothing was changed" in run.error
    assert [(e["file"], e["field"]) for e in run.errors] == [("services/orders/catalog-info.yaml", "spec.owner")]
    assert run.errors[0]["line"] == 8  # spec.owner
    assert Service.objects.get(slug="cart").description == "Holds the basket, now bigger"
    assert {f["file"]: f["errors"] for f in run.files}["services/orders/catalog-info.yaml"] == 1

    # a removed file: its entity is orphaned (kept, by the default policy)
    repo.push(catalog_files(description="Holds the basket, now bigger"))
    repo.push({}, remove=["services/orders/catalog-info.yaml"], message="orders moves out")
    run = _refresh(location)
    assert run.status == "succeeded", run.errors
    assert run.summary["service"]["orphaned"] == 1
    orphan = ManagedEntity.objects.get(kind="service", slug="orders")
    assert orphan.orphaned_at is not None
    assert services.orphans_sweep(now=timezone.now() + timedelta(days=365))["removed"] == 0  # keep policy
    assert Service.objects.filter(slug="orders").exists()


@pytest.mark.django_db
def test_orphans_are_removed_after_the_grace_period(root, repo):
    repo.push(catalog_files())
    location, _, run = _create(root, repo, orphan_policy="remove", orphan_grace_hours=2)
    assert run.status == "succeeded"
    repo.push({}, remove=["services/cart/catalog-info.yaml", "services/cart/openapi.yaml"], message="cart goes")
    assert _refresh(location).status == "succeeded"
    assert services.orphans_sweep(now=timezone.now() + timedelta(hours=1))["removed"] == 0  # within the grace
    assert Service.objects.filter(slug="cart").exists()
    result = services.orphans_sweep(now=timezone.now() + timedelta(hours=3))
    assert result == {"removed": 2, "refused": []}  # the API first, then its provider
    assert not Service.objects.filter(slug="cart").exists() and not Api.objects.filter(slug="cart-api").exists()
    assert not ManagedEntity.objects.filter(slug__in=["cart", "cart-api"]).exists()
    assert Service.objects.filter(slug="orders").exists()


@pytest.mark.django_db
def test_text_never_leaves_the_checkout(root, repo, tmp_path):
    secret_file = tmp_path / "outside.yaml"
    secret_file.write_text(OPENAPI.replace("Cart", "STOLEN"))
    files = catalog_files()
    files["services/cart/catalog-info.yaml"] = CART.format(description="x", text="../../../outside.yaml")
    repo.push(files)
    location, _, run = _create(root, repo)
    assert run.status == "failed"
    assert any("leaves the descriptor's directory" in e["message"] for e in run.errors)
    assert not Service.objects.exists()

    # a symlink in the repository is checked out as a plain file holding the link's text
    link = repo.work / "services/cart/openapi.yaml"
    link.unlink()
    link.symlink_to(secret_file)
    files["services/cart/catalog-info.yaml"] = CART.format(description="x", text="./openapi.yaml")
    del files["services/cart/openapi.yaml"]
    repo.push(files)
    run = _refresh(location)
    assert all("STOLEN" not in str(e) for e in run.errors)
    assert not Api.objects.filter(spec__icontains="STOLEN").exists()
    assert run.status == "failed"  # the link's text is not an OpenAPI document


@pytest.mark.django_db
def test_git_urls_and_paths_are_checked(root, make_user, repo, settings):
    repo.push(catalog_files())
    user = make_user("dev")
    for url, message in [
        (repo.url, "superusers"),
        (str(repo.origin), "superusers"),
        ("ssh://git@127.0.0.1/x.git", "not allowed"),
        ("git://127.0.0.1/x.git", "not allowed"),
        ("http://127.0.0.1/x.git", "not allowed"),
        ("ext::sh -c touch% /tmp/pwned", "not allowed"),
        ("--upload-pack=touch /tmp/pwned", "repository URL"),
        ("https://169.254.169.254/latest.git", "outside DISCOVERY_ALLOWED_NETWORKS"),
        ("https://user:pw@127.0.0.1/x.git", "Credentials"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            services.location_create(actor=user, kind="git", target=url, branch="main")
        assert message in exc.value.detail, url
    with pytest.raises(InvalidInput, match="not a branch"):
        services.location_create(actor=root, kind="git", target=repo.url, branch="--upload-pack=x")
    with pytest.raises(InvalidInput, match="relative to the repository root"):
        services.location_create(actor=root, kind="git", target=repo.url, branch="main", path_glob="../**/*.yaml")
    settings.CATALOG_GIT_ALLOW_LOCAL = True
    location, _, run = services.location_create(actor=user, kind="git", target=repo.url, branch="main")
    run = services.location_refresh_run(run.pk)
    # cloned (the setting allows it), then refused by the services: the import runs with its
    # creator's permissions, and only superusers create orgs
    assert run.revision and run.total == 3
    assert run.status == "failed" and "nothing was changed" in run.error, run.error
    assert Location.objects.get(pk=location.pk).created_by == user


@pytest.mark.django_db
def test_git_missing_branch_and_size_cap(root, repo, settings):
    repo.push({**catalog_files(), "blob.bin": os.urandom(300_000)})
    location, _, run = services.location_create(actor=root, kind="git", target=repo.url, branch="nope")
    run = services.location_refresh_run(run.pk)
    assert run.status == "failed" and "git clone failed" in run.error and "nope" in run.error
    settings.CATALOG_GIT_MAX_BYTES = 100_000
    location, _, run = services.location_create(
        actor=root, kind="git", target=repo.url + "/", branch="main"
    )  # another target for the same repository
    run = services.location_refresh_run(run.pk)
    assert run.status == "failed" and "CATALOG_GIT_MAX_BYTES" in run.error
    assert not Service.objects.exists()


def _silent_listener():
    """Accepts connections and never answers (a git or HTTP server that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, held


@pytest.mark.django_db
def test_a_git_url_that_hangs_fails_in_bounded_time(root, settings):
    settings.CATALOG_FETCH_TIMEOUT = 2
    server, held = _silent_listener()
    try:
        port = server.getsockname()[1]
        location, _, run = services.location_create(
            actor=root, kind="git", target=f"https://127.0.0.1:{port}/repo.git", branch="main"
        )
        started = time.monotonic()
        run = services.location_refresh_run(run.pk)
        assert run.status == "failed" and "did not finish within 2 s" in run.error
        assert time.monotonic() - started < 30  # bounded (the real bound is the 2 s deadline plus the kill)
    finally:
        server.close()
        for conn in held:
            conn.close()


# --- URL locations ----------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        status, headers, body = self.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.routes
    server.shutdown()
    server.server_close()
    _Handler.routes.clear()


@pytest.mark.django_db
def test_url_location_and_hostile_servers(root, http_server, settings):
    base, routes = http_server
    body = (ROOT_FILE + "---\n" + ORDERS.format(owner="checkout-team", lifecycle="production")).encode()
    routes["/catalog-info.yaml"] = (200, {"Content-Type": "application/yaml"}, body)
    location, _, run = services.location_create(actor=root, kind="url", target=base + "/catalog-info.yaml")
    run = services.location_refresh_run(run.pk)
    assert run.status == "succeeded", (run.error, run.errors)
    assert Service.objects.get(slug="orders").team.slug == "checkout-team"
    assert _refresh(location).status == "unchanged"

    # a redirect to the metadata address is refused, not followed
    routes["/redirect.yaml"] = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    _, _, run = services.location_create(actor=root, kind="url", target=base + "/redirect.yaml")
    run = services.location_refresh_run(run.pk)
    assert run.status == "failed" and "redirect to another host" in run.error
    # a body over CATALOG_MAX_BYTES is cut off while it is read
    settings.CATALOG_MAX_BYTES = 10_000
    routes["/huge.yaml"] = (200, {}, b"# " + b"x" * 50_000)
    _, _, run = services.location_create(actor=root, kind="url", target=base + "/huge.yaml")
    run = services.location_refresh_run(run.pk)
    assert run.status == "failed" and "larger than 10000 bytes" in run.error
    # the metadata address itself is refused when the location is created
    with pytest.raises(InvalidInput, match="outside DISCOVERY_ALLOWED_NETWORKS"):
        services.location_create(actor=root, kind="url", target="http://169.254.169.254/latest/meta-data/")
    # a server that never answers: a clear error after CATALOG_FETCH_TIMEOUT
    settings.CATALOG_FETCH_TIMEOUT = 1
    server, held = _silent_listener()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/catalog-info.yaml"
        _, _, run = services.location_create(actor=root, kind="url", target=url)
        run = services.location_refresh_run(run.pk)
        assert run.status == "failed" and "timed out after 1 s" in run.error
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert Service.objects.count() == 1


# --- the webhook ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_webhook_signatures(root, make_user, api, repo):
    repo.push(catalog_files())
    created = api(root).post(
        "/api/v1/catalog/locations/remote/",
        {"kind": "git", "target": repo.url, "branch": "main"},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret, pk = created.json()["webhook_secret"], created.json()["location"]["id"]
    assert created.json()["run"]["status"] == "queued"
    LocationRun.objects.all().delete()  # the first run (the queue is not started in this test)
    url = f"/api/v1/catalog/locations/{pk}/refresh"
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    anonymous = api()

    answer = anonymous.post(url, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=good)
    assert answer.status_code == 202 and answer.json()["trigger"] == "webhook"
    assert LocationRun.objects.filter(location_id=pk, status="queued").count() == 1
    events_before = LocationRun.objects.count()
    # a second push while one is queued joins it
    again = anonymous.post(url, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=good)
    assert again.json()["id"] == answer.json()["id"]
    for headers in (
        {"HTTP_X_HUB_SIGNATURE_256": good.replace(good[-4:], "0000")},
        {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()},
        {"HTTP_X_HUB_SIGNATURE_256": good[7:]},  # no sha256= prefix
        {"HTTP_X_GITLAB_TOKEN": secret[:-1] + "x"},
    ):
        bad = anonymous.post(url, body, content_type="application/json", **headers)
        assert bad.status_code == 401, headers
        assert bad.json()["code"] == "webhook_signature"
    missing = anonymous.post(url, body, content_type="application/json")
    assert missing.status_code == 401 and missing.json()["code"] == "not_authenticated"
    assert LocationRun.objects.count() == events_before  # no refusal queued anything
    # the body signed is the body sent
    tampered = anonymous.post(url, body + b" ", content_type="application/json", HTTP_X_HUB_SIGNATURE_256=good)
    assert tampered.status_code == 401
    # an unknown location answers as a bad signature (its existence is not revealed)
    assert (
        anonymous.post(
            f"/api/v1/catalog/locations/{pk + 99}/refresh",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=good,
        ).status_code
        == 401
    )
    LocationRun.objects.all().delete()
    gitlab = anonymous.post(url, body, content_type="application/json", HTTP_X_GITLAB_TOKEN=secret)
    assert gitlab.status_code == 202
    # signed in (token): the creator or a superuser; others 403
    LocationRun.objects.all().delete()
    from rest_framework.test import APIClient

    from teams.services import token_create

    other = make_user("other-dev")
    for user, status in ((other, 403), (root, 202)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(actor=user, user=user)}")
        assert client.post(url).status_code == status


# --- real Celery worker, beat's due refreshes -------------------------------------------------------
def _wait_finished(run_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = LocationRun.objects.get(pk=run_id)
        if run.finished_at:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish; see var/test-worker-*.log")


@pytest.mark.django_db(transaction=True)
def test_refresh_runs_on_a_celery_worker(celery_workers, root, repo, settings):
    celery_workers(1, concurrency=1)
    repo.push(catalog_files())
    location, _, run = services.location_create(actor=root, kind="git", target=repo.url, branch="main")
    run = _wait_finished(run.pk)  # queued on commit, run by the worker
    assert run.status == "succeeded", (run.error, run.errors)
    assert run.started_at and run.total == 3 and Service.objects.filter(slug__in=["cart", "orders"]).count() == 2

    # beat: a location refreshed within CATALOG_REFRESH_MINUTES is not due; one refreshed earlier is
    assert services.locations_refresh_due() == 0
    LocationRun.objects.filter(location=location).update(created_at=timezone.now() - timedelta(minutes=31))
    repo.push(catalog_files(lifecycle="deprecated"))
    assert services.locations_refresh_due() == 1
    run = LocationRun.objects.filter(location=location, trigger="schedule").get()
    run = _wait_finished(run.pk)
    assert run.status == "succeeded", (run.error, run.errors)
    assert Service.objects.get(slug="orders").lifecycle == "deprecated"


UNMAPPABLE = """\
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ann
spec:
  memberOf: [checkout-team]
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata:
  name: money
spec:
  owner: shop
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: billing
spec:
  owner: checkout-team
  domain: money
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: invoices
spec:
  type: service
  lifecycle: production
  owner: user:ann
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: orphan-api
spec:
  type: grpc
  lifecycle: production
  owner: checkout-team
  definition:
    $text: https://example.com/orphan.proto
"""


@pytest.mark.django_db
def test_unmappable_entities_refuse_or_are_skipped_with_their_reason(root, repo):
    """Backstage-valid entities Switchboard cannot represent (a service owned by a user, a domain
    owned by an org, an API no component provides, a $text URL) refuse the refresh by default;
    with skip_unmappable they are skipped with the reason, and so is what refers to them (the
    system of the skipped domain); invalid descriptors are refused either way."""
    repo.push({**catalog_files(), "extra/catalog-info.yaml": UNMAPPABLE})
    strict, _, run = _create(root, repo)
    assert run.status == "failed"
    fields = sorted((e["file"], e["field"]) for e in run.errors)
    assert fields == [
        ("extra/catalog-info.yaml", "metadata.name"),  # orphan-api: no provider
        ("extra/catalog-info.yaml", "spec.definition.$text"),
        ("extra/catalog-info.yaml", "spec.owner"),  # money: an org
        ("extra/catalog-info.yaml", "spec.owner"),  # invoices: a user
    ]
    strict.delete()

    lenient, _, run = services.location_create(
        actor=root, kind="git", target=repo.url + "/", branch="main", skip_unmappable=True
    )
    run = services.location_refresh_run(run.pk)
    assert run.status == "succeeded", run.errors
    skipped = {(s["kind"], s["name"]): s["reason"] for s in run.skipped}
    assert set(skipped) == {
        ("Domain", "money"),
        ("System", "billing"),
        ("Component", "invoices"),
        ("API", "orphan-api"),
    }
    assert "maps to a org; a team is needed" in skipped[("Domain", "money")]
    assert "domain:default/money is skipped" in skipped[("System", "billing")]
    assert "maps to a user" in skipped[("Component", "invoices")]
    assert Service.objects.filter(slug__in=["cart", "orders"]).count() == 2
    assert not Service.objects.filter(slug="invoices").exists()
    assert Team.objects.get(slug="checkout-team").memberships.get().user.username == "ann"

    # invalid input is still refused
    repo.push({"extra/catalog-info.yaml": UNMAPPABLE.replace("name: invoices", "name: in voices")})
    run = _refresh(lenient)
    assert run.status == "failed" and [e["field"] for e in run.errors] == ["metadata.name"]
