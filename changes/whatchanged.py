"""What changed around a service (issue 14): ``service_changes`` is the one selector behind
``GET /api/v1/services/<slug>/changes``, GraphQL ``Service.changes`` and the portal panel.

The scope is the service and the services it depends on (what it calls, from the graph, to
``depth`` hops or the whole closure up to the graph's limit). Within it, since a time: edges that
appeared, went stale or disappeared (from the event log), regressions after deploys, deploys, and
catalog changes (owner, tier, lifecycle, system; API spec, version, lifecycle, SLO, deprecation;
API keys revoked, the event log's record of the audit trail). Every signed-in user reads it, like
the catalog and the graph: catalog changes name the fields that changed and the new value of the
fields the catalog shows anyway, never the actor or a before/after snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Service
from changes import constants
from changes.models import Deploy, Event, Regression
from core.durations import duration_seconds
from core.errors import InvalidInput, NotFound
from graph import selectors as graph_selectors
from graph.cypher import MAX_DEPTH

MAX_SINCE_DAYS = 90

# Catalog event types that count as changes, and the fields of an update that matter.
CATALOG_TYPES = ("service.updated", "service.transferred", "api.created", "api.updated", "api.deleted", "key.revoked")
SERVICE_FIELDS = ("team", "tier", "lifecycle", "system")
API_FIELDS = (
    "spec",
    "version",
    "lifecycle",
    "slo_availability",
    "slo_p99_ms",
    "deprecated_at",
    "sunset_at",
    "successor",
)
SHOWN = {"tier", "lifecycle", "version"}  # fields whose new value is shown (the catalog shows them to all)


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    slug: str
    kind: str  # service | endpoint
    distance: int  # 0: the service itself; n: n hops down its calls


@dataclass(frozen=True, slots=True)
class EdgeChange:
    change: str  # appeared | stale | disappeared
    src: str
    dst: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RegressionChange:
    id: int
    service: str  # the deployed service
    deploy: int
    version: str
    src: str
    dst: str
    direction: str
    metric: str  # error_rate | p95_ms
    before: float
    after: float
    calls_before: float
    calls_after: float
    at: datetime


@dataclass(frozen=True, slots=True)
class DeployChange:
    id: int
    deploy_id: str
    service: str
    distance: int
    version: str
    environment: str
    status: str
    commit: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CatalogChange:
    type: str  # the event type (service.updated, api.updated, key.revoked, ...)
    service: str | None  # the service it concerns (an API's provider; a revoked key's provider)
    subject: str  # what changed: the service, API or key's name
    changed: list[str]
    summary: str
    at: datetime


@dataclass(slots=True)
class ServiceChanges:
    service: str
    since: datetime
    until: datetime
    depth: int
    scope: list[ScopeEntry]
    scope_complete: bool  # False: the graph could not be read, the scope is the service alone
    edges: list[EdgeChange] = field(default_factory=list)
    regressions: list[RegressionChange] = field(default_factory=list)
    deploys: list[DeployChange] = field(default_factory=list)
    catalog: list[CatalogChange] = field(default_factory=list)
    truncated: bool = False  # some kind had more than CHANGES_MAX_ITEMS (the newest are kept)


def parse_since(raw: str | None, *, now: datetime) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise) or a relative age (``30m``, ``24h``,
    ``7d``, ``2w``); default 24 hours; at most MAX_SINCE_DAYS back, not in the future."""
    raw = (raw or "24h").strip()
    age = duration_seconds(raw)
    if age is not None:
        since = now - timedelta(seconds=age)
    else:
        try:
            since = parse_datetime(raw) if len(raw) <= 40 else None
        except ValueError:
            since = None
        if since is None:
            raise InvalidInput(
                "since: an ISO 8601 time (2026-01-31T12:00:00Z) or an age such as 30m, 24h, 7d.", code="since_invalid"
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    if since > now:
        raise InvalidInput("since: the time is in the future.", code="since_invalid")
    if since < now - timedelta(days=MAX_SINCE_DAYS):
        raise InvalidInput(f"since: at most {MAX_SINCE_DAYS} days back.", code="since_invalid")
    return since


def parse_depth(raw: str | int | None) -> int:
    """1 to the graph's MAX_DEPTH, or ``all`` (the whole dependency closure, to MAX_DEPTH hops)."""
    raw = "1" if raw in (None, "") else str(raw).strip()
    if raw == "all":
        return MAX_DEPTH
    if raw.isascii() and raw.isdigit() and len(raw) <= 2 and 1 <= int(raw) <= MAX_DEPTH:
        return int(raw)
    raise InvalidInput(f"depth: 1 to {MAX_DEPTH}, or all.", code="depth_invalid")


def _catalog_change(event: Event, services_by_id: dict[int, str]) -> CatalogChange | None:
    payload = event.payload or {}
    after = payload.get("after") or {}
    changed = list(payload.get("changed") or [])
    service = services_by_id.get(event.service_id)
    name = (event.subject or {}).get("name", "")
    if event.type == "service.updated":
        changed = [f for f in changed if f in SERVICE_FIELDS]
        if not changed:
            return None
    elif event.type == "api.updated":
        changed = [f for f in changed if f in API_FIELDS]
        if not changed:
            return None
    elif event.type == "service.transferred":
        changed = ["team"]
    else:
        changed = []
    shown = [f"{f} {after[f]}" for f in changed if f in SHOWN and f in after]
    verb = {
        "service.updated": "changed",
        "service.transferred": "moved to another team",
        "api.created": "API created",
        "api.updated": "API changed",
        "api.deleted": "API deleted",
        "key.revoked": "API key revoked",
    }[event.type]
    what = ", ".join(shown or changed)
    summary = f"{name}: {verb}" + (f" ({what})" if what else "")
    return CatalogChange(
        type=event.type, service=service, subject=name, changed=changed, summary=summary, at=event.occurred_at
    )


def _newest(qs, limit: int) -> tuple[list, bool]:
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


def service_changes(*, slug: str, since: str | None = None, depth: str | int | None = None) -> ServiceChanges:
    """What changed around ``slug`` since ``since`` within ``depth`` hops of what it calls."""
    now = timezone.now()
    since_at = parse_since(since, now=now)
    hops = parse_depth(depth)
    service = Service.objects.filter(slug=slug).only("id", "slug").first()
    if service is None:
        raise NotFound("No such service.")
    deps, graph_error = graph_selectors.graph_read(
        lambda: graph_selectors.dependencies(slug=slug, direction="down", depth=hops), []
    )
    scope = [ScopeEntry(slug, "service", 0)] + [ScopeEntry(d["slug"], d["kind"], d["distance"]) for d in deps]
    distance = {e.slug: e.distance for e in reversed(scope)}
    ids = dict(Service.objects.filter(slug__in=list(distance)).values_list("id", "slug"))
    slugs = list(distance)
    limit = settings.CHANGES_MAX_ITEMS
    out = ServiceChanges(
        service=slug, since=since_at, until=now, depth=hops, scope=scope, scope_complete=not graph_error
    )

    edge_events, cut1 = _newest(
        Event.objects.filter(type__in=constants.EDGE_EVENT_TYPES.values(), occurred_at__gte=since_at)
        .filter(Q(service_id__in=list(ids)) | Q(payload__dst__in=slugs))
        .order_by("-id"),
        limit,
    )
    out.edges = [
        EdgeChange(e.type.removeprefix("edge."), e.payload.get("src", ""), e.payload.get("dst", ""), e.occurred_at)
        for e in edge_events
    ]

    regressions, cut2 = _newest(
        Regression.objects.filter(service_id__in=list(ids), detected_at__gte=since_at)
        .select_related("deploy")
        .order_by("-id"),
        limit,
    )
    out.regressions = [
        RegressionChange(
            r.pk,
            ids[r.service_id],
            r.deploy_id,
            r.deploy.version,
            r.src,
            r.dst,
            r.direction,
            r.metric,
            r.before,
            r.after,
            r.calls_before,
            r.calls_after,
            r.detected_at,
        )
        for r in regressions
    ]

    deploys, cut3 = _newest(
        Deploy.objects.filter(service_id__in=list(ids), created_at__gte=since_at).order_by("-created_at", "-id"), limit
    )
    out.deploys = [
        DeployChange(
            d.pk,
            d.client_id,
            ids[d.service_id],
            distance[ids[d.service_id]],
            d.version,
            d.environment,
            d.status,
            d.commit,
            d.finished_at or d.started_at or d.created_at,
        )
        for d in deploys
    ]

    catalog_events, cut4 = _newest(
        Event.objects.filter(type__in=CATALOG_TYPES, occurred_at__gte=since_at)
        .filter(Q(service_id__in=list(ids)) | Q(type="key.revoked", payload__consumer_service_id__in=list(ids)))
        .order_by("-id"),
        limit,
    )
    out.catalog = [c for c in (_catalog_change(e, ids) for e in catalog_events) if c is not None]
    out.truncated = cut1 or cut2 or cut3 or cut4
    return out
