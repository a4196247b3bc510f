"""Reads of change over time: deploys, events (scoped to the reader's orgs), webhooks and
their deliveries (scoped to the subscriptions the reader manages)."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q, QuerySet

from changes import constants
from changes.models import Delivery, Deploy, DeployKey, Event, Webhook
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
