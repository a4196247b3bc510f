"""The audit trail. Services call ``audit_record`` inside their transaction."""

from django.dispatch import Signal
from django.forms.models import model_to_dict

from core.models import AuditEvent

# Never copied into an audit snapshot, whatever model they appear on.
_SECRET_FIELDS = {"secret_hash", "password", "secret_sealed"}


def snapshot(obj) -> dict | None:
    if obj is None:
        return None
    data = model_to_dict(obj)
    for key, value in list(data.items()):
        if key in _SECRET_FIELDS:
            data.pop(key)
        elif isinstance(value, list):
            data[key] = [getattr(v, "pk", v) for v in value]
        elif not isinstance(value, (str, int, float, bool, dict, type(None))):
            data[key] = str(value)
    return data


def audit_org_id(obj) -> int | None:
    """The org whose admins may read events about ``obj``: each model says so through an
    ``audit_org_id`` property (an org, a team, a service, an API, a key, a membership).
    Anything without one (the crawl schedule, ...) has none and is read by superusers only."""
    return getattr(obj, "audit_org_id", None)


# Sent by ``audit_record_many`` inside the writing transaction with ``events=[AuditEvent, ...]``
# (saved, ids set): a bulk insert sends no post_save, so whoever listens to audit rows (changes
# writes an event for each) connects to post_save of AuditEvent and to this.
recorded_many = Signal()


def _audit_row(actor, action: str, obj, before, after, org_id) -> AuditEvent:
    return AuditEvent(
        org_id=org_id,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_repr=getattr(actor, "username", "") or "system",
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )


def audit_record(*, actor, action: str, obj, before: dict | None = None, after: dict | None = None) -> AuditEvent:
    event = _audit_row(actor, action, obj, before, after, audit_org_id(obj))
    event.save(force_insert=True)
    return event


def audit_record_many(*, actor, action: str, entries, org_ids: dict | None = None) -> list[AuditEvent]:
    """``audit_record`` for many objects of one write (``entries``: (obj, before, after) each)
    in one INSERT; ``org_ids`` (object -> org id, by ``id(obj)``) saves the query per object
    that ``audit_org_id`` makes for objects owned by a team, when the caller knows the org."""
    org_ids = org_ids or {}
    rows = [
        _audit_row(actor, action, obj, before, after, org_ids[id(obj)] if id(obj) in org_ids else audit_org_id(obj))
        for obj, before, after in entries
    ]
    if not rows:
        return rows
    rows = AuditEvent.objects.bulk_create(rows, batch_size=500)
    recorded_many.send(sender=AuditEvent, events=rows)
    return rows
