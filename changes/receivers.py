"""changes listens to the layers below it, inside their transactions, so an event is written
with the change that caused it or not at all:

- an audit record of a catalog or teams write (core.models.AuditEvent, post_save): catalog
  changes and keys issued, rotated and revoked, with the action, actor and before/after;
- a crawl run that finished as failed (graph.models.CrawlRun, post_save).

(core.events.changed is sent after commit and carries only a kind and a slug: an event written
there could be lost between the commit and the handler, and would not know what happened.)"""

from django.db.models.signals import post_save


def on_audit(sender, instance, created, **kwargs) -> None:
    if created and not kwargs.get("raw"):
        from changes.services import event_from_audit

        event_from_audit(instance)


def on_crawl_run(sender, instance, created, update_fields=None, **kwargs) -> None:
    # crawl_finish saves the whole row once, when the run's outcome is set.
    if instance.status == "failed" and instance.finished_at and not update_fields and not kwargs.get("raw"):
        from changes.services import event_crawl_failed

        event_crawl_failed(instance)


def connect() -> None:
    from core.models import AuditEvent
    from graph.models import CrawlRun

    post_save.connect(on_audit, sender=AuditEvent, dispatch_uid="changes.on_audit")
    post_save.connect(on_crawl_run, sender=CrawlRun, dispatch_uid="changes.on_crawl_run")
