"""Regressions after deploys and the deploy gate (issue 14).

After a deploy of service S, each edge into or out of S is compared, from the edge history
(changes.EdgeSample), in the window after the deploy against the window before it
(REGRESSION_WINDOW_SECONDS each): its error rate and its p95 latency. A metric regressed when it
rose by at least an absolute AND a relative threshold (REGRESSION_ERROR_RATE_ABS/_REL,
REGRESSION_P95_ABS_MS/_REL) and both windows counted at least REGRESSION_MIN_CALLS calls.

- ``regressions_schedule`` (from the history receiver, after a merge's samples are written):
  queues ``regressions_detect`` on Celery when a deploy is recent enough to be judged;
- ``regressions_detect`` (the write: a Regression row per deploy, edge and metric, and a
  ``regression.detected`` event, once);
- ``deploy_verdict`` (the read the pipeline's gate asks: pass, fail or wait, with reasons).

How calls are counted: a sample is calls per minute over the time since the edge's previous
sample, so a sample stands for ``rate x gap`` calls (the gap capped at the window). A sample
whose interval straddles the deploy counts in neither window; its edge is judged on the ones
before and after. Samples and deploys are timed to the second, so a sample that ends or starts
in the deploy's own second may straddle it too, and counts in neither.

Kept apart from services.py and selectors.py so the two can change independently; the same
rules apply (writes here are the only writes of Regression rows)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from changes.models import Deploy, DeployKey, EdgeSample, EdgeSeries, Regression
from core.errors import PermissionDenied
from core.queue import enqueue
from core.redis import client as redis_client
from core.redis import key as redis_key

logger = logging.getLogger(__name__)

JUDGED_STATUSES = ("started", "succeeded")  # a failed or rolled-back deploy is not running
PENDING_KEY = "regressions:pending"  # one queued detection at a time, however many merges ask


def _window() -> int:
    return int(settings.REGRESSION_WINDOW_SECONDS)


def deployed_at(deploy: Deploy) -> int:
    """When the deploy took effect (epoch seconds): finished, else started, else recorded."""
    return int((deploy.finished_at or deploy.started_at or deploy.created_at).timestamp())


@dataclass(slots=True)
class WindowStats:
    """One edge in one window: calls counted, error rate weighted by calls, p95 weighted by calls."""

    calls: float = 0.0
    err_calls: float = 0.0  # calls of the samples that measured an error rate
    err_weighted: float = 0.0
    p95_calls: float = 0.0
    p95_weighted: float = 0.0

    def add(self, calls: float, error_rate: float | None, p95: float | None) -> None:
        self.calls += calls
        if error_rate is not None:
            self.err_calls += calls
            self.err_weighted += error_rate * calls
        if p95 is not None:
            self.p95_calls += calls
            self.p95_weighted += p95 * calls

    @property
    def error_rate(self) -> float | None:
        return self.err_weighted / self.err_calls if self.err_calls else None

    @property
    def p95_ms(self) -> float | None:
        return self.p95_weighted / self.p95_calls if self.p95_calls else None


@dataclass(slots=True)
class EdgeComparison:
    """An edge of the deployed service, before and after the deploy, and what regressed."""

    src: str
    dst: str
    direction: str
    before: WindowStats = field(default_factory=WindowStats)
    after: WindowStats = field(default_factory=WindowStats)
    regressed: list[tuple[str, float, float]] = field(default_factory=list)  # (metric, before, after)

    @property
    def enough_traffic(self) -> bool:
        least = float(settings.REGRESSION_MIN_CALLS)
        return self.before.calls >= least and self.after.calls >= least


def _rose(before: float | None, after: float | None, absolute: float, relative: float) -> bool:
    if before is None or after is None:
        return False
    return after - before >= absolute and after >= before * (1 + relative)


def _judge(edge: EdgeComparison) -> None:
    if not edge.enough_traffic:
        return
    b, a = edge.before, edge.after
    if _rose(b.error_rate, a.error_rate, settings.REGRESSION_ERROR_RATE_ABS, settings.REGRESSION_ERROR_RATE_REL):
        edge.regressed.append(("error_rate", round(b.error_rate, 6), round(a.error_rate, 6)))
    if _rose(b.p95_ms, a.p95_ms, settings.REGRESSION_P95_ABS_MS, settings.REGRESSION_P95_REL):
        edge.regressed.append(("p95_ms", round(b.p95_ms, 3), round(a.p95_ms, 3)))


@dataclass(slots=True)
class DeployComparison:
    deploy: Deploy
    at: int  # deployed_at
    after_ends: int  # the end of the window after the deploy (the window, or the next deploy)
    edges: list[EdgeComparison]


def deploy_compare(deploy: Deploy) -> DeployComparison:
    """Every recorded edge of the deploy's service, its window before the deploy against its
    window after (up to now, the window's end, or the service's next deploy, whichever is first)."""
    window = _window()
    at = deployed_at(deploy)
    after_ends = at + window
    later = (
        Deploy.objects.filter(service_id=deploy.service_id, status__in=JUDGED_STATUSES, id__gt=deploy.pk)
        .order_by("id")
        .first()
    )
    if later is not None and deployed_at(later) > at:
        after_ends = min(after_ends, deployed_at(later))
    slug = deploy.service.slug
    series = {
        sid: EdgeComparison(src, dst, "out" if src == slug else "in")
        for sid, src, dst in EdgeSeries.objects.filter(Q(src=slug) | Q(dst=slug)).values_list("id", "src", "dst")
    }
    # From one window before the window before the deploy: each sample needs its predecessor.
    rows = (
        EdgeSample.objects.filter(series_id__in=list(series), at__gte=at - 2 * window, at__lte=after_ends)
        .order_by("series_id", "at")
        .values_list("series_id", "at", "rate", "error_rate", "p95_ms")
    )
    previous: dict[int, int] = {}
    for sid, t, rate, err, p95 in rows:
        prev = previous.get(sid)
        previous[sid] = t
        if prev is None or rate is None or t <= prev:
            continue
        calls = rate * min(t - prev, window) / 60.0
        edge = series[sid]
        if at - window < t < at:
            edge.before.add(calls, err, p95)
        elif prev > at:
            edge.after.add(calls, err, p95)
    edges = sorted(series.values(), key=lambda e: (e.direction, e.src, e.dst))
    for edge in edges:
        _judge(edge)
    return DeployComparison(deploy=deploy, at=at, after_ends=after_ends, edges=edges)


# --- Detection (Celery) --------------------------------------------------------------------------
def _recent_deploys(now: float):
    """Deploys whose window after may still be filling: recorded within two windows of now."""
    since = datetime.fromtimestamp(now - 2 * _window(), tz=UTC)
    return Deploy.objects.filter(created_at__gte=since, status__in=JUDGED_STATUSES)


def regressions_schedule() -> bool:
    """After a merge's samples are written: queue one detection when a deploy is recent enough to
    judge (one indexed query otherwise). At most one queued at a time: the task clears the flag
    before it reads, so samples written while it runs queue the next one."""
    if not settings.EDGE_HISTORY or not _recent_deploys(time.time()).exists():
        return False
    try:
        if not redis_client().set(redis_key(PENDING_KEY), "1", nx=True, ex=120):
            return False
    except Exception as exc:  # noqa: BLE001 (Redis down: queue anyway, the broker says whether it can)
        logger.warning("regression detection flag: %s", exc)
    from changes.tasks import regression_detect_task

    transaction.on_commit(lambda: enqueue(regression_detect_task))
    return True


def regressions_detect(*, now: float | None = None) -> int:
    """Compare the edges of every recent deploy's service and record what regressed (a
    Regression and a ``regression.detected`` event per deploy, edge and metric, once). Returns
    how many were recorded now."""
    from changes.services import events_record_many

    try:
        redis_client().delete(redis_key(PENDING_KEY))
    except Exception as exc:  # noqa: BLE001
        logger.warning("regression detection flag: %s", exc)
    now = time.time() if now is None else now
    recorded = 0
    for deploy in _recent_deploys(now).select_related("service__team").order_by("id"):
        found = deploy_compare(deploy)
        flagged = [(e, m, b, a) for e in found.edges for m, b, a in e.regressed]
        if not flagged:
            continue
        with transaction.atomic():
            known = set(Regression.objects.filter(deploy=deploy).values_list("src", "dst", "metric"))
            new = [
                Regression(
                    deploy=deploy,
                    service_id=deploy.service_id,
                    src=e.src,
                    dst=e.dst,
                    direction=e.direction,
                    metric=metric,
                    before=before,
                    after=after,
                    calls_before=round(e.before.calls, 1),
                    calls_after=round(e.after.calls, 1),
                )
                for e, metric, before, after in flagged
                if (e.src, e.dst, metric) not in known
            ]
            if not new:
                continue
            Regression.objects.bulk_create(new, ignore_conflicts=True)
            events_record_many([_event(deploy, r) for r in new])
        recorded += len(new)
    return recorded


def _event(deploy: Deploy, r: Regression) -> dict:
    service = deploy.service
    return {
        "type": "regression.detected",
        "subject": {"kind": "edge", "id": f"{r.src}->{r.dst}", "name": f"{r.src} -> {r.dst}"},
        "payload": {
            "service": service.slug,
            "deploy": deploy.pk,
            "deploy_id": deploy.client_id,
            "version": deploy.version,
            "src": r.src,
            "dst": r.dst,
            "direction": r.direction,
            "metric": r.metric,
            "before": r.before,
            "after": r.after,
            "calls_before": r.calls_before,
            "calls_after": r.calls_after,
        },
        "org_id": service.team.org_id,
        "team_id": service.team_id,
        "service_id": service.pk,
    }


# --- The deploy gate ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # regression | slo_burn | deploy_status | window_open | not_enough_traffic | no_regression
    detail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    deploy: int
    service: str
    verdict: str  # pass | fail | wait
    reasons: list[Reason]
    deployed_at: datetime
    window_ends_at: datetime
    edges_compared: int
    edges_total: int


def _metric_text(metric: str, before: float, after: float) -> str:
    if metric == "error_rate":
        return f"error rate {before * 100:.2f}% -> {after * 100:.2f}%"
    return f"p95 {before:.0f} ms -> {after:.0f} ms"


def _slo_burn_reasons(deploy: Deploy, since: int, now: float) -> list[Reason]:
    """The service's APIs burning their error budget faster than 1x since the deploy, from the
    SLO evaluation's selector (changes.selectors.slo_burn_since) where it is installed."""
    from changes import selectors

    burning = getattr(selectors, "slo_burn_since", None)
    if burning is None:
        return []
    reasons = []
    for b in burning(service=deploy.service, since=since, now=now):
        rate = "no error budget at all" if b.burn_rate is None else f"burn rate {b.burn_rate:.1f}x"
        reasons.append(
            Reason(
                "slo_burn",
                f"API {b.api} ({b.availability_target}% availability): error ratio {b.error_ratio * 100:.2f}% "
                f"since the deploy, {rate}.",
            )
        )
    return reasons


def deploy_verdict(*, deploy: Deploy, deploy_key: DeployKey | None = None, now: float | None = None) -> Verdict:
    """Whether a pipeline should keep the deploy: ``fail`` when an edge of the service regressed
    since it (recorded, or visible in the samples now) or its APIs burn their SLO, or the deploy
    failed; ``wait`` while the window after it is open or the edges carried too few calls to
    judge; ``pass`` otherwise. A deploy key may ask about its own service's deploys only."""
    if deploy_key is not None and deploy_key.service_id != deploy.service_id:
        raise PermissionDenied(f"This deploy key reads deploys of '{deploy_key.service.slug}' only.")
    now = time.time() if now is None else now
    found = deploy_compare(deploy)
    fail: list[Reason] = []
    if deploy.status in ("failed", "rolled_back"):
        fail.append(Reason("deploy_status", f"The deploy is recorded as {deploy.status}."))
    seen = set()
    for r in Regression.objects.filter(deploy=deploy).order_by("id"):
        seen.add((r.src, r.dst, r.metric))
        fail.append(
            Reason("regression", f"{r.src} -> {r.dst}: {_metric_text(r.metric, r.before, r.after)} after the deploy.")
        )
    for e in found.edges:
        for metric, before, after in e.regressed:
            if (e.src, e.dst, metric) not in seen:
                fail.append(
                    Reason("regression", f"{e.src} -> {e.dst}: {_metric_text(metric, before, after)} after the deploy.")
                )
    fail += _slo_burn_reasons(deploy, found.at, now)
    compared = sum(e.enough_traffic for e in found.edges)
    reasons: list[Reason]
    if fail:
        verdict, reasons = "fail", fail
    elif deploy.status == "started":
        verdict, reasons = "wait", [Reason("deploy_status", "The deploy has not finished yet.")]
    elif now < found.after_ends:
        left = int(found.after_ends - now)
        verdict, reasons = "wait", [Reason("window_open", f"The observation window ends in {left} s.")]
    elif not compared:
        least = settings.REGRESSION_MIN_CALLS
        verdict, reasons = (
            "wait",
            [
                Reason(
                    "not_enough_traffic",
                    f"No edge of '{deploy.service.slug}' carried {least} calls both before and after the deploy "
                    f"({len(found.edges)} recorded).",
                )
            ],
        )
    else:
        verdict, reasons = (
            "pass",
            [Reason("no_regression", f"{compared} of {len(found.edges)} edges compared; none regressed.")],
        )
    return Verdict(
        deploy=deploy.pk,
        service=deploy.service.slug,
        verdict=verdict,
        reasons=reasons,
        deployed_at=datetime.fromtimestamp(found.at, tz=UTC),
        window_ends_at=datetime.fromtimestamp(found.after_ends, tz=UTC),
        edges_compared=compared,
        edges_total=len(found.edges),
    )
