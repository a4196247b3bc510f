"""The authorization matrix: every REST operation, every GraphQL mutation and every portal
view x every kind of user, each cell its own test.

A cell checks the documented rule (README, "Who may do what"): an allowed request succeeds
and changes the state; a refused one is refused (401 or a redirect to sign in for anonymous
users, 403/404 or a GraphQL ``permission_denied``/``not_found`` for signed-in users) and
changes nothing: no row of any auth/teams/catalog/graph/authtoken/beat table (counts and a
hash of every row), no audit event, no crawl lock and no queued task. Reads never change
anything, for anyone.

The rows are enumerated from the code, not listed by hand: REST operations from
drf-spectacular's OpenAPI generator, GraphQL mutations from the graphene schema, portal views
from the URL patterns of the portal apps. An operation, mutation or view without an
expectation here fails its own cell and the coverage tests: add a row when you add one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

# --- Who ------------------------------------------------------------------------------------
ANON = "anonymous"
READER = "reader"  # signed in, on no team, admin of no org
MEMBER = "member"  # member of team alpha (org A)
LEAD = "lead"  # lead of team alpha
OWN_ADMIN = "own_org_admin"  # admin of org A, on no team
OTHER_ADMIN = "other_org_admin"  # admin of org B, on no team
ROOT = "superuser"
ROLES = (ANON, READER, MEMBER, LEAD, OWN_ADMIN, OTHER_ADMIN, ROOT)

SIGNED_IN = frozenset(ROLES) - {ANON}
ASSETS = frozenset({MEMBER, LEAD, OWN_ADMIN, ROOT})  # alpha's services, APIs and keys
LEADS = frozenset({LEAD, OWN_ADMIN, ROOT})  # alpha's members and description
ORG_ADMINS = frozenset({OWN_ADMIN, ROOT})  # org A's teams and limits
SUPER = frozenset({ROOT})
# Issue 10: starting a crawl needs a team (lead or member) or an org to administer; crawls are
# installation-wide, so an admin of any org may start one.
CRAWLERS = frozenset({MEMBER, LEAD, OWN_ADMIN, OTHER_ADMIN, ROOT})
AUDIT_READERS = frozenset({OWN_ADMIN, OTHER_ADMIN, ROOT})  # each admin sees their own org's events

# A cell whose rule is being implemented: ``pending={role: PENDING}`` marks it xfail(strict=True),
# so it fails as soon as the rule lands and the mark must go. None pending now.
PENDING = "pending issue 10 crawl rule/audit scoping"


# --- The world --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph_once():
    """Neo4j wiped and constrained once for the module: no cell writes to it (projections are
    sent on commit, and the test transaction never commits), some cells read it."""
    from graph import services

    services.graph_wipe()
    services.graph_init()
    yield
    services.graph_wipe()


@pytest.fixture(scope="module")
def world_rows(django_db_setup, django_db_blocker, graph_once):
    """The world, built once for the module inside a transaction that each test's own
    transaction (a savepoint) rolls back to; rolled back itself at the end."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(world_rows, db):
    return world_rows


def build_world() -> dict:
    """Org B first (its own team, service and API), then org A with team alpha (lead, member,
    carol), team empty, services orders (provides orders-v1) and spare, an active key and a
    pending key request on orders-v1 for org B's service shop; a crawl run. Every write goes
    through the services, so the audit trail is real; org A's events are remembered."""
    from django.contrib.auth import get_user_model

    from catalog import services as catalog
    from core.models import AuditEvent
    from graph.models import CrawlRun
    from teams import services as teams

    User = get_user_model()
    users = {
        name: User.objects.create_user(username=name)  # no password: tokens and force_login
        for name in ("reader", "member", "lead", "admin_a", "admin_b", "carol", "newbie")
    }
    root = User.objects.create_superuser("root", "root@example.com", None)

    org_b = teams.org_create(actor=root, slug="org-b", name="Org B")
    teams.org_admin_set(actor=root, org=org_b, user=users["admin_b"], admin=True)
    bravo = teams.team_create(actor=root, org=org_b, slug="bravo", name="Bravo")
    shop = catalog.service_create(actor=root, team=bravo, slug="shop", name="Shop")
    catalog.api_create(actor=root, provider=shop, slug="catalog-v1", name="Catalog")
    first_a_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() + 1

    org_a = teams.org_create(actor=root, slug="org-a", name="Org A")
    teams.org_admin_set(actor=root, org=org_a, user=users["admin_a"], admin=True)
    alpha = teams.team_create(actor=root, org=org_a, slug="alpha", name="Alpha")
    teams.team_create(actor=root, org=org_a, slug="empty", name="Empty")
    teams.member_add(actor=root, team=alpha, user=users["lead"], role="lead")
    teams.member_add(actor=root, team=alpha, user=users["member"], role="member")
    teams.member_add(actor=root, team=alpha, user=users["carol"], role="member")
    orders = catalog.service_create(actor=root, team=alpha, slug="orders", name="Orders")
    catalog.service_create(actor=root, team=alpha, slug="spare", name="Spare")
    api = catalog.api_create(actor=root, provider=orders, slug="orders-v1", name="Orders v1")
    # Issue 12: a domain holding a system holding a resource, and spare ones to delete (alpha's).
    commerce = catalog.owned_create("domain", actor=root, team=alpha, slug="commerce", name="Commerce")
    catalog.owned_create("domain", actor=root, team=alpha, slug="spare-domain", name="Spare domain")
    shop_sys = catalog.owned_create("system", actor=root, team=alpha, slug="shop-sys", name="Shop", domain=commerce)
    catalog.owned_create("system", actor=root, team=alpha, slug="spare-sys", name="Spare system")
    catalog.owned_create("resource", actor=root, team=alpha, slug="orders-db", name="Orders DB", system=shop_sys)
    location, _ = catalog.location_import(
        actor=root, target="world.yaml", content=MATRIX_DESCRIPTOR.replace("matrix-svc", "managed-svc")
    )
    # A URL location (root's), its first run over, so a refresh queues a new one.
    remote, _, first_run = catalog.location_create(actor=root, kind="url", target="http://10.0.0.9/catalog-info.yaml")
    type(first_run).objects.filter(pk=first_run.pk).update(status="failed", error="not fetched in this test")
    key, _ = catalog.key_issue(actor=root, api=api, consumer=shop, name="shop-to-orders")
    pending = catalog.key_request(actor=root, api=api, consumer=shop, name="shop-asks")
    # A location's import is installation-wide (a file may span orgs): superusers read it.
    a_events = set(
        AuditEvent.objects.filter(pk__gte=first_a_event)
        .exclude(action__startswith="location.")
        .values_list("pk", flat=True)
    )
    service_event = AuditEvent.objects.get(action="service.create", object_repr="orders")

    run = CrawlRun.objects.create(trigger="manual", status="finished")
    changes_world = _changes_world(root, org_a, alpha, orders)
    from graph.services import metrics_backend_create

    metrics_backend_create(actor=root, name="central-a", url="http://10.0.0.9:9090")
    from graph.services.otlp import ingest_key_issue

    ingest_key, _ = ingest_key_issue(actor=root, service="orders", name="orders-otel")
    # Issue 15: a scorecard of org A with results (the graph is empty: facts from the catalog).
    from scorecards import services as scorecards

    scorecards.scorecards_load(actor=root, text=SCORECARD.format(slug="matrix-card"), recompute=False)
    scorecards.recompute(scorecards=["matrix-card"])
    for user in [*users.values(), root]:
        Token.objects.create(user=user)
    by_role = {
        READER: users["reader"],
        MEMBER: users["member"],
        LEAD: users["lead"],
        OWN_ADMIN: users["admin_a"],
        OTHER_ADMIN: users["admin_b"],
        ROOT: root,
    }
    return {
        "users": by_role,
        "org_a": org_a,
        "alpha": alpha,
        "key": key,
        "pending": pending,
        "run": run,
        "location": location,
        "remote": remote,
        "location_run": first_run,
        "a_events": a_events,
        "service_event": service_event,
        "ingest_key": ingest_key,
        **changes_world,
    }


def _changes_world(root, org_a, alpha, orders) -> dict:
    """Issue 14: a deploy and a deploy key of orders; a disabled webhook of team alpha owing one
    dead-lettered delivery (so enabling and redelivering change something)."""
    from changes import services as changes
    from changes.models import Delivery, Event, Webhook

    deploy, _ = changes.deploy_record(actor=root, deploy_key=None, service=orders, client_id="w-1", version="1")
    deploy_key, _ = changes.deploy_key_issue(actor=root, service=orders, name="ci")
    webhook, _ = changes.webhook_create(
        actor=root, name="alpha-hook", url="http://10.0.0.9/hook", types=["*"], team=alpha
    )
    Webhook.objects.filter(pk=webhook.pk).update(enabled=False, disabled_reason="kept failing")
    event = Event.objects.filter(org_id=org_a.pk).first()
    delivery = Delivery.objects.create(webhook=webhook, event=event, status="dead", attempts=15)
    a_changes = set(Event.objects.filter(org_id=org_a.pk).values_list("pk", flat=True))
    return {
        "deploy": deploy,
        "deploy_key": deploy_key,
        "webhook": webhook,
        "delivery": delivery,
        "a_changes": a_changes,
    }


# --- "Nothing changed" ---------------------------------------------------------------------------
SNAPSHOT_APPS = ("auth", "authtoken", "teams", "catalog", "graph", "changes", "scorecards", "django_celery_beat")


def _tables() -> list[tuple[str, str, str]]:
    """(label, table, primary key column) of every model (and auto-created M2M table) of the
    snapshotted apps."""
    return [
        (m._meta.label, m._meta.db_table, m._meta.pk.column)
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in SNAPSHOT_APPS and not m._meta.proxy and m._meta.managed
    ]


def state() -> dict:
    """Row count and a hash of every row of every snapshotted table, the crawl lock and the
    length of the Celery queue."""
    from django.db import connection

    from core.redis import client, key
    from graph.services import CRAWL_LOCK_KEY

    snap: dict[str, Any] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for label, table, pk in _tables():
            cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY {quote(pk)}")  # noqa: S608 (names from models)
            rows = cursor.fetchall()
            snap[label] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()[:16])
    redis = client()
    snap["redis:crawl-lock"] = redis.get(key(CRAWL_LOCK_KEY))
    snap["redis:celery-queue"] = redis.llen("celery")
    return snap


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def audit_count() -> int:
    from core.models import AuditEvent

    return AuditEvent.objects.count()


# --- Rows ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    allowed: frozenset
    params: dict = field(default_factory=dict)  # URL parameters; a callable value gets the world
    body: dict | None = None
    query: str = ""
    ok: int | None = None  # REST success status (default by method)
    pending: dict = field(default_factory=dict)  # role -> reason: xfail(strict=True)
    check: Any = None  # extra assertion on an allowed response: check(response, world, role)
    reads: bool = False  # a POST that only reads (a dry run): allowed or not, nothing changes


def _key(w):
    return w["key"].pk


def _pending(w):
    return w["pending"].pk


def _deprecated(w):
    """orders-v1, deprecated first (by the superuser) so that its deprecation can be withdrawn."""
    from datetime import UTC, datetime

    from django.contrib.auth import get_user_model

    from catalog.models import Api
    from catalog.services import api_deprecate

    root = get_user_model().objects.get(username="root")
    api_deprecate(actor=root, api=Api.objects.get(slug="orders-v1"), sunset_at=datetime(2999, 1, 1, tzinfo=UTC))
    return "orders-v1"


def _audit_list_scoped(response, w, role):
    """An admin of org B reads none of org A's events; an admin of org A reads them."""
    ids = {e["id"] for e in response.json()["results"]}
    if role == OTHER_ADMIN:
        assert not ids & w["a_events"], f"org B's admin reads org A's audit events {sorted(ids & w['a_events'])}"
    else:
        assert w["a_events"] <= ids


def _keys_list_scoped(response, w, role):
    """Key metadata: the provider's and consumer's teams and orgs, superusers; a reader none."""
    ids = {k["id"] for k in response.json()["results"]}
    visible = {w["key"].pk, w["pending"].pk}
    assert ids == (set() if role == READER else visible), f"{role} lists keys {sorted(ids)}"


def _events_scoped(response, w, role):
    """Events of the orgs a user belongs to (team or admin); superusers all."""
    ids = {int(e["cursor"]) for e in response.json()["results"]}
    if role in (READER, OTHER_ADMIN):
        assert not ids & w["a_changes"], f"{role} reads org A's events {sorted(ids & w['a_changes'])}"
    else:
        assert ids & w["a_changes"], f"{role} does not read org A's events"


# A descriptor file describing one new service of team alpha (catalog-as-code rows).
MATRIX_DESCRIPTOR = (
    "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: matrix-svc\n"
    "spec:\n  type: service\n  lifecycle: production\n  owner: alpha\n"
)
ALPHA = {"slug": "alpha"}
# Issue 15: a scorecard scoped to org A (its admins and superusers define it).
SCORECARD = "slug: {slug}\nname: M\nfilter: {{org: org-a}}\nlevels: [Ok]\nchecks: [{{type: has_owner_oncall}}]\n"
MATRIX_CARD = {"slug": "matrix-card"}
ORDERS = {"slug": "orders"}
SPARE = {"slug": "spare"}
READ = Case(SIGNED_IN)

# (METHOD, OpenAPI path) -> {variant: Case}. One variant per distinct rule the operation applies.
REST: dict[tuple[str, str], dict[str, Case]] = {
    ("GET", "/api/v1/orgs/"): {"": READ},
    ("POST", "/api/v1/orgs/"): {"": Case(SUPER, body={"slug": "org-c", "name": "Org C"})},
    ("GET", "/api/v1/orgs/{slug}/"): {"": Case(SIGNED_IN, params={"slug": "org-a"})},
    ("PATCH", "/api/v1/orgs/{slug}/"): {
        "description": Case(ORG_ADMINS, params={"slug": "org-a"}, body={"description": "changed"}),
        # Issue 10 (team limits within the org's maxima): the maxima themselves are the superusers'.
        "maxima": Case(SUPER, params={"slug": "org-a"}, body={"max_members_per_team": 12}),
    },
    ("GET", "/api/v1/teams/"): {"": READ},
    ("POST", "/api/v1/teams/"): {"": Case(ORG_ADMINS, body={"org": "org-a", "slug": "new-team", "name": "New"})},
    ("GET", "/api/v1/teams/{slug}/"): {"": Case(SIGNED_IN, params=ALPHA)},
    ("PATCH", "/api/v1/teams/{slug}/"): {
        "description": Case(LEADS, params=ALPHA, body={"description": "changed"}),
        "limits": Case(ORG_ADMINS, params=ALPHA, body={"max_members": 9}),
    },
    ("DELETE", "/api/v1/teams/{slug}/"): {"": Case(ORG_ADMINS, params={"slug": "empty"})},
    ("GET", "/api/v1/teams/{team_slug}/members/"): {"": Case(SIGNED_IN, params={"team_slug": "alpha"})},
    ("POST", "/api/v1/teams/{team_slug}/members/"): {
        "": Case(LEADS, params={"team_slug": "alpha"}, body={"username": "newbie", "role": "member"}),
    },
    ("DELETE", "/api/v1/teams/{team_slug}/members/{username}/"): {
        "": Case(LEADS, params={"team_slug": "alpha", "username": "carol"}),
    },
    ("GET", "/api/v1/services/"): {"": READ},
    ("POST", "/api/v1/services/"): {"": Case(ASSETS, body={"team": "alpha", "slug": "fresh", "name": "Fresh"})},
    ("GET", "/api/v1/services/{slug}/"): {"": Case(SIGNED_IN, params=ORDERS)},
    ("PATCH", "/api/v1/services/{slug}/"): {
        "fields": Case(ASSETS, params=ORDERS, body={"description": "changed"}),
        "team-in-org": Case(ORG_ADMINS, params=SPARE, body={"team": "empty"}),
        "team-to-other-org": Case(SUPER, params=SPARE, body={"team": "bravo"}),
    },
    ("DELETE", "/api/v1/services/{slug}/"): {"": Case(ASSETS, params=SPARE)},
    ("POST", "/api/v1/services/{slug}/transfer/"): {
        "in-org": Case(ORG_ADMINS, params=SPARE, body={"team": "empty"}, ok=200),
        "to-other-org": Case(SUPER, params=SPARE, body={"team": "bravo"}, ok=200),
    },
    ("PUT", "/api/v1/services/{slug}/consumes/"): {
        "": Case(ASSETS, params=ORDERS, body={"apis": ["catalog-v1"]}, ok=200),
    },
    ("GET", "/api/v1/services/{slug}/dependencies/"): {"": Case(SIGNED_IN, params=ORDERS, query="direction=up")},
    ("GET", "/api/v1/services/{slug}/blast-radius/"): {"": Case(SIGNED_IN, params=ORDERS)},
    ("GET", "/api/v1/services/{slug}/drift/"): {"": Case(SIGNED_IN, params=ORDERS)},
    ("GET", "/api/v1/services/{slug}/path/"): {"": Case(SIGNED_IN, params=ORDERS, query="to=spare")},
    ("GET", "/api/v1/apis/"): {"": READ},
    ("POST", "/api/v1/apis/"): {"": Case(ASSETS, body={"provider": "orders", "slug": "orders-v2", "name": "O2"})},
    ("GET", "/api/v1/apis/{slug}/"): {"": Case(SIGNED_IN, params={"slug": "orders-v1"})},
    ("PATCH", "/api/v1/apis/{slug}/"): {"": Case(ASSETS, params={"slug": "orders-v1"}, body={"version": "2"})},
    ("DELETE", "/api/v1/apis/{slug}/"): {"": Case(ASSETS, params={"slug": "orders-v1"})},
    # Issue 12: domains, systems and resources are their owning team's assets, like services.
    **{
        row: case
        for plural, one, spare, create in (
            ("domains", "commerce", "spare-domain", {}),
            ("systems", "shop-sys", "spare-sys", {"domain": "commerce"}),
            ("resources", "orders-db", "orders-db", {"type": "queue"}),
        )
        for row, case in {
            ("GET", f"/api/v1/{plural}/"): {"": READ},
            ("POST", f"/api/v1/{plural}/"): {
                "": Case(ASSETS, body={"team": "alpha", "slug": f"new-{plural}", "name": "N", **create})
            },
            ("GET", f"/api/v1/{plural}/{{slug}}/"): {"": Case(SIGNED_IN, params={"slug": one})},
            ("PATCH", f"/api/v1/{plural}/{{slug}}/"): {
                "fields": Case(ASSETS, params={"slug": one}, body={"description": "changed"}),
                "team-in-org": Case(ORG_ADMINS, params={"slug": one}, body={"team": "empty"}),
                "team-to-other-org": Case(SUPER, params={"slug": one}, body={"team": "bravo"}),
            },
            ("DELETE", f"/api/v1/{plural}/{{slug}}/"): {"": Case(ASSETS, params={"slug": spare})},
        }.items()
    },
    # Issue 12, catalog as code: a dry run and the export read; an import writes through the
    # services, so it is allowed to whoever may write what the file describes (alpha's service here).
    ("POST", "/api/v1/catalog/validate"): {
        "": Case(SIGNED_IN, body={"name": "m.yaml", "content": MATRIX_DESCRIPTOR}, ok=200, reads=True)
    },
    ("GET", "/api/v1/catalog/export"): {"": Case(SIGNED_IN, query="format=backstage")},
    ("GET", "/api/v1/catalog/locations/"): {"": READ},
    ("POST", "/api/v1/catalog/locations/"): {
        "": Case(ASSETS, body={"name": "m.yaml", "content": MATRIX_DESCRIPTOR}),
    },
    ("GET", "/api/v1/catalog/locations/{id}/"): {"": Case(SIGNED_IN, params={"id": lambda w: w["location"].pk})},
    # URL and git locations: any signed-in user adds one (its imports run with their permissions);
    # a refresh is queued by the location's creator (root here), a superuser, or a signed push
    # (tests/catalog/test_locations.py checks the signatures).
    ("POST", "/api/v1/catalog/locations/remote/"): {
        "": Case(SIGNED_IN, body={"kind": "url", "target": "http://10.0.0.9/other.yaml"}),
    },
    ("GET", "/api/v1/catalog/locations/{id}/runs/"): {"": Case(SIGNED_IN, params={"id": lambda w: w["remote"].pk})},
    ("POST", "/api/v1/catalog/locations/{id}/refresh/"): {
        "": Case(SUPER, params={"id": lambda w: w["remote"].pk}, ok=202)
    },
    ("POST", "/api/v1/catalog/locations/{id}/refresh"): {
        "": Case(SUPER, params={"id": lambda w: w["remote"].pk}, ok=202)
    },
    ("PUT", "/api/v1/services/{slug}/resources/"): {
        "": Case(ASSETS, params=ORDERS, body={"resources": ["orders-db"]}, ok=200),
    },
    ("GET", "/api/v1/keys/"): {"": Case(SIGNED_IN, check=_keys_list_scoped)},
    ("POST", "/api/v1/keys/"): {"": Case(ASSETS, body={"api": "orders-v1", "consumer": "shop", "name": "k2"})},
    # Key metadata: the provider's and the consumer's teams and orgs (shop is org B's).
    ("GET", "/api/v1/keys/{id}/"): {"": Case(SIGNED_IN - {READER}, params={"id": _key})},
    ("POST", "/api/v1/keys/request/"): {
        "": Case(ASSETS, body={"api": "catalog-v1", "consumer": "orders", "name": "k3"}),
    },
    ("POST", "/api/v1/keys/{id}/approve/"): {"": Case(ASSETS, params={"id": _pending}, body={}, ok=200)},
    ("POST", "/api/v1/keys/{id}/reject/"): {"": Case(ASSETS, params={"id": _pending}, body={"reason": "no"}, ok=200)},
    ("POST", "/api/v1/keys/{id}/revoke/"): {"": Case(ASSETS, params={"id": _key}, body={"reason": "test"}, ok=200)},
    ("POST", "/api/v1/keys/{id}/expiry/"): {
        "": Case(ASSETS, params={"id": _key}, body={"expires_at": "2999-01-01T00:00:00Z"}, ok=200),
    },
    ("POST", "/api/v1/keys/{id}/rotate/"): {"": Case(ASSETS, params={"id": _key}, body={"overlap_seconds": 60})},
    # Issue 15: a key's rate limit and quota, an API's deprecation: the provider's team (alpha).
    ("POST", "/api/v1/keys/{id}/limits/"): {
        "": Case(ASSETS, params={"id": _key}, body={"rate_limit": 10, "daily_quota": 1000}, ok=200),
    },
    ("POST", "/api/v1/apis/{slug}/deprecation/"): {
        "": Case(ASSETS, params={"slug": "orders-v1"}, body={"sunset_at": "2999-01-01T00:00:00Z"}, ok=200),
    },
    ("DELETE", "/api/v1/apis/{slug}/deprecation/"): {"": Case(ASSETS, params={"slug": _deprecated}, ok=200)},
    ("GET", "/api/v1/audit/"): {"": Case(AUDIT_READERS, check=_audit_list_scoped)},
    ("GET", "/api/v1/audit/{id}/"): {"": Case(ORG_ADMINS, params={"id": lambda w: w["service_event"].pk})},
    ("GET", "/api/v1/crawls/"): {"": READ},
    ("POST", "/api/v1/crawls/"): {"": Case(CRAWLERS, ok=202)},
    ("GET", "/api/v1/crawls/{id}/"): {"": Case(SIGNED_IN, params={"id": lambda w: w["run"].pk})},
    # Issue 13: ingestion keys (OTLP push) are their service team's, like API keys: its members
    # issue, read and revoke them; other signed-in users list none of them.
    ("GET", "/api/v1/ingest-keys/"): {"": READ},
    ("POST", "/api/v1/ingest-keys/"): {"": Case(ASSETS, body={"service": "orders", "name": "otel-2"})},
    ("GET", "/api/v1/ingest-keys/{id}/"): {"": Case(ASSETS, params={"id": lambda w: w["ingest_key"].pk})},
    ("POST", "/api/v1/ingest-keys/{id}/revoke/"): {
        "": Case(ASSETS, params={"id": lambda w: w["ingest_key"].pk}, body={"reason": "test"}, ok=200)
    },
    # Issue 14: deploys (the catalog's readers read them; alpha's members record them), deploy keys
    # and webhooks (their team's members; org webhooks their admins; installation-wide superusers),
    # the event log (the orgs a user belongs to).
    ("GET", "/api/v1/deploys/"): {"": READ},
    ("POST", "/api/v1/deploys/"): {"": Case(ASSETS, body={"service": "orders", "deploy_id": "m-1", "version": "2"})},
    ("GET", "/api/v1/deploys/{id}/"): {"": Case(SIGNED_IN, params={"id": lambda w: w["deploy"].pk})},
    # The deploy gate reads like a deploy (and with the service's deploy key: tests/changes/test_regressions.py).
    ("GET", "/api/v1/deploys/{id}/verdict"): {"": Case(SIGNED_IN, params={"id": lambda w: w["deploy"].pk})},
    ("GET", "/api/v1/deploy-keys/"): {"": READ},
    ("POST", "/api/v1/deploy-keys/"): {"": Case(ASSETS, body={"service": "orders", "name": "ci-2"})},
    ("GET", "/api/v1/deploy-keys/{id}/"): {"": Case(ASSETS, params={"id": lambda w: w["deploy_key"].pk})},
    ("POST", "/api/v1/deploy-keys/{id}/revoke/"): {
        "": Case(ASSETS, params={"id": lambda w: w["deploy_key"].pk}, ok=200)
    },
    ("GET", "/api/v1/events"): {"": Case(SIGNED_IN, check=_events_scoped)},
    # Edge history reads like the graph: any signed-in user.
    ("GET", "/api/v1/services/{slug}/history"): {"": Case(SIGNED_IN, params=ORDERS, query="window=7d")},
    # What changed reads like the catalog and the graph: any signed-in user.
    ("GET", "/api/v1/services/{slug}/changes"): {"": Case(SIGNED_IN, params=ORDERS, query="since=7d&depth=all")},
    # SLOs read like the catalog and the graph: any signed-in user.
    ("GET", "/api/v1/apis/{slug}/slo"): {"": Case(SIGNED_IN, params={"slug": "orders-v1"})},
    # Issue 15: scorecards read like the catalog; superusers and org admins define them, an org
    # admin only one scoped to their org (an unscoped one: superusers).
    ("GET", "/api/v1/scorecards/"): {"": READ},
    ("POST", "/api/v1/scorecards/"): {
        "org": Case(ORG_ADMINS, body={"definition": SCORECARD.format(slug="new-card")}),
        "unscoped": Case(SUPER, body={"definition": "slug: all-card\nlevels: [Ok]\nchecks: [{type: seen_recently}]\n"}),
    },
    ("GET", "/api/v1/scorecards/{slug}/"): {"": Case(SIGNED_IN, params=MATRIX_CARD)},
    ("GET", "/api/v1/scorecards/{slug}/results/"): {"": Case(SIGNED_IN, params=MATRIX_CARD)},
    ("GET", "/api/v1/scorecards/{slug}/rollup/"): {"": Case(SIGNED_IN, params=MATRIX_CARD, query="by=org")},
    ("GET", "/api/v1/scorecards/{slug}/trend/"): {
        "": Case(SIGNED_IN, params=MATRIX_CARD, query="scope=team&key=alpha")
    },
    ("GET", "/api/v1/services/{slug}/scorecards"): {"": Case(SIGNED_IN, params=ORDERS)},
    ("GET", "/api/v1/webhooks/"): {"": READ},
    ("POST", "/api/v1/webhooks/"): {
        "service": Case(ASSETS, body={"name": "h", "url": "http://10.0.0.9/h", "types": ["*"], "service": "orders"}),
        "team": Case(ASSETS, body={"name": "h", "url": "http://10.0.0.9/h", "types": ["*"], "team": "alpha"}),
        "org": Case(ORG_ADMINS, body={"name": "h", "url": "http://10.0.0.9/h", "types": ["*"], "org": "org-a"}),
        "installation": Case(SUPER, body={"name": "h", "url": "http://10.0.0.9/h", "types": ["crawl.failed"]}),
    },
    ("GET", "/api/v1/webhooks/{id}/"): {"": Case(ASSETS, params={"id": lambda w: w["webhook"].pk})},
    ("DELETE", "/api/v1/webhooks/{id}/"): {"": Case(ASSETS, params={"id": lambda w: w["webhook"].pk})},
    ("POST", "/api/v1/webhooks/{id}/enable/"): {"": Case(ASSETS, params={"id": lambda w: w["webhook"].pk}, ok=200)},
    ("GET", "/api/v1/webhooks/{id}/deliveries/"): {"": Case(ASSETS, params={"id": lambda w: w["webhook"].pk})},
    ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver/"): {
        "": Case(
            ASSETS,
            params={"id": lambda w: w["webhook"].pk, "delivery_id": lambda w: w["delivery"].pk},
            ok=200,
        )
    },
    # Metrics backends (the central discovery source): superusers only, reads included.
    ("GET", "/api/v1/metrics-backends/"): {"": Case(SUPER)},
    ("POST", "/api/v1/metrics-backends/"): {
        "": Case(SUPER, body={"name": "thanos", "url": "http://10.0.0.9:9090", "auth": "bearer", "secret": "t0k"}),
    },
    ("GET", "/api/v1/metrics-backends/{name}/"): {"": Case(SUPER, params={"name": "central-a"})},
    ("PATCH", "/api/v1/metrics-backends/{name}/"): {
        "": Case(SUPER, params={"name": "central-a"}, body={"window_seconds": 600}),
    },
    ("DELETE", "/api/v1/metrics-backends/{name}/"): {"": Case(SUPER, params={"name": "central-a"})},
    ("GET", "/api/v1/graph"): {"": READ},
    ("GET", "/api/v1/graph/systems"): {"": READ},
    ("GET", "/api/v1/graph/cycles"): {"": READ},
    ("GET", "/api/v1/graph/coupling"): {"": READ},
    ("GET", "/api/v1/graph/endpoints"): {"": READ},
}


def openapi_operations() -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }


def _cells(rows: dict, enumerated) -> list:
    """One param per (row, variant, role); rows enumerated from the code without an
    expectation get cells that fail, so a new operation shows up by name."""
    cells = []
    for name in sorted(set(rows) | set(enumerated), key=str):
        variants = rows.get(name) or {"NO EXPECTATION": None}
        for variant, case in variants.items():
            label = " ".join(name) if isinstance(name, tuple) else name
            label += f" [{variant}]" if variant else ""
            for role in ROLES:
                marks = []
                if case is not None and role in case.pending:
                    marks.append(pytest.mark.xfail(strict=True, reason=case.pending[role]))
                cells.append(pytest.param(name, variant, role, id=f"{label}-{role}", marks=marks))
    return cells


def _resolve(value, w):
    return value(w) if callable(value) else value


def _missing(kind: str, name) -> str:
    return f"{kind} {name} has no row in tests/security/test_authz_matrix.py: add its expectations."


# --- Clients ----------------------------------------------------------------------------------------
# A test client loads the middleware stack on its first request (WhiteNoise indexes every static
# file then); one handler per client class serves every cell.
_HANDLERS: dict[type, Any] = {}


def _shared_handler(client):
    client.handler = _HANDLERS.setdefault(type(client), client.handler)
    return client


# --- REST ---------------------------------------------------------------------------------------------
def api_client(w, role) -> APIClient:
    client = _shared_handler(APIClient())
    if role != ANON:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=w['users'][role]).key}")
    return client


@pytest.mark.parametrize(("operation", "variant", "role"), _cells(REST, openapi_operations()))
def test_rest(world, operation, variant, role):
    case = REST.get(operation, {}).get(variant)
    assert case is not None, _missing("REST operation", operation)
    method, template = operation
    url = template.format(**{k: _resolve(v, world) for k, v in case.params.items()})
    url += f"?{case.query}" if case.query else ""
    client = api_client(world, role)
    before, events = state(), audit_count()
    body = json.dumps(case.body) if case.body is not None else None
    response = client.generic(method, url, body or "", content_type="application/json")
    after = state()
    where = f"{method} {url} as {role}: {response.status_code} {response.content[:300]!r}"
    if role in case.allowed:
        ok = case.ok or {"GET": 200, "POST": 201, "PATCH": 200, "PUT": 200, "DELETE": 204}[method]
        assert response.status_code == ok, where
        if method != "GET" and not case.reads:
            assert changed(before, after), f"allowed but nothing changed: {where}"
        if case.check:
            case.check(response, world, role)
    else:
        expected = {401} if role == ANON else {403, 404}
        assert response.status_code in expected, f"should be refused ({sorted(expected)}): {where}"
        code = response.json().get("code")
        assert code in {"not_authenticated", "permission_denied", "not_found"}, where
    if method == "GET" or case.reads or role not in case.allowed:
        assert audit_count() == events, f"audit event written: {where}"
        assert not changed(before, after), f"state changed ({changed(before, after)}): {where}"


def test_rest_rows_match_the_openapi_schema():
    """Every operation of the OpenAPI schema has a row, and every row is still an operation."""
    enumerated = openapi_operations()
    assert not enumerated - REST.keys(), [_missing("REST operation", op) for op in sorted(enumerated - REST.keys())]
    assert not REST.keys() - enumerated, f"rows for operations that no longer exist: {sorted(REST.keys() - enumerated)}"


# --- GraphQL ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    allowed: frozenset
    document: Any  # str, or callable(world) -> str
    pending: dict = field(default_factory=dict)


GRAPHQL: dict[str, dict[str, Mutation]] = {
    "createTeam": {"": Mutation(ORG_ADMINS, 'createTeam(org: "org-a", slug: "gq-team", name: "G") { team { slug } }')},
    "addMember": {"": Mutation(LEADS, 'addMember(team: "alpha", username: "newbie") { member { role } }')},
    "removeMember": {"": Mutation(LEADS, 'removeMember(team: "alpha", username: "carol") { ok }')},
    "createService": {
        "": Mutation(ASSETS, 'createService(team: "alpha", slug: "gq-svc", input: {name: "G"}) { service { slug } }')
    },
    "updateService": {
        "": Mutation(ASSETS, 'updateService(slug: "orders", input: {description: "x"}) { service { slug } }')
    },
    "transferService": {
        "in-org": Mutation(ORG_ADMINS, 'transferService(slug: "spare", team: "empty") { service { slug } }'),
        "to-other-org": Mutation(SUPER, 'transferService(slug: "spare", team: "bravo") { service { slug } }'),
    },
    "createApi": {"": Mutation(ASSETS, 'createApi(provider: "orders", slug: "gq-api", name: "G") { api { slug } }')},
    # Issue 15: an API's fields (a breaking spec needs confirmBreaking): the provider's team.
    "updateApi": {"": Mutation(ASSETS, 'updateApi(slug: "orders-v1", version: "2") { api { slug } }')},
    "issueKey": {"": Mutation(ASSETS, 'issueKey(api: "orders-v1", consumer: "shop", name: "g") { secret }')},
    "setKeyLimits": {
        "": Mutation(ASSETS, lambda w: f'setKeyLimits(keyId: "{w["key"].key_id}", rateLimit: 5) {{ key {{ keyId }} }}')
    },
    "deprecateApi": {
        "": Mutation(ASSETS, 'deprecateApi(slug: "orders-v1", sunsetAt: "2999-01-01T00:00:00Z") { api { slug } }')
    },
    "withdrawApiDeprecation": {
        "": Mutation(ASSETS, lambda w: f'withdrawApiDeprecation(slug: "{_deprecated(w)}") {{ api {{ slug }} }}')
    },
    "revokeKey": {
        "": Mutation(ASSETS, lambda w: f'revokeKey(keyId: "{w["key"].key_id}", reason: "r") {{ key {{ keyId }} }}')
    },
    "triggerCrawl": {"": Mutation(CRAWLERS, "triggerCrawl { run { status } }")},
    **{
        f"{verb}{kind.title()}": {"": Mutation(ASSETS, doc)}
        for kind, one in (("domain", "commerce"), ("system", "shop-sys"), ("resource", "orders-db"))
        for verb, doc in (
            ("create", f'create{kind.title()}(team: "alpha", slug: "gq-{kind}", input: {{name: "G"}}) {{ slug }}'),
            ("update", f'update{kind.title()}(slug: "{one}", input: {{description: "x"}}) {{ slug }}'),
        )
    },
}


def graphql_mutations() -> set[str]:
    from config.schema import schema

    return set(schema.graphql_schema.mutation_type.fields)


@pytest.mark.parametrize(("mutation", "variant", "role"), _cells(GRAPHQL, graphql_mutations()))
def test_graphql(world, mutation, variant, role):
    case = GRAPHQL.get(mutation, {}).get(variant)
    assert case is not None, _missing("GraphQL mutation", mutation)
    document = "mutation { " + _resolve(case.document, world) + " }"
    client = api_client(world, role)
    before, events = state(), audit_count()
    response = client.post("/graphql", {"query": document}, format="json")
    after = state()
    where = f"{mutation} as {role}: {response.status_code} {response.content[:300]!r}"
    body = response.json()
    if role in case.allowed:
        assert response.status_code == 200 and "errors" not in body, where
        assert body["data"][mutation] is not None, where
        assert changed(before, after), f"allowed but nothing changed: {where}"
        return
    if role == ANON:
        assert response.status_code == 401, where
        assert body["errors"][0]["extensions"]["code"] == "not_authenticated", where
    else:
        assert response.status_code == 200 and body.get("errors"), f"should be refused: {where}"
        assert body["errors"][0]["extensions"]["code"] in {"permission_denied", "not_found"}, where
        assert (body.get("data") or {}).get(mutation) is None, where
    assert audit_count() == events, f"audit event written: {where}"
    assert not changed(before, after), f"state changed ({changed(before, after)}): {where}"


def test_graphql_rows_match_the_schema():
    enumerated = graphql_mutations()
    assert not enumerated - GRAPHQL.keys(), [
        _missing("GraphQL mutation", m) for m in sorted(enumerated - GRAPHQL.keys())
    ]
    assert not GRAPHQL.keys() - enumerated, (
        f"rows for mutations that no longer exist: {sorted(GRAPHQL.keys() - enumerated)}"
    )


# --- Portal ---------------------------------------------------------------------------------------------------
PORTAL_APPS = ("catalog", "teams", "graph", "changes", "scorecards")


@dataclass(frozen=True)
class Form:
    """A portal view that writes on POST."""

    allowed: frozenset
    params: dict = field(default_factory=dict)
    data: Any = field(default_factory=dict)  # dict, or callable(world) -> dict
    pending: dict = field(default_factory=dict)


def _service_form(w, **extra):
    return {
        "name": "Changed",
        "tier": 2,
        "lifecycle": "production",
        "metrics_path": "/metrics",
        "health_path": "/health",
        **extra,
    }


def _descriptor_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("portal.yaml", MATRIX_DESCRIPTOR.replace("matrix-svc", "portal-svc").encode())


PORTAL_FORMS: dict[str, dict[str, Form]] = {
    "catalog:service_create": {
        "": Form(ASSETS, data=lambda w: _service_form(w, team=w["alpha"].pk, slug="portal-svc")),
    },
    "catalog:service_edit": {"": Form(ASSETS, params=ORDERS, data=_service_form)},
    # Issue 16: deleting from the portal, through the same services as the API (spare provides no API).
    "catalog:service_delete": {"": Form(ASSETS, params={"slug": "spare"})},
    "catalog:api_delete": {"": Form(ASSETS, params={"slug": "orders-v1"})},
    "catalog:api_create": {
        "": Form(
            ASSETS,
            data=lambda w: {
                "provider": w["key"].api.provider_id,
                "slug": "portal-api",
                "name": "P",
                "kind": "openapi",
                "base_path": "/",
                "lifecycle": "production",
            },
        )
    },
    # Issue 12: importing a descriptor file writes through the services (alpha's new service here).
    "catalog:location_upload": {"": Form(ASSETS, data=lambda w: {"file": _descriptor_upload()})},
    "catalog:location_new": {
        "": Form(
            SIGNED_IN,
            data={"kind": "url", "target": "http://10.0.0.9/p.yaml", "orphan_policy": "keep", "orphan_grace_hours": 1},
        )
    },
    # "Refresh now": the location's creator (root) and superusers
    "catalog:location_refresh": {"": Form(SUPER, params={"pk": lambda w: w["remote"].pk})},
    "catalog:key_issue": {"": Form(ASSETS, data={"api": "orders-v1", "consumer": "shop", "name": "p"})},
    "catalog:key_request": {"": Form(ASSETS, data={"api": "catalog-v1", "consumer": "orders", "name": "p"})},
    "catalog:key_approve": {"": Form(ASSETS, params={"pk": _pending})},
    "catalog:key_reject": {"": Form(ASSETS, params={"pk": _pending}, data={"reason": "no"})},
    "catalog:key_rotate": {"": Form(ASSETS, params={"pk": _key}, data={"overlap_seconds": 60})},
    "catalog:key_revoke": {"": Form(ASSETS, params={"pk": _key}, data={"reason": "test"})},
    # Issue 15: a key's limits, an API's deprecation and its withdrawal (alpha's: the provider team).
    "catalog:key_limits": {"": Form(ASSETS, params={"pk": _key}, data={"rate_limit": 10, "rate_period": "minute"})},
    "catalog:api_deprecation": {"": Form(ASSETS, params={"slug": "orders-v1"}, data={"sunset_at": "2999-01-01T00:00"})},
    "catalog:api_deprecation_withdraw": {"": Form(ASSETS, params={"slug": _deprecated})},
    "catalog:api_edit": {
        "": Form(
            ASSETS,
            params={"slug": "orders-v1"},
            data={"name": "O1", "kind": "openapi", "version": "2", "base_path": "/", "lifecycle": "production"},
        )
    },
    # Issue 14: the "Redeliver" button of a webhook's delivery log (alpha's webhook: its team).
    "changes:delivery_redeliver": {"": Form(ASSETS, params={"pk": lambda w: w["delivery"].pk})},
    "teams:team_create": {
        "": Form(ORG_ADMINS, data=lambda w: {"org": w["org_a"].pk, "slug": "portal-team", "name": "P"}),
    },
    "teams:team_edit": {"": Form(LEADS, params=ALPHA, data={"name": "Alpha", "description": "changed"})},
    "teams:team_limits": {"": Form(ORG_ADMINS, params=ALPHA, data={"max_members": 9, "max_services": 7})},
    "teams:member_add": {"": Form(LEADS, params=ALPHA, data={"username": "newbie", "role": "member"})},
    "teams:member_remove": {"": Form(LEADS, params={"slug": "alpha", "username": "carol"})},
    "teams:org_limits": {
        "": Form(ORG_ADMINS, params={"slug": "org-a"}, data={"max_members_per_team": 12, "max_services_per_team": 9})
    },
    # Your own API token: every signed-in user.
    "teams:token_create": {"": Form(SIGNED_IN)},
    "teams:token_revoke": {"": Form(SIGNED_IN)},
    "graph:crawl_now": {"": Form(CRAWLERS)},
    "graph:schedule_edit": {"": Form(SUPER, data={"every_minutes": 7, "enabled": "on"})},
    # Issue 15: the scorecard YAML editor (org A's scorecard: its admins and superusers).
    "scorecards:scorecard_new": {"": Form(ORG_ADMINS, data={"definition": SCORECARD.format(slug="portal-card")})},
    "scorecards:scorecard_edit": {
        "": Form(
            ORG_ADMINS,
            params=MATRIX_CARD,
            data={"definition": SCORECARD.format(slug="matrix-card") + "description: x\n"},
        )
    },
}

# Pages that only read: GET answers every signed-in user, and a POST changes nothing for anyone.
PORTAL_READS: dict[str, dict] = {
    "catalog:dashboard": {},
    "catalog:edge_list": {},  # issue 16: the edges behind the dashboard's erroring/stale numbers
    "catalog:search": {},
    "catalog:service_list": {},
    "catalog:service_detail": ORDERS,
    "catalog:service_dependencies": ORDERS,
    "catalog:service_impact": ORDERS,
    "catalog:api_list": {},
    "catalog:api_detail": {"slug": "orders-v1"},
    "catalog:key_list": {},
    "catalog:system_list": {},
    "catalog:system_detail": {"slug": "shop-sys"},
    "catalog:domain_list": {},
    "catalog:domain_detail": {"slug": "commerce"},
    "catalog:resource_list": {},
    "catalog:resource_detail": {"slug": "orders-db"},
    "catalog:location_list": {},
    "catalog:location_detail": {"pk": lambda w: w["remote"].pk},
    "catalog:location_run_detail": {"pk": lambda w: w["location_run"].pk},
    "catalog:location_run_progress": {"pk": lambda w: w["location_run"].pk},
    "teams:team_list": {},
    "teams:team_detail": ALPHA,
    "teams:profile": {},
    "changes:webhook_list": {},
    "changes:service_changes": ORDERS,
    "changes:service_slo": ORDERS,
    "changes:api_slo": {"slug": "orders-v1"},
    "changes:team_activity": ALPHA,
    "graph:explorer": {},
    "graph:data": {},
    "graph:find": {},  # issue 16: the explorer's Find suggestions, read like the graph
    "graph:panel": ORDERS,
    "graph:discovery": {},
    "graph:run_detail": {"pk": lambda w: w["run"].pk},
    "graph:run_progress": {"pk": lambda w: w["run"].pk},
    "scorecards:scorecard_list": {},
    "scorecards:scorecard_detail": MATRIX_CARD,
    "scorecards:service_panel": ORDERS,
    "scorecards:team_panel": ALPHA,
}


def portal_views() -> set[str]:
    from django.urls import URLResolver, get_resolver

    names = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.app_name in PORTAL_APPS:
            names |= {f"{entry.app_name}:{p.name}" for p in entry.url_patterns}
    return names


def portal_client(w, role) -> Client:
    client = _shared_handler(Client())
    if role != ANON:
        client.force_login(w["users"][role])
    return client


def _url(name, params, w) -> str:
    from django.urls import reverse

    return reverse(name, kwargs={k: _resolve(v, w) for k, v in params.items()})


def _assert_sent_to_sign_in(response, where):
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), where


@pytest.mark.parametrize(("view", "variant", "role"), _cells(PORTAL_FORMS, portal_views() - PORTAL_READS.keys()))
def test_portal_form(world, view, variant, role):
    case = PORTAL_FORMS.get(view, {}).get(variant)
    assert case is not None, _missing("portal view", view) + " (or list it in PORTAL_READS if it only reads)"
    url = _url(view, case.params, world)
    client = portal_client(world, role)
    before, events = state(), audit_count()
    response = client.post(url, _resolve(case.data, world))
    after = state()
    where = f"POST {url} as {role}: {response.status_code} {response.get('Location', '')}"
    if role in case.allowed:
        assert response.status_code in {200, 204, 302}, where
        assert changed(before, after), f"allowed but nothing changed: {where} {response.content[:500]!r}"
        return
    if role == ANON:
        _assert_sent_to_sign_in(response, where)
    else:
        assert response.status_code in {302, 400, 403, 404}, where
    assert audit_count() == events, f"audit event written: {where}"
    assert not changed(before, after), f"state changed ({changed(before, after)}): {where}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view", sorted(PORTAL_READS))
def test_portal_read(world, view, role):
    """GET: signed-in users read it, anonymous visitors are sent to sign in. A POST (with a
    plausible body) changes nothing, so a page listed here cannot quietly start writing."""
    url = _url(view, PORTAL_READS[view], world)
    client = portal_client(world, role)
    before, events = state(), audit_count()
    response = client.get(url)
    where = f"GET {url} as {role}: {response.status_code}"
    if role == ANON:
        _assert_sent_to_sign_in(response, where)
    else:
        assert response.status_code == 200, where
    posted = client.post(url, {"name": "x", "description": "x", "reason": "x", "username": "newbie"})
    assert posted.status_code < 500, f"POST {url} as {role}: {posted.status_code}"
    assert audit_count() == events, f"audit event written by a read page: {url} as {role}"
    assert not changed(before, state()), f"a read page changed state: {url} as {role}"


def test_portal_rows_match_the_url_patterns():
    enumerated = portal_views()
    rows = PORTAL_FORMS.keys() | PORTAL_READS.keys()
    assert not PORTAL_FORMS.keys() & PORTAL_READS.keys(), "a view is listed both as a form and as a read"
    assert not enumerated - rows, [_missing("portal view", v) for v in sorted(enumerated - rows)]
    assert not rows - enumerated, f"rows for views that no longer exist: {sorted(rows - enumerated)}"


# --- Everything else the site serves ------------------------------------------------------------------------
# Every root URL pattern, and where its authorization is checked.
SITE_ROUTES = {
    "": "the portal apps: test_portal_form / test_portal_read",
    "api/v1/": "test_rest (rows from the OpenAPI schema)",
    "graphql": "test_graphql (rows from the graphene schema)",
    "api/schema/": "test_site_reads",
    "api/docs/": "test_site_reads",
    "admin/": "test_site_reads (the Django admin: staff only)",
    "healthz": "public liveness probe; reads nothing",
    "favicon.ico": "public redirect to the static icon; reads nothing (tests/portal/test_errors.py)",
    "accounts/login/": "sign-in (throttling: tests of issue 10's login item)",
    "accounts/logout/": "sign-out of the caller's own session",
    "gateway/verify": "API-key authenticated, no user: tests/catalog/test_gateway*.py, tests/security/",
    "gateway/verify/<path:path>": "as gateway/verify",
    "v1/traces": "OTLP receiver, ingestion-key authenticated, no user: tests/graph/test_otlp.py",
    "v1/metrics": "as v1/traces",
}


def site_routes() -> set[str]:
    from django.urls import get_resolver

    return {str(entry.pattern) for entry in get_resolver().url_patterns}


def test_site_rows_match_the_root_url_patterns():
    enumerated = site_routes()
    assert not enumerated - SITE_ROUTES.keys(), (
        f"root URL patterns without a row: {sorted(enumerated - SITE_ROUTES.keys())}"
    )
    assert not SITE_ROUTES.keys() - enumerated, (
        f"rows for patterns that no longer exist: {sorted(SITE_ROUTES.keys() - enumerated)}"
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/admin/"])
def test_site_reads(world, path, role):
    """The API schema and docs need sign-in (issue 10; API_DOCS_PUBLIC is off by default); the
    admin needs staff, which of these roles only the superuser has. A POST to the admin's add
    form by anyone else changes nothing."""
    client = portal_client(world, role)
    response = client.get(path)
    where = f"GET {path} as {role}: {response.status_code} {response.get('Location', '')}"
    if path == "/admin/":
        if role == ROOT:
            assert response.status_code == 200, where
            return
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), where
        before, events = state(), audit_count()
        posted = client.post("/admin/teams/org/add/", {"slug": "admin-org", "name": "A"})
        assert posted.status_code == 302 and posted["Location"].startswith("/admin/login/"), f"POST admin as {role}"
        assert audit_count() == events and not changed(before, state()), f"admin POST as {role} changed state"
    elif role == ANON:
        sent_to_sign_in = response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert response.status_code in {401, 403} or sent_to_sign_in, where
    else:
        assert response.status_code == 200, where
