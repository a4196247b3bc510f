"""The audit trail. Services call ``audit_record`` inside their transaction."""

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


def audit_record(*, actor, action: str, obj, before: dict | None = None, after: dict | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        org_id=audit_org_id(obj),
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_repr=getattr(actor, "username", "") or "system",
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )
