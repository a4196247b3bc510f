"""Reads of services and APIs. Every list is built so its SQL query count does not grow
with page size."""

from django.db.models import Count, Q, QuerySet

from catalog.models import Api, AuditEvent, Service


def service_list(*, q: str = "") -> QuerySet[Service]:
    qs = Service.objects.select_related("team", "team__org").annotate(api_count=Count("apis", distinct=True))
    if q:
        qs = qs.filter(Q(slug__icontains=q) | Q(name__icontains=q) | Q(description__icontains=q))
    return qs


def service_get(*, slug: str) -> Service:
    return service_list().prefetch_related("apis", "consumes").get(slug=slug)


def api_list(*, q: str = "") -> QuerySet[Api]:
    qs = Api.objects.select_related("provider", "provider__team", "provider__team__org")
    if q:
        qs = qs.filter(Q(slug__icontains=q) | Q(name__icontains=q))
    return qs


def api_get(*, slug: str) -> Api:
    return api_list().get(slug=slug)


def audit_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("actor")


def key_is_usable(key, *, at) -> bool:
    """Active, not revoked, not expired at ``at``."""
    return (
        key.status == key.STATUS_ACTIVE
        and key.revoked_at is None
        and (key.expires_at is None or key.expires_at > at)
    )
