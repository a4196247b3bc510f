"""changes listens to the layers below it, inside their transactions, so an event is written
with the change that caused it or not at all:

- an audit record of a catalog or teams write (core.models.AuditEvent, post_save; a bulk
  write's records by core.audit.recorded_many): catalog changes and keys issued, rotated and
  revoked, with the action, actor and before/after;
- a crawl run that finished as failed (graph.models.CrawlRun, post_save);
- what discovery observed on each edge (graph.signals.edges_observed: the edge history) and
  edges that appeared, went stale or disappeared (graph.signals.edges_changed: events), sent
  by the graph once its Neo4j write is done.

(core.events.changed is sent after commit and carries only a kind and a slug: an event written
there could be lost between the commit and the handler, and would not know what happened.)"""

from django.db.models.signals import post_save


def on_audit(sender, instance, created, **kwargs) -> None:
    if created and not kwargs.get("raw"):
        from changes import lifecycle
        from changes.services import event_from_audit, limit_reached_from_audit

        event_from_audit(instance)
        limit_reached_from_audit(instance)  # a team's count reaching its limit: limit.reached
        lifecycle.from_audit(instance)  # an API's deprecation or breaking change: its consumers' notices


def on_audits(sender, events, **kwargs) -> None:
    """The audit records of one bulk write (core.audit.recorded_many): their events in one insert."""
    from changes.services import events_from_audits, limits_reached_from_audits

    events_from_audits(events)
    limits_reached_from_audits(events)


def on_crawl_run(sender, instance, created, update_fields=None, **kwargs) -> None:
    # crawl_finish saves the whole row once, when the run's outcome is set.
    if instance.status == "failed" and instance.finished_at and not update_fields and not kwargs.get("raw"):
        from changes.services import event_crawl_failed

        event_crawl_failed(instance)


def on_edges_observed(sender, samples, **kwargs) -> None:
    from changes.services import history_append, slo_kick

    if history_append(samples):
        slo_kick({x.dst for x in samples})  # the callees' SLO burn-rate alerts: evaluated by Celery
        from changes.regressions import regressions_schedule

        regressions_schedule()  # a recent deploy's edges may have regressed: judged by Celery


def on_edges_changed(sender, change, pairs, total, at_ms, **kwargs) -> None:
    from changes.services import edge_events_record

    edge_events_record(change=change, pairs=pairs, total=total, at_ms=at_ms)


def connect() -> None:
    from core import audit
    from core.models import AuditEvent
    from graph import signals
    from graph.models import CrawlRun

    signals.edges_observed.connect(on_edges_observed, dispatch_uid="changes.on_edges_observed")
    signals.edges_changed.connect(on_edges_changed, dispatch_uid="changes.on_edges_changed")

    post_save.connect(on_audit, sender=AuditEvent, dispatch_uid="changes.on_audit")
    audit.recorded_many.connect(on_audits, sender=AuditEvent, dispatch_uid="changes.on_audits")
    post_save.connect(on_crawl_run, sender=CrawlRun, dispatch_uid="changes.on_crawl_run")
