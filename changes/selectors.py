"""Reads of change over time: deploys, events (scoped to the reader's orgs), webhooks and
their deliveries (scoped to the subscriptions the reader manages)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet, Sum

from catalog.models import Api, Service
from changes import constants, slo
from changes.models import Delivery, Deploy, DeployKey, EdgeHourly, EdgeSample, EdgeSeries, Event, Webhook
from changes.permissions import can_manage_webhook
from core.errors import InvalidInput, NotFound, TooManyRequests
from core.limiter import WaitSlots
from teams.models import Team

EVENTS_POLL_SECONDS = 0.25  # how often a long poll of the event log looks again
EVENTS_WAIT_RETRY_SECONDS = 5  # Retry-After of a long poll refused for want of a slot
LONG_POLLS = WaitSlots("events-wait")


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


def team_activity(*, user, slug: str, limit: int = 30) -> tuple[Team, list[Event]]:
    """A team's newest events (deploys, catalog changes, keys, regressions, SLO alerts, limits),
    newest first, as far as ``user`` may read the event log (NotFound for an unknown team)."""
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team {slug!r}.")
    return team, list(event_list(user=user).filter(team_id=team.pk).order_by("-id")[:limit])


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
    (at most EVENTS_MAX_WAIT) for the first one to arrive (long poll). A wait holds a web
    thread, so at most EVENTS_MAX_WAITERS_PER_USER of one user's and EVENTS_MAX_WAITERS of
    everyone's wait at once; past that, 429 ``too_many_waits`` (with Redis down: no wait). An
    answer that is there already is given at once, without a slot."""
    qs = event_list(user=user).filter(id__gt=after)
    if types:
        qs = qs.filter(type__in=types)
    wait = min(max(wait, 0.0), settings.EVENTS_MAX_WAIT)
    events = list(qs[:limit])
    if events or wait <= 0:  # nothing to wait for: no slot taken
        return events
    with LONG_POLLS.hold(
        str(user.pk), seconds=wait, per_subject=settings.EVENTS_MAX_WAITERS_PER_USER, total=settings.EVENTS_MAX_WAITERS
    ) as granted:
        if granted is False:
            raise TooManyRequests(
                "Too many long polls are waiting (yours or everyone's): poll again without wait, or later.",
                code="too_many_waits",
                retry_after=EVENTS_WAIT_RETRY_SECONDS,
            )
        return _poll(qs, limit, wait if granted else 0)


def _poll(qs: QuerySet[Event], limit: int, wait: float) -> list[Event]:
    deadline = time.monotonic() + wait
    while True:
        events = list(qs[:limit])
        if events or time.monotonic() >= deadline:
            return events
        time.sleep(EVENTS_POLL_SECONDS)


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


# --- SLOs (changes/slo.py does the arithmetic) ----------------------------------------------------
# An API's SLO is evaluated on every inbound edge of its provider service: history is kept per
# (caller, callee service), so calls cannot be told apart per API of one service.


def _epoch(value) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def _sums_from(row: dict, suffix: str = "") -> slo.Sums:
    return slo.Sums(
        samples=int(row.get(f"n{suffix}") or 0),
        edges=int(row.get(f"e{suffix}") or 0),
        weight=float(row.get(f"w{suffix}") or 0.0),
        errors=float(row.get(f"x{suffix}") or 0.0),
        latency_weight=float(row.get(f"lw{suffix}") or 0.0),
        latency_good=float(row.get(f"lg{suffix}") or 0.0),
        p99_worst_ms=row.get(f"lm{suffix}"),
    )


def _add(a: slo.Sums, b: slo.Sums) -> slo.Sums:
    worst = [x for x in (a.p99_worst_ms, b.p99_worst_ms) if x is not None]
    return slo.Sums(
        samples=a.samples + b.samples,
        edges=max(a.edges, b.edges),
        weight=a.weight + b.weight,
        errors=a.errors + b.errors,
        latency_weight=a.latency_weight + b.latency_weight,
        latency_good=a.latency_good + b.latency_good,
        p99_worst_ms=max(worst) if worst else None,
    )


def inbound_window_sums(
    *, dsts: list[str] | None, now: int, windows: list[int], p99_target_ms: int | None = None
) -> dict[str, dict[int, slo.Sums]]:
    """Per callee service, the sums of its inbound samples over each window ending at ``now``
    (samples at ``now - window < at <= now``): one query whatever the number of windows."""
    qs = EdgeSample.objects.filter(at__gt=now - max(windows), at__lte=now)
    if dsts is not None:
        qs = qs.filter(series__dst__in=dsts)
    aggs = {}
    for w in windows:
        f = Q(at__gt=now - w)
        aggs[f"n{w}"] = Count("rate", filter=f)
        aggs[f"e{w}"] = Count("series_id", distinct=True, filter=f & Q(rate__isnull=False))
        aggs[f"w{w}"] = Sum("rate", filter=f & Q(error_rate__isnull=False))
        aggs[f"x{w}"] = Sum(F("rate") * F("error_rate"), filter=f)
        aggs[f"lm{w}"] = Max("p99_ms", filter=f)
        if p99_target_ms is not None:
            aggs[f"lw{w}"] = Sum("rate", filter=f & Q(p99_ms__isnull=False))
            aggs[f"lg{w}"] = Sum("rate", filter=f & Q(p99_ms__lte=p99_target_ms))
    out: dict[str, dict[int, slo.Sums]] = {}
    for row in qs.values("series__dst").annotate(**aggs).order_by():
        out[row["series__dst"]] = {w: _sums_from(row, str(w)) for w in windows}
    return out


def _span_sums(*, dst: str, start: int, end: int, p99_target_ms: int | None = None) -> slo.Sums:
    """The sums of a callee's inbound history over ``start < t <= end`` of any length: raw
    samples as far back as they are kept (EDGE_HISTORY_RAW_HOURS, from a whole hour), hourly
    roll-ups before that (each counting as the windows it sums up; its p99 the worst window's).
    A span within the raw retention (a deploy an hour ago) reads samples only."""
    raw_start = start
    total = slo.Sums()
    kept_from = end - settings.EDGE_HISTORY_RAW_HOURS * 3600
    kept_from += -kept_from % 3600  # the first whole hour still held in samples
    if start < kept_from:
        raw_start = kept_from - 1  # samples from kept_from on (raw windows are start < at <= end)
        n = F("samples")
        aggs = {
            "n": Sum("samples", filter=Q(rate__isnull=False)),
            "e": Count("series_id", distinct=True),
            "w": Sum(F("rate") * n, filter=Q(error_rate__isnull=False)),
            "x": Sum(F("rate") * F("error_rate") * n),
            "lm": Max("p99_ms"),
        }
        if p99_target_ms is not None:
            aggs["lw"] = Sum(F("rate") * n, filter=Q(p99_ms__isnull=False))
            aggs["lg"] = Sum(F("rate") * n, filter=Q(p99_ms__lte=p99_target_ms))
        row = EdgeHourly.objects.filter(series__dst=dst, hour__gte=start - start % 3600, hour__lt=raw_start).aggregate(
            **aggs
        )
        total = _sums_from(row)
    if end > raw_start:
        span = end - raw_start
        raw = inbound_window_sums(dsts=[dst], now=end, windows=[span], p99_target_ms=p99_target_ms)
        if dst in raw:
            total = _add(total, raw[dst][span])
    return total


def burn_rules() -> list[slo.BurnRule]:
    return slo.parse_rules(settings.SLO_BURN_RULES)


def slo_status(*, api, now: float | None = None) -> slo.SloStatus:
    """An API's SLO over 1 h, 24 h and 28 d, and its burn-rate alert rules, from its provider's
    inbound edge history at ``now`` (epoch seconds; default: the clock)."""
    now = int(now if now is not None else time.time())
    dst = api.provider.slug
    target = float(api.slo_availability) if api.slo_availability is not None else None
    rules = burn_rules()
    short = sorted({3600, 86400, *(r.long_s for r in rules), *(r.short_s for r in rules)})
    raw = inbound_window_sums(dsts=[dst], now=now, windows=short, p99_target_ms=api.slo_p99_ms).get(dst, {})
    by_window = {name: raw.get(seconds, slo.Sums()) for name, seconds in slo.WINDOWS.items() if seconds in raw}
    by_window["28d"] = _span_sums(dst=dst, start=now - slo.WINDOWS["28d"], end=now, p99_target_ms=api.slo_p99_ms)
    for name in slo.WINDOWS:
        by_window.setdefault(name, slo.Sums())
    windows = [
        slo.evaluate_window(
            name,
            seconds,
            by_window[name],
            availability_target=target,
            p99_target_ms=api.slo_p99_ms,
            latency_objective=settings.SLO_LATENCY_OBJECTIVE,
        )
        for name, seconds in slo.WINDOWS.items()
    ]
    states = slo.evaluate_rules(rules, raw, availability_target=target)
    firing = next((s.rule for s in states if s.firing), None)
    return slo.SloStatus(
        api=api.slug,
        service=dst,
        scope="service",
        availability_target=target,
        p99_target_ms=api.slo_p99_ms,
        evaluated_at=now,
        windows=windows,
        rules=states,
        firing=firing is not None,
        firing_rule=firing,
    )


def slo_for_api(*, slug: str, now: float | None = None) -> slo.SloStatus:
    api = Api.objects.select_related("provider").filter(slug=slug).first()
    if api is None:
        raise NotFound("No such API.")
    return slo_status(api=api, now=now)


def slo_for_service(*, slug: str, now: float | None = None) -> list[slo.SloStatus]:
    """The SLOs of the APIs a service provides that have a target (availability or p99)."""
    if not Service.objects.filter(slug=slug).exists():
        raise NotFound("No such service.")
    apis = Api.objects.select_related("provider").filter(provider__slug=slug).order_by("slug")
    return [slo_status(api=a, now=now) for a in apis if a.slo_availability is not None or a.slo_p99_ms is not None]


@dataclass(frozen=True, slots=True)
class SloBurn:
    """An API burning its error budget faster than 1x since ``since`` (epoch seconds)."""

    api: str
    service: str
    since: int
    availability_target: float
    error_ratio: float
    burn_rate: float | None  # None: a 100 % target with errors (no budget at all)
    samples: int


def slo_burn_since(*, service, since, now: float | None = None) -> list[SloBurn]:
    """The APIs of ``service`` (a Service or its slug) with an availability target whose error
    budget burned faster than 1x over ``since`` (a datetime or epoch seconds) to now, measured
    on the provider's inbound edges (as every SLO here). Empty when nothing burned or no call
    was observed since then. For the deploy verdict: "SLO burn since the deploy"."""
    slug = service if isinstance(service, str) else service.slug
    now = int(now if now is not None else time.time())
    start = _epoch(since)
    apis = list(Api.objects.filter(provider__slug=slug, slo_availability__isnull=False).order_by("slug"))
    if not apis or start >= now:
        return []
    sums = _span_sums(dst=slug, start=start, end=now)
    ratio = slo.error_ratio(sums)
    out = []
    for api in apis:
        target = float(api.slo_availability)
        burn = slo.burn_rate(ratio, slo.budget_of(target))
        if ratio is not None and ((burn is None and ratio > 0) or (burn is not None and burn > 1.0)):
            out.append(
                SloBurn(
                    api=api.slug,
                    service=slug,
                    since=start,
                    availability_target=target,
                    error_ratio=round(ratio, 6),
                    burn_rate=None if burn is None else round(burn, 4),
                    samples=sums.samples,
                )
            )
    return out
