"""Scorecards listen to the layers below and queue a recompute of only the services a change
touches (Celery, after commit, so no write or crawl waits for it):

- core.events.changed: a committed catalog write (service, API, team, org, system);
- graph.signals.edges_observed / edges_changed: what a crawl saw (both ends of each edge);
- audit records of keys (issued, rotated, revoked, ...) and memberships (team limits).

Which services a catalog change touches is worked out by the task (scorecards.services.
affected_services), not here. A full recompute runs on beat (scorecards-recompute) as well."""

from django.db import transaction
from django.db.models.signals import post_save

from core.queue import enqueue

KINDS = {"org", "team", "service", "api", "system"}


def on_change(sender, changes, **kwargs) -> None:
    from scorecards.tasks import scorecards_changed_task

    keys = [c.key for c in changes if c.kind in KINDS]
    if keys:
        enqueue(scorecards_changed_task, sender, keys)


def _services(slugs) -> None:
    from scorecards.tasks import scorecards_recompute_task

    slugs = sorted(set(slugs))
    if slugs:
        enqueue(scorecards_recompute_task, services=slugs)


def on_edges_observed(sender, samples, **kwargs) -> None:
    _services({x.src for x in samples} | {x.dst for x in samples})


def on_edges_changed(sender, change, pairs, total, **kwargs) -> None:
    if total > len(pairs):  # more changed than were named: recompute everything
        from scorecards.tasks import scorecards_recompute_task

        enqueue(scorecards_recompute_task)
        return
    _services({p.src for p in pairs} | {p.dst for p in pairs if p.kind == "service"})


def _audit_targets(audits) -> list[tuple[str, str]]:
    out = []
    for a in audits:
        if a.action.startswith("key."):
            out.append(("key", a.object_id))
        elif a.action.startswith("member."):
            team = (a.after or a.before or {}).get("team")
            if team is not None:
                out.append(("team_id", str(team)))
    return out


def _queue_audits(targets) -> None:
    from scorecards.tasks import scorecards_changed_task

    by_kind: dict[str, list[str]] = {}
    for kind, key in targets:
        by_kind.setdefault(kind, []).append(key)
    for kind, keys in by_kind.items():
        enqueue(scorecards_changed_task, kind, keys)


def on_audit(sender, instance, created, **kwargs) -> None:
    if created and not kwargs.get("raw"):
        targets = _audit_targets([instance])
        if targets:
            transaction.on_commit(lambda: _queue_audits(targets))


def on_audits(sender, events, **kwargs) -> None:
    targets = _audit_targets(events)
    if targets:
        transaction.on_commit(lambda: _queue_audits(targets))


def connect() -> None:
    from core import audit
    from core.events import changed
    from core.models import AuditEvent
    from graph import signals

    changed.connect(on_change, dispatch_uid="scorecards.on_change")
    signals.edges_observed.connect(on_edges_observed, dispatch_uid="scorecards.on_edges_observed")
    signals.edges_changed.connect(on_edges_changed, dispatch_uid="scorecards.on_edges_changed")
    post_save.connect(on_audit, sender=AuditEvent, dispatch_uid="scorecards.on_audit")
    audit.recorded_many.connect(on_audits, sender=AuditEvent, dispatch_uid="scorecards.on_audits")
