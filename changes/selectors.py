"""Reads of change over time: deploys, events (scoped to the reader's orgs), webhooks and
their deliveries (scoped to the subscriptions the reader manages)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from catalog.models import Service
from changes import constants
from changes.models import Delivery, Deploy, DeployKey, EdgeHourly, EdgeSample, EdgeSeries, Event, Webhook
from changes.permissions import can_manage_webhook
from core.errors import InvalidInput, NotFound
from teams.models import Team


def deploy_list(*, service_slug: str | None = None) -> QuerySet[Deploy]:
    qs = Deploy.objects.select_related("service")
    return qs.filter(service__slug=service_slug) if service_slug else qs


def deploys_recent(*, service_id: int, limit: int = 10) -> list[Deploy]:
    return list(Deploy.objects.filter(service_id=service_id).order_by("-id")[:limit])


def deploy_key_list(*, user) -> QuerySet[DeployKey]:
    """Deploy keys of the services whose team the user is on (org admins: their orgs')."""
    qs = DeployKey.objects.select_related("service__team")
    if user.is_superuser:
        return qs
    teams = Team.objects.filter(Q(memberships__user=user) | Q(org__admins=user)).values("pk")
    return qs.filter(service__team__in=teams)


def visible_org_ids(user) -> set[int] | None:
    """Orgs whose events ``user`` reads: those of the teams they are on and the orgs they
    administer. None: every org and installation-wide events (superusers)."""
    if user.is_superuser:
        return None
    orgs = set(Team.objects.filter(memberships__user=user).values_list("org_id", flat=True))
    return orgs | set(user.administered_orgs.values_list("pk", flat=True))


def event_list(*, user) -> QuerySet[Event]:
    orgs = visible_org_ids(user)
    qs = Event.objects.order_by("id")
    return qs if orgs is None else qs.filter(org_id__in=orgs)


class CursorInvalid(InvalidInput):
    code = "cursor_invalid"


def parse_types(raw: str | None) -> list[str]:
    types = [t.strip() for t in (raw or "").split(",") if t.strip()]
    unknown = sorted(set(types) - constants.EVENT_TYPES)
    if unknown:
        raise InvalidInput(f"types: unknown event types {unknown}.", code="unknown_event_type")
    return types


def parse_cursor(raw: str | None) -> int:
    if raw in (None, ""):
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise CursorInvalid("after: the cursor is not one this list handed out; start again without it.")
    return int(raw)


def events_after(*, user, after: int, types: list[str], limit: int, wait: float) -> list[Event]:
    """Events after the cursor, oldest first; with ``wait`` > 0, waits up to that many seconds
    (at most EVENTS_MAX_WAIT) for the first one to arrive (long poll)."""
    qs = event_list(user=user).filter(id__gt=after)
    if types:
        qs = qs.filter(type__in=types)
    deadline = time.monotonic() + min(max(wait, 0.0), float(getattr(settings, "EVENTS_MAX_WAIT", 25)))
    while True:
        events = list(qs[:limit])
        if events or time.monotonic() >= deadline:
            return events
        time.sleep(float(getattr(settings, "EVENTS_POLL_INTERVAL", 0.25)))


def webhook_list(*, user) -> QuerySet[Webhook]:
    """The subscriptions the user manages."""
    qs = Webhook.objects.select_related("org", "team__org", "service__team__org")
    if user.is_superuser:
        return qs
    return qs.filter(pk__in=[w.pk for w in qs if can_manage_webhook(user, w)])


def webhook_get(*, user, pk: int) -> Webhook:
    webhook = Webhook.objects.select_related("org", "team__org", "service__team__org").filter(pk=pk).first()
    if webhook is None or not can_manage_webhook(user, webhook):
        raise NotFound("No such webhook.")
    return webhook


def delivery_list(*, webhook: Webhook) -> QuerySet[Delivery]:
    return Delivery.objects.filter(webhook=webhook).select_related("event").prefetch_related("attempt_log")


def delivery_get(*, user, pk: int) -> Delivery:
    item = Delivery.objects.select_related("event", "webhook").filter(pk=pk).first()
    if item is None or not can_manage_webhook(user, item.webhook):
        raise NotFound("No such delivery.")
    return item


def deploy_get(*, pk) -> Deploy:
    try:
        return Deploy.objects.select_related("service").get(pk=int(pk))
    except (Deploy.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such deploy.") from None


# --- Edge history -------------------------------------------------------------------------------
HISTORY_WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}


def _hourly_from_samples(rows) -> list[tuple]:
    """Raw samples (series_id, at, rate, error_rate, p95) summed up per hour like the roll-up:
    mean rate, error rate weighted by rate, the worst window's p95."""
    hours: dict[tuple[int, int], list] = {}
    for series_id, at, rate, err, p95 in rows:
        acc = hours.setdefault((series_id, at - at % 3600), [0.0, 0, 0.0, 0.0, None])
        if rate is not None:
            acc[0] += rate
            acc[1] += 1
            if err is not None:
                acc[2] += err * rate
                acc[3] += rate
        if p95 is not None:
            acc[4] = p95 if acc[4] is None else max(acc[4], p95)
    return [
        (
            sid,
            hour,
            round(a[0] / a[1], 4) if a[1] else None,
            round(a[2] / a[3], 4) if a[3] else (0.0 if a[1] else None),
            a[4],
        )
        for (sid, hour), a in sorted(hours.items())
    ]


def service_history(*, slug: str, window: str, now: float | None = None) -> dict:
    """What discovery observed on the service's inbound and outbound edges over ``window``
    (1h, 24h: every window as observed; 7d: hourly roll-ups, the hours not yet rolled up
    summed from the samples), the first EDGE_HISTORY_MAX_EDGES edges recorded per direction
    (busiest first), and the service's deploys in that time as markers."""
    if window not in HISTORY_WINDOWS:
        raise InvalidInput(f"window: one of {', '.join(HISTORY_WINDOWS)}.", code="window_invalid")
    service = Service.objects.filter(slug=slug).only("id", "slug").first()
    if service is None:
        raise NotFound("No such service.")
    now = int(now if now is not None else time.time())
    since = now - HISTORY_WINDOWS[window]
    limit = settings.EDGE_HISTORY_MAX_EDGES
    directions = {"out": Q(src=slug), "in": Q(dst=slug)}
    series = {}
    truncated = False
    for direction, where in directions.items():
        found = list(EdgeSeries.objects.filter(where).order_by("id").values_list("id", "src", "dst")[: limit + 1])
        truncated |= len(found) > limit
        for sid, src, dst in found[:limit]:
            series[sid] = {"direction": direction, "src": src, "dst": dst, "points": []}
    ids = list(series)
    if window == "7d":
        rolled_until = EdgeHourly.objects.aggregate(h=Max("hour"))["h"]
        raw_from = since if rolled_until is None else max(since, rolled_until + 3600)
        rows = list(
            EdgeHourly.objects.filter(series_id__in=ids, hour__gte=since - since % 3600)
            .order_by("series_id", "hour")
            .values_list("series_id", "hour", "rate", "error_rate", "p95_ms")
        )
        raw = EdgeSample.objects.filter(series_id__in=ids, at__gte=raw_from - raw_from % 3600).values_list(
            "series_id", "at", "rate", "error_rate", "p95_ms"
        )
        rows += _hourly_from_samples(raw)
        resolution = 3600
    else:
        rows = (
            EdgeSample.objects.filter(series_id__in=ids, at__gte=since)
            .order_by("series_id", "at")
            .values_list("series_id", "at", "rate", "error_rate", "p95_ms")
        )
        resolution = 0
    for sid, at, rate, err, p95 in rows:
        series[sid]["points"].append({"t": at * 1000, "calls_per_min": rate, "error_rate": err, "p95_ms": p95})
    edges = sorted(
        series.values(),
        key=lambda e: (e["direction"], -max((p["calls_per_min"] or 0.0 for p in e["points"]), default=0.0), e["dst"]),
    )
    deploys = [
        {
            "id": d.pk,
            "version": d.version,
            "status": d.status,
            "environment": d.environment,
            "t": int((d.finished_at or d.started_at or d.created_at).timestamp() * 1000),
        }
        for d in Deploy.objects.filter(service_id=service.pk, created_at__gte=datetime.fromtimestamp(since, tz=UTC))
        .order_by("created_at")
        .only("id", "version", "status", "environment", "started_at", "finished_at", "created_at")[:200]
    ]
    return {
        "service": slug,
        "window": window,
        "from": since * 1000,
        "to": now * 1000,
        "resolution_seconds": resolution,
        "truncated": truncated,
        "edges": edges,
        "deploys": deploys,
    }
