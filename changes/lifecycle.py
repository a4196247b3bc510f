"""API lifecycle notices (issue 15): who consumes a deprecated API, and the events that tell them.

Consumers are the union of the services observed calling the API's provider (Neo4j, one graph
query), the services holding active keys for the API and the services declaring they consume it
(database). Each event is written once
per consumer team (``team_id`` is that team, so a webhook subscribed to the team receives it) and
once for the provider's team; every payload names all consumer teams and services.

- ``api.deprecated``: when the deprecation is announced or changed (the ``api.deprecate`` audit
  record, in its transaction);
- ``api.sunset_approaching``: by the ``api-sunset-notices`` beat task, at the marks of
  API_SUNSET_NOTICE_DAYS (30, 7, 1 days before), each once per sunset date: a mark already passed
  when a later one is reached is not sent late;
- ``api.sunset``: by the same task, once the sunset instant has passed;
- ``api.breaking_change``: when the provider confirms a new spec that breaks the old one's
  clients without a new major version (the ``api.breaking_change`` audit record), with the list
  of changes (kind, JSON pointer, message).

A changed sunset date starts the marks over (they are kept per date). Whether a mark was sent
is read from the event log itself, so the task can run again, or late, safely."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Api, ApiKey, Service
from changes import constants
from changes.models import Event
from changes.services import events_record_many
from core.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


def api_consumers(api: Api) -> tuple[list[Service], bool]:
    """(consumer services, whether the graph answered): observed callers of the provider
    service, services holding active keys for the API and services declaring that they consume
    it. The provider itself is left out."""
    from graph import selectors as graph_selectors

    slugs: set[str] = set()
    observed = True
    try:
        callers = graph_selectors.dependencies(slug=api.provider.slug, direction="up", depth=1)
        slugs |= {c["slug"] for c in callers if c["kind"] == "service"}
    except ServiceUnavailable:
        observed = False  # key holders still hear of it
        logger.warning("api lifecycle: graph unavailable, %s's observed callers left out", api.slug)
    now = timezone.now()
    holders = catalog_selectors.keys_in_state(ApiKey.objects.filter(api=api), ApiKey.STATE_ACTIVE, at=now)
    slugs |= set(holders.values_list("consumer__slug", flat=True))
    slugs |= set(api.declared_consumers.values_list("slug", flat=True))  # services that declare they consume it
    slugs.discard(api.provider.slug)
    services = list(Service.objects.filter(slug__in=slugs).select_related("team").order_by("slug"))
    return services, observed


def _emit(api: Api, type_: str, extra: dict) -> int:
    """One event per consumer team and one for the provider's team."""
    consumers, observed = api_consumers(api)
    teams: dict[int, dict] = {}
    for svc in consumers:
        team = teams.setdefault(svc.team_id, {"slug": svc.team.slug, "org_id": svc.team.org_id, "services": []})
        team["services"].append(svc.slug)
    payload = {
        "api": api.slug,
        "provider": api.provider.slug,
        "deprecated_at": api.deprecated_at.isoformat() if api.deprecated_at else None,
        "sunset": api.sunset_at.isoformat() if api.sunset_at else None,
        "successor": api.successor.slug if api.successor_id else None,
        "consumer_teams": sorted(t["slug"] for t in teams.values()),
        "consumer_services": [s.slug for s in consumers],
        "callers_observed": observed,
        **extra,
    }
    subject = {"kind": "api", "id": str(api.pk), "name": api.slug}
    provider_team = api.provider.team
    rows = [
        {
            "type": type_,
            "subject": subject,
            "payload": {**payload, "recipient": "provider", "team_services": [api.provider.slug]},
            "org_id": provider_team.org_id,
            "team_id": provider_team.pk,
            "service_id": api.provider_id,
        }
    ]
    for team_id, team in sorted(teams.items()):
        if team_id == provider_team.pk:
            rows[0]["payload"]["team_services"] += team["services"]
            continue
        rows.append(
            {
                "type": type_,
                "subject": subject,
                "payload": {**payload, "recipient": "consumer", "team_services": team["services"]},
                "org_id": team["org_id"],
                "team_id": team_id,
                "service_id": None,
            }
        )
    return events_record_many(rows)


def on_deprecate(audit) -> int:
    """The ``api.deprecate`` audit record (in the deprecation's transaction) as api.deprecated."""
    api = Api.objects.select_related("provider__team", "successor").filter(pk=audit.object_id).first()
    if api is None or api.deprecated_at is None:
        return 0
    return _emit(api, constants.API_DEPRECATED, {"actor": audit.actor_repr})


def on_breaking_change(audit) -> int:
    """The ``api.breaking_change`` audit record (a provider confirmed a spec that breaks the old
    one's clients, in the update's transaction) as api.breaking_change, listing each change."""
    api = Api.objects.select_related("provider__team", "successor").filter(pk=audit.object_id).first()
    if api is None:
        return 0
    after, before = audit.after or {}, audit.before or {}
    extra = {
        "actor": audit.actor_repr,
        "version": after.get("version", api.version),
        "previous_version": before.get("version", ""),
        "changes": after.get("changes", []),
        "changes_truncated": bool(after.get("truncated")),
    }
    return _emit(api, constants.API_BREAKING_CHANGE, extra)


def from_audit(record) -> None:
    """The lifecycle events of one new audit record (changes.receivers.on_audit, in the writing
    transaction): a deprecation's notices, a confirmed breaking change's."""
    if record.action == "api.deprecate":
        on_deprecate(record)
    elif record.action == "api.breaking_change":
        on_breaking_change(record)


def _sent(api: Api, type_: str, sunset_iso: str, mark: int | None = None) -> bool:
    sent = Event.objects.filter(type=type_, subject__id=str(api.pk), payload__sunset=sunset_iso)
    if mark is not None:
        sent = sent.filter(payload__mark_days=mark)
    return sent.exists()


def sunset_notices(*, now=None) -> dict:
    """Send the due api.sunset_approaching and api.sunset events (each once per sunset date)."""
    now = now or timezone.now()
    marks = settings.API_SUNSET_NOTICE_DAYS
    horizon = now + timedelta(days=max(marks, default=0))
    sent = {constants.API_SUNSET_APPROACHING: 0, constants.API_SUNSET: 0}
    due = Api.objects.filter(deprecated_at__isnull=False, sunset_at__isnull=False, sunset_at__lte=horizon)
    for api in due.select_related("provider__team", "successor"):
        sunset_iso = api.sunset_at.isoformat()
        with transaction.atomic():
            if api.sunset_at <= now:
                if not _sent(api, constants.API_SUNSET, sunset_iso):
                    sent[constants.API_SUNSET] += _emit(api, constants.API_SUNSET, {})
                continue
            crossed = [d for d in marks if api.sunset_at - timedelta(days=d) <= now]
            if not crossed:
                continue
            mark = min(crossed)  # the nearest mark only: passed ones are not sent late
            if not _sent(api, constants.API_SUNSET_APPROACHING, sunset_iso, mark):
                left = (api.sunset_at - now).total_seconds() / 86400
                sent[constants.API_SUNSET_APPROACHING] += _emit(
                    api, constants.API_SUNSET_APPROACHING, {"mark_days": mark, "days_left": round(left, 2)}
                )
    return sent
