"""Every write of change over time: deploys and deploy keys, the event log, webhook
subscriptions and their deliveries (permissions, validation, audit, events)."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from catalog.models import Api, Service
from changes import constants, delivery, slo
from changes.models import (
    Delivery,
    DeliveryAttempt,
    Deploy,
    DeployKey,
    EdgeHourly,
    EdgeSample,
    EdgeSeries,
    Event,
    Webhook,
)
from changes.permissions import can_manage_webhook, can_manage_webhook_scope
from core import keys as key_format
from core.audit import audit_record, snapshot
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.persistence import validated_save
from core.queue import enqueue
from core.redis import client as redis_client
from core.redis import compare_and_set
from core.redis import key as redis_key
from core.validators import validate_http_url
from graph.discovery.fetch import FetchRefused, address_allowed, check_url
from teams import permissions
from teams.models import Org, Team

logger = logging.getLogger(__name__)


EVENT_ORDER_LOCK = 0x5357_4556  # "SWEV": the PostgreSQL advisory lock that orders event ids


# --- The event log -----------------------------------------------------------------------------
def event_record(
    *,
    type: str,  # noqa: A002 (the event's public field name)
    subject: dict,
    payload: dict,
    org_id: int | None = None,
    team_id: int | None = None,
    service_id: int | None = None,
) -> Event:
    """Append an event and, in the same transaction, one delivery per matching enabled
    subscription; the deliveries are sent once the transaction commits."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Ids in commit order, so a poller reading "after <cursor>" never skips an event that
            # committed late with a lower id: event writers queue here until each commits.
            # (SQLite's IMMEDIATE transactions already serialise every writer.)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
        event = Event.objects.create(
            type=type, subject=subject, payload=payload, org_id=org_id, team_id=team_id, service_id=service_id
        )
        scope = Q(org__isnull=True, team__isnull=True, service__isnull=True)
        if org_id is not None:
            scope |= Q(org_id=org_id)
        if team_id is not None:
            scope |= Q(team_id=team_id)
        if service_id is not None:
            scope |= Q(service_id=service_id)
        hooks = [
            h
            for h in Webhook.objects.filter(scope, enabled=True).only("id", "types")
            if constants.ALL_TYPES in h.types or type in h.types
        ]
        Delivery.objects.bulk_create([Delivery(webhook_id=h.pk, event=event) for h in hooks])
        for hook_id in {h.pk for h in hooks}:
            transaction.on_commit(lambda hook_id=hook_id: _kick(hook_id))
    return event


def events_record_many(rows: list[dict]) -> int:
    """Append many events (``event_record``'s keyword arguments each) in one transaction,
    with the same deliveries ``event_record`` would make: one insert of the events, one read
    of the enabled subscriptions, one insert of the deliveries, whatever the number of events
    (a crawl names up to DISCOVERY_EDGE_EVENTS_MAX changed edges at once)."""
    if not rows:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # ids in commit order, as in event_record
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
        events = Event.objects.bulk_create([Event(**row) for row in rows])
        hooks = list(Webhook.objects.filter(enabled=True).only("id", "types", "org_id", "team_id", "service_id"))
        deliveries, kicked = [], set()
        for event in events:
            for h in hooks:
                in_scope = (h.org_id is None and h.team_id is None and h.service_id is None) or (
                    (h.org_id is not None and h.org_id == event.org_id)
                    or (h.team_id is not None and h.team_id == event.team_id)
                    or (h.service_id is not None and h.service_id == event.service_id)
                )
                if in_scope and (constants.ALL_TYPES in h.types or event.type in h.types):
                    deliveries.append(Delivery(webhook_id=h.pk, event=event))
                    kicked.add(h.pk)
        Delivery.objects.bulk_create(deliveries)
        for hook_id in kicked:
            transaction.on_commit(lambda hook_id=hook_id: _kick(hook_id))
    return len(events)


def _kick(webhook_id: int, countdown: float | None = None) -> None:
    from changes.tasks import webhook_drain_task

    if countdown:
        try:
            webhook_drain_task.apply_async(args=(webhook_id,), countdown=countdown, retry=False)
        except Exception as exc:  # noqa: BLE001 (broker down: the sweeper picks it up)
            logger.warning("could not schedule webhook retry: %s", exc)
    else:
        enqueue(webhook_drain_task, webhook_id)


def _trim(value, limit: int = 500):
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


def _compact(snap: dict | None) -> dict | None:
    """An audit snapshot fit for an event: no API spec (it can be large), long strings cut."""
    if snap is None:
        return None
    return {k: ("<spec>" if k == "spec" and v else _trim(v)) for k, v in snap.items()}


def _scope_of(object_type: str, object_id: str, snap: dict) -> tuple[int | None, int | None]:
    """(team id, service id) an audited object belongs to."""
    try:
        if object_type == "team":
            return int(object_id), None
        if object_type == "membership":
            return snap.get("team"), None
        if object_type == "service":
            return snap.get("team"), int(object_id)
        if object_type == "api":
            service_id = snap.get("provider")
        elif object_type == "apikey":
            service_id = Api.objects.filter(pk=snap.get("api")).values_list("provider_id", flat=True).first()
        else:
            return None, None
        team_id = Service.objects.filter(pk=service_id).values_list("team_id", flat=True).first()
        return team_id, service_id
    except (TypeError, ValueError):
        return None, None


def event_from_audit(audit) -> Event | None:
    """A catalog or teams write (its audit record, in its transaction) as an event."""
    fields = _audit_event_fields(audit)
    return event_record(**fields) if fields else None


def events_from_audits(audits) -> int:
    """``event_from_audit`` for the audit records of one bulk write, in one ``events_record_many``."""
    return events_record_many([f for f in map(_audit_event_fields, audits) if f])


def _audit_event_fields(audit) -> dict | None:
    """The event (``event_record``'s arguments) an audit record becomes, if any."""
    type_ = constants.AUDIT_EVENT_TYPES.get(audit.action)
    if type_ is None:
        return None
    snap = audit.after or audit.before or {}
    team_id, service_id = _scope_of(audit.object_type, audit.object_id, snap)
    before, after = _compact(audit.before), _compact(audit.after)
    # What changed is read from the full snapshots: compacted, two different specs look alike.
    full_before, full_after = audit.before or {}, audit.after or {}
    changed = sorted(k for k in full_before.keys() | full_after.keys() if full_before.get(k) != full_after.get(k))
    payload = {"action": audit.action, "actor": audit.actor_repr, "changed": changed, "before": before, "after": after}
    if audit.object_type == "apikey":
        payload["consumer_service_id"] = snap.get("consumer")
    subject = {"kind": audit.object_type, "id": audit.object_id, "name": audit.object_repr}
    return {
        "type": type_,
        "subject": subject,
        "payload": payload,
        "org_id": audit.org_id,
        "team_id": team_id,
        "service_id": service_id,
    }


def event_crawl_failed(run) -> Event:
    return event_record(
        type="crawl.failed",
        subject={"kind": "crawlrun", "id": str(run.pk), "name": f"crawl {run.pk}"},
        payload={
            "trigger": run.trigger,
            "error": _trim(run.error or "", 300),
            "failed": run.failed,
            "total": run.total,
        },
    )


def _service_event(type_: str, service: Service, subject: dict, payload: dict) -> Event:
    return event_record(
        type=type_,
        subject=subject,
        payload=payload,
        org_id=service.team.org_id,
        team_id=service.team_id,
        service_id=service.pk,
    )


# --- Deploy keys ----------------------------------------------------------------------------------
class DeployKeyActor:
    """Who recorded a deploy with a deploy key (for the audit trail)."""

    is_authenticated = False

    def __init__(self, deploy_key: DeployKey):
        self.username = f"deploy-key:{deploy_key.key_id}"


def _require_assets(actor, service: Service) -> None:
    permissions.require(
        permissions.can_manage_assets(actor, service.team),
        actor,
        f"Only members of team '{service.team.slug}' manage deploys of '{service.slug}'.",
    )


def deploy_key_issue(*, actor, service: Service, name: str) -> tuple[DeployKey, str]:
    """A new deploy key for ``service``; returns (key, full secret), shown once."""
    _require_assets(actor, service)
    full, key_id, secret_hash = key_format.generate()
    dkey = DeployKey(service=service, name=name, key_id=key_id, secret_hash=secret_hash, created_by=actor)
    with transaction.atomic():
        validated_save(dkey)
        audit_record(actor=actor, action="deploy_key.issue", obj=dkey, after=snapshot(dkey))
        _service_event(
            "deploy_key.issued",
            service,
            {"kind": "deploykey", "id": key_id, "name": name},
            {"service": service.slug, "actor": getattr(actor, "username", "")},
        )
    return dkey, full


def deploy_key_revoke(*, actor, deploy_key: DeployKey) -> DeployKey:
    _require_assets(actor, deploy_key.service)
    if deploy_key.revoked_at:
        return deploy_key
    with transaction.atomic():
        before = snapshot(deploy_key)
        deploy_key.revoked_at = timezone.now()
        deploy_key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="deploy_key.revoke", obj=deploy_key, before=before, after=snapshot(deploy_key))
        _service_event(
            "deploy_key.revoked",
            deploy_key.service,
            {"kind": "deploykey", "id": deploy_key.key_id, "name": deploy_key.name},
            {"service": deploy_key.service.slug, "actor": getattr(actor, "username", "")},
        )
    return deploy_key


def deploy_key_authenticate(raw: str) -> DeployKey | None:
    """The unrevoked deploy key ``raw`` is, else None (well-formed and checksummed first)."""
    parsed = key_format.parse(raw)
    if parsed is None:
        return None
    key_id, secret = parsed
    dkey = DeployKey.objects.select_related("service__team").filter(key_id=key_id, revoked_at__isnull=True).first()
    if dkey is None or not key_format.secret_matches(secret, dkey.secret_hash):
        return None
    return dkey


# --- Deploys -------------------------------------------------------------------------------------
IDENTITY_FIELDS = ("version", "environment", "commit")


def deploy_record(
    *,
    actor,
    deploy_key: DeployKey | None,
    service: Service,
    client_id: str,
    system: bool = False,
    version: str,
    environment: str = "production",
    commit: str = "",
    url: str = "",
    deployer: str = "",
    status: str = "succeeded",
    started_at=None,
    finished_at=None,
) -> tuple[Deploy, bool]:
    """Record a deploy; returns (deploy, created). Idempotent on (service, client_id): the same
    request again returns the recorded deploy; a ``started`` deploy may move on to a final
    status (succeeded, failed, rolled_back); a retry that disagrees with the recorded version,
    environment or commit, or changes a final status, is 409 ``deploy_conflict``."""
    if system:  # manage.py deploy: whoever runs commands on the server
        audit_actor = actor
    elif deploy_key is not None:
        if deploy_key.service_id != service.pk:
            raise PermissionDenied(f"This deploy key records deploys of '{deploy_key.service.slug}' only.")
        audit_actor = DeployKeyActor(deploy_key)
    else:
        _require_assets(actor, service)
        audit_actor = actor
    if status not in constants.DEPLOY_STATUSES:
        raise InvalidInput(f"Unknown status '{status}'.", code="invalid")
    if started_at and finished_at and finished_at < started_at:
        raise InvalidInput("finished_at is before started_at.", code="invalid")
    latest = timezone.now() + constants.DEPLOY_CLOCK_SKEW
    for name, at in (("started_at", started_at), ("finished_at", finished_at)):
        if at is not None and not constants.DEPLOY_EARLIEST <= at <= latest:
            message = f"Must lie between {constants.DEPLOY_EARLIEST:%Y-%m-%d} and a day from now."
            raise InvalidInput(f"{name}: {message}", code="invalid", fields={name: [message]})
    if url:
        try:
            validate_http_url(url)
        except ValidationError as exc:
            raise InvalidInput("url: " + " ".join(exc.messages), fields={"url": exc.messages}) from exc
    fields = {
        "version": version,
        "environment": environment,
        "commit": commit,
        "url": url,
        "deployer": deployer or getattr(actor, "username", "") or "",
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at or (timezone.now() if status in Deploy.FINAL else None),
    }
    try:
        with transaction.atomic():
            existing = Deploy.objects.select_for_update().filter(service=service, client_id=client_id).first()
            if existing is not None:
                return _deploy_retry(audit_actor, existing, fields, explicit_finish=finished_at is not None), False
            deploy = Deploy(
                service=service,
                client_id=client_id,
                recorded_by=actor if actor is not None and actor.is_authenticated else None,
                deploy_key=deploy_key,
                **fields,
            )
            try:
                deploy.full_clean(validate_constraints=False)
            except ValidationError as exc:
                raise InvalidInput.from_django(exc) from exc
            deploy.save()
            audit_record(actor=audit_actor, action="deploy.record", obj=deploy, after=snapshot(deploy))
            _deploy_event("deploy.recorded", deploy)
            return deploy, True
    except IntegrityError:
        # A racing retry (PostgreSQL) recorded it first: answer as the retry it is.
        existing = Deploy.objects.get(service=service, client_id=client_id)
        with transaction.atomic():
            return _deploy_retry(audit_actor, existing, fields, explicit_finish=finished_at is not None), False


def _deploy_retry(audit_actor, existing: Deploy, fields: dict, *, explicit_finish: bool) -> Deploy:
    clashes = [f for f in IDENTITY_FIELDS if getattr(existing, f) != fields[f]]
    if clashes:
        raise Conflict(
            f"Deploy '{existing.client_id}' was recorded with another {', '.join(clashes)}.",
            code="deploy_conflict",
            fields={f: [f"recorded: {getattr(existing, f)!r}"] for f in clashes},
        )
    if fields["status"] == existing.status:
        return existing  # the same step, retried
    if existing.status in Deploy.FINAL:
        raise Conflict(
            f"Deploy '{existing.client_id}' already finished as '{existing.status}'.", code="deploy_conflict"
        )
    before = snapshot(existing)
    existing.status = fields["status"]
    existing.finished_at = (
        fields["finished_at"] if explicit_finish or existing.finished_at is None else existing.finished_at
    )
    if fields["url"]:
        existing.url = fields["url"]
    existing.save(update_fields=["status", "finished_at", "url", "updated_at"])
    audit_record(actor=audit_actor, action="deploy.update", obj=existing, before=before, after=snapshot(existing))
    _deploy_event("deploy.updated", existing)
    return existing


def _deploy_event(type_: str, deploy: Deploy) -> None:
    service = deploy.service
    payload = {
        "service": service.slug,
        "deploy_id": deploy.client_id,
        "version": deploy.version,
        "environment": deploy.environment,
        "commit": deploy.commit,
        "url": deploy.url,
        "deployer": deploy.deployer,
        "status": deploy.status,
        "started_at": deploy.started_at.isoformat() if deploy.started_at else None,
        "finished_at": deploy.finished_at.isoformat() if deploy.finished_at else None,
    }
    _service_event(type_, service, {"kind": "deploy", "id": str(deploy.pk), "name": str(deploy.client_id)}, payload)


# --- Webhook subscriptions ----------------------------------------------------------------------
class WebhookUrlRefused(InvalidInput):
    code = "webhook_url_refused"


def webhook_url_check(url: str) -> None:
    """The crawler's SSRF rules (graph.discovery.fetch): http(s) only, no credentials, and the
    host (an IP literal, or every address its name resolves to now) inside
    DISCOVERY_ALLOWED_NETWORKS. Delivery checks the connected address again."""
    try:
        validate_http_url(url)
    except ValidationError as exc:
        raise WebhookUrlRefused("url: " + " ".join(exc.messages), fields={"url": exc.messages}) from exc
    allowed = settings.DISCOVERY_ALLOWED_NETWORKS
    try:
        check_url(url, allowed)
    except FetchRefused as exc:
        raise WebhookUrlRefused(f"url: {exc}.", fields={"url": [str(exc)]}) from exc
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(
            f"url: {parts.hostname} does not resolve.", fields={"url": ["does not resolve"]}
        ) from exc
    addresses = {info[4][0] for info in infos}
    if not any(address_allowed(a, allowed) for a in addresses):
        detail = f"{parts.hostname} resolves only to addresses outside DISCOVERY_ALLOWED_NETWORKS"
        raise WebhookUrlRefused(f"url: {detail}.", fields={"url": [detail]})


def _check_types(types) -> list[str]:
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise InvalidInput(
            "types: a non-empty list of event types (or ['*']).", code="invalid", fields={"types": ["required"]}
        )
    unknown = sorted(set(types) - constants.EVENT_TYPES - {constants.ALL_TYPES})
    if unknown:
        raise InvalidInput(
            f"types: unknown event types {unknown}; known: {sorted(constants.EVENT_TYPES)}.",
            code="unknown_event_type",
            fields={"types": [f"unknown: {t}" for t in unknown]},
        )
    return sorted(set(types))


def _webhook_audit(webhook: Webhook) -> dict:
    return {
        "name": webhook.name,
        "url": webhook.url,
        "scope": webhook.scope,
        "types": webhook.types,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
    }


def webhook_create(
    *, actor, name: str, url: str, types: list, org: Org | None = None, team: Team | None = None, service=None
) -> tuple[Webhook, str]:
    """A subscription of one scope: a service, a team, an org, or (superusers) all of them.
    Returns (webhook, secret); the secret is shown this once."""
    if sum(x is not None for x in (org, team, service)) > 1:
        raise InvalidInput("Give one scope: org, team or service.", code="invalid")
    permissions.require(
        can_manage_webhook_scope(actor, org=org, team=team, service=service),
        actor,
        "Webhooks of a service or team: its members; of an org: its admins; of everything: superusers.",
    )
    types = _check_types(types)
    webhook_url_check(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(
        name=name, url=url, org=org, team=team, service=service, types=types, secret=secret, created_by=actor
    )
    with transaction.atomic():
        validated_save(webhook)
        audit_record(actor=actor, action="webhook.create", obj=webhook, after=_webhook_audit(webhook))
    return webhook, secret


def _require_webhook(actor, webhook: Webhook) -> None:
    permissions.require(can_manage_webhook(actor, webhook), actor, "Only the webhook's owners manage it.")


def webhook_delete(*, actor, webhook: Webhook) -> None:
    _require_webhook(actor, webhook)
    with transaction.atomic():
        audit_record(actor=actor, action="webhook.delete", obj=webhook, before=_webhook_audit(webhook))
        webhook.delete()


def webhook_enable(*, actor, webhook: Webhook) -> Webhook:
    """Turn a (disabled) subscription back on; what it still owes is sent again."""
    _require_webhook(actor, webhook)
    with transaction.atomic():
        before = _webhook_audit(webhook)
        webhook.enabled, webhook.disabled_reason, webhook.consecutive_failures = True, "", 0
        webhook.save(update_fields=["enabled", "disabled_reason", "consecutive_failures"])
        Delivery.objects.filter(webhook=webhook, status="pending").update(next_attempt_at=None)
        audit_record(actor=actor, action="webhook.enable", obj=webhook, before=before, after=_webhook_audit(webhook))
        transaction.on_commit(lambda: _kick(webhook.pk))
    return webhook


def delivery_redeliver(*, actor, delivery_obj: Delivery) -> Delivery:
    """Send a delivery again (a dead-lettered one, or one the receiver lost)."""
    _require_webhook(actor, delivery_obj.webhook)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery_obj.pk).update(status="pending", attempts=0, next_attempt_at=None)
        audit_record(
            actor=actor,
            action="webhook.redeliver",
            obj=delivery_obj.webhook,
            after={"delivery": str(delivery_obj.uid), "event": delivery_obj.event.public_id},
        )
        transaction.on_commit(lambda: _kick(delivery_obj.webhook_id))
    delivery_obj.refresh_from_db()
    return delivery_obj


# --- Delivering -----------------------------------------------------------------------------------
def _backoff(attempts: int) -> float:
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return min(base * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_SECONDS)


def _lock_name(webhook_id: int) -> str:
    return f"webhooks:drain:{webhook_id}"


def _retry_name(webhook_id: int) -> str:
    return f"webhooks:retry:{webhook_id}"


def webhook_body(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "time": event.occurred_at.isoformat(),
            "subject": event.subject,
            "payload": event.payload,
            "org_id": event.org_id,
            "team_id": event.team_id,
            "service_id": event.service_id,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _attempt(sender: delivery.Sender, webhook: Webhook, item: Delivery) -> delivery.Outcome:
    body = webhook_body(item.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "switchboard-webhooks/1",
        "Switchboard-Event": item.event.type,
        "Switchboard-Event-Id": item.event.public_id,
        "Switchboard-Delivery": str(item.uid),
        delivery.SIGNATURE_HEADER: delivery.sign(webhook.secret, body, int(timezone.now().timestamp())),
    }
    return sender.send(webhook.url, body, headers)


def _disable(webhook: Webhook, reason: str) -> None:
    """A subscription that keeps failing is turned off; its owners hear of it through an event
    (in its own scope) and the audit trail. What it still owes stays pending."""
    with transaction.atomic():
        Webhook.objects.filter(pk=webhook.pk).update(enabled=False, disabled_reason=reason[:300])
        webhook.enabled, webhook.disabled_reason = False, reason[:300]
        audit_record(actor=None, action="webhook.disable", obj=webhook, after=_webhook_audit(webhook))
        team_id = webhook.team_id or (webhook.service.team_id if webhook.service_id else None)
        event_record(
            type="webhook.disabled",
            subject={"kind": "webhook", "id": str(webhook.pk), "name": webhook.name},
            payload={"reason": reason[:300], "url": webhook.url},
            org_id=webhook.audit_org_id,
            team_id=team_id,
            service_id=webhook.service_id,
        )


def _record(webhook: Webhook, item: Delivery, outcome: delivery.Outcome) -> bool:
    """Log the attempt and move the delivery on; True when the next one may be sent now."""
    now = timezone.now()
    max_attempts = settings.WEBHOOK_MAX_ATTEMPTS
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=item, status_code=outcome.status_code, error=outcome.error, duration_ms=outcome.duration_ms
        )
        item.attempts += 1
        item.last_status_code, item.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            item.status, item.delivered_at, item.next_attempt_at = "succeeded", now, None
            if webhook.consecutive_failures:
                Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=0)
                webhook.consecutive_failures = 0
        elif item.attempts >= max_attempts:
            item.status, item.next_attempt_at = "dead", None
        else:
            item.next_attempt_at = now + timedelta(seconds=_backoff(item.attempts))
        item.save(
            update_fields=["attempts", "last_status_code", "last_error", "status", "delivered_at", "next_attempt_at"]
        )
        if not outcome.ok:
            Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=webhook.consecutive_failures + 1)
            webhook.consecutive_failures += 1
    if item.status == "dead":
        _disable(webhook, f"delivery {item.uid} failed {item.attempts} times; last: {outcome.error}")
        return False
    return outcome.ok


def _due(webhook_id: int):
    """The oldest delivery the subscription owes (order is per subscription: nothing newer is
    sent while an older one waits for its retry)."""
    return (
        Delivery.objects.select_related("event").filter(webhook_id=webhook_id, status="pending").order_by("id").first()
    )


SUCCESS_FLUSH_EVERY = 50  # successes recorded together (one transaction), or after 0.5 s
SUCCESS_FLUSH_SECONDS = 0.5


def _record_successes(webhook: Webhook, done: list[tuple[Delivery, delivery.Outcome]]) -> None:
    """Successful attempts are recorded in one transaction per group: on SQLite every write
    transaction queues behind the others, so one per delivery caps the rate. A worker killed
    before the group is recorded sends those again (at-least-once; receivers dedupe on the
    Switchboard-Delivery id)."""
    if not done:
        return
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(
            [DeliveryAttempt(delivery=item, status_code=o.status_code, duration_ms=o.duration_ms) for item, o in done]
        )
        for code in {o.status_code for _, o in done}:
            Delivery.objects.filter(pk__in=[item.pk for item, o in done if o.status_code == code]).update(
                status="succeeded",
                delivered_at=now,
                next_attempt_at=None,
                last_status_code=code,
                last_error="",
                attempts=F("attempts") + 1,
            )
        if webhook.consecutive_failures:
            Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=0)
            webhook.consecutive_failures = 0
    done.clear()


def _drain_batches(webhook_id: int, sender: delivery.Sender, lock_ttl: int) -> float | None:
    """Under the lock: send what is due, oldest first, in batches; the seconds until the
    oldest waiting delivery is due (a retry to schedule), or None when nothing is owed."""
    sender.attempts = 0
    renewed = time.monotonic()  # the lock was just taken
    done: list[tuple[Delivery, delivery.Outcome]] = []
    flushed = time.monotonic()
    try:
        while True:
            webhook = Webhook.objects.filter(pk=webhook_id, enabled=True).first()
            if webhook is None:
                return None
            batch = list(
                Delivery.objects.select_related("event")
                .filter(webhook_id=webhook_id, status="pending")
                .exclude(pk__in=[item.pk for item, _ in done])
                .order_by("id")[:100]
            )
            if not batch:
                return None
            for item in batch:
                wait = (item.next_attempt_at - timezone.now()).total_seconds() if item.next_attempt_at else 0
                if 0 < wait <= 1:
                    time.sleep(wait)  # a retry that fired a little early (clocks): wait here, not for the sweeper
                elif wait > 0:
                    return wait
                if time.monotonic() - renewed > lock_ttl / 4:  # the lock outlives any one attempt
                    redis_client().expire(redis_key(_lock_name(webhook_id)), lock_ttl)
                    renewed = time.monotonic()
                if not sender.attempts:
                    # Whatever retry was scheduled is this drain: a failure schedules its own.
                    redis_client().delete(redis_key(_retry_name(webhook_id)))
                sender.attempts += 1
                outcome = _attempt(sender, webhook, item)
                if outcome.ok:
                    done.append((item, outcome))
                    if len(done) >= SUCCESS_FLUSH_EVERY or time.monotonic() - flushed > SUCCESS_FLUSH_SECONDS:
                        _record_successes(webhook, done)
                        flushed = time.monotonic()
                    continue
                _record_successes(webhook, done)
                _record(webhook, item, outcome)
                if item.status == "pending":
                    return max((item.next_attempt_at - timezone.now()).total_seconds(), 0.05)
                return None  # dead-lettered: the subscription is disabled
            # a full batch went out: fetch the next (and see whether the subscription is still on)
    finally:
        if done:
            _record_successes(webhook, done)


def webhook_drain(webhook_id: int) -> int:
    """Send what a subscription owes, oldest first, until it is done or an attempt fails (then
    a retry is scheduled with exponential back-off). One drainer per subscription at a time
    (a Redis lock that expires, so a killed worker's lock does not outlive it). Returns the
    number of attempts made."""
    attempts = 0
    lock_ttl = int(settings.WEBHOOK_TIMEOUT) + 10  # renewed before every attempt
    while True:
        token = uuid.uuid4().hex
        if not redis_client().set(redis_key(_lock_name(webhook_id)), token, nx=True, ex=lock_ttl):
            return attempts  # another worker drains it, and checks again after letting go
        retry_in = None
        sender = delivery.Sender(allowed=settings.DISCOVERY_ALLOWED_NETWORKS, timeout=settings.WEBHOOK_TIMEOUT)
        try:
            retry_in = _drain_batches(webhook_id, sender, lock_ttl)
            attempts += sender.attempts
        finally:
            sender.close()
            compare_and_set(_lock_name(webhook_id), token, None)
        if retry_in is not None:
            # One scheduled retry per subscription, however many new events ask to drain it.
            hold = int(retry_in) + 5
            if redis_client().set(redis_key(_retry_name(webhook_id)), "1", nx=True, ex=hold):
                _kick(webhook_id, countdown=max(retry_in, 0.05))
            return attempts
        # A delivery committed while the lock was held had its own drain turned away: look again.
        if not (Webhook.objects.filter(pk=webhook_id, enabled=True).exists() and _due(webhook_id)):
            return attempts


def webhook_sweep() -> int:
    """Beat: kick every enabled subscription owing a delivery that is due (heals a worker
    killed mid-delivery, a retry lost with the broker, an enqueue that failed)."""
    now = timezone.now()
    ids = set(
        Delivery.objects.filter(status="pending", webhook__enabled=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("webhook_id", flat=True)
        .distinct()
    )
    for webhook_id in ids:
        _kick(webhook_id)
    return len(ids)


# --- Edge history and edge events (graph.signals, connected in changes/receivers.py) --------------
HOUR = 3600


def _series_ids(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The EdgeSeries id of each (src, dst), created where missing (concurrent chunks may race:
    the unique constraint keeps one, and both read it back)."""
    srcs = {src for src, _ in pairs}
    found = {(a, b): i for i, a, b in EdgeSeries.objects.filter(src__in=srcs).values_list("id", "src", "dst")}
    missing = pairs - found.keys()
    if missing:
        EdgeSeries.objects.bulk_create(
            [EdgeSeries(src=a, dst=b) for a, b in sorted(missing)], ignore_conflicts=True, batch_size=500
        )
        found = {(a, b): i for i, a, b in EdgeSeries.objects.filter(src__in=srcs).values_list("id", "src", "dst")}
    return found


def history_append(samples) -> int:
    """Append one merge's edge samples (graph.signals.EdgeSample) in one transaction; returns
    how many rows were written. Off when EDGE_HISTORY is."""
    if not settings.EDGE_HISTORY or not samples:
        return 0
    with transaction.atomic():
        ids = _series_ids({(x.src, x.dst) for x in samples})
        rows = [
            (ids[(x.src, x.dst)], x.at_ms // 1000, x.rate_per_min, x.error_rate, x.p95_ms, x.p99_ms)
            for x in samples
            if (x.src, x.dst) in ids
        ]
        # One prepared INSERT for the batch: building a model instance per sample cost more than the write.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {EdgeSample._meta.db_table} (series_id, at, rate, error_rate, p95_ms, p99_ms) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )
    return len(rows)


def history_rollup(*, now: float | None = None) -> dict:
    """Roll full-resolution samples up into hours, then prune both to their retention. Each
    complete hour since the last rolled one (and that one again, for late samples), within
    the raw retention, is recomputed from its samples and upserted: safe to run any time,
    twice, or after the beat was down."""
    now = int(now if now is not None else time.time())
    current = now - now % HOUR
    raw_from = now - settings.EDGE_HISTORY_RAW_HOURS * HOUR
    last = EdgeHourly.objects.aggregate(h=Max("hour"))["h"]
    if last is None:
        first = EdgeSample.objects.filter(at__gte=raw_from).order_by("at").values_list("at", flat=True).first()
        start = None if first is None else first - first % HOUR
    else:
        start = max(last, raw_from - raw_from % HOUR)
    rolled = 0
    hour = start
    while hour is not None and hour < current:
        agg = (
            EdgeSample.objects.filter(at__gte=hour, at__lt=hour + HOUR)
            .values("series_id")
            .annotate(
                n=Count("id"),
                rate_sum=Sum("rate"),
                rate_n=Count("rate"),
                err_weighted=Sum(F("error_rate") * F("rate")),
                err_rate_sum=Sum("rate", filter=Q(error_rate__isnull=False)),
                p95=Max("p95_ms"),
                p99=Max("p99_ms"),
            )
        )
        rows = [
            EdgeHourly(
                series_id=a["series_id"],
                hour=hour,
                rate=round(a["rate_sum"] / a["rate_n"], 4) if a["rate_n"] else None,
                error_rate=round(a["err_weighted"] / a["err_rate_sum"], 4)
                if a["err_rate_sum"]
                else (0.0 if a["rate_n"] else None),
                p95_ms=a["p95"],
                p99_ms=a["p99"],
                samples=a["n"],
            )
            for a in agg
        ]
        with transaction.atomic():
            EdgeHourly.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["series", "hour"],
                update_fields=["rate", "error_rate", "p95_ms", "p99_ms", "samples"],
                batch_size=1000,
            )
        rolled += len(rows)
        hour += HOUR
    pruned_raw, _ = EdgeSample.objects.filter(at__lt=raw_from).delete()
    pruned_hourly, _ = EdgeHourly.objects.filter(hour__lt=now - settings.EDGE_HISTORY_HOURLY_DAYS * 86400).delete()
    orphans, _ = EdgeSeries.objects.filter(samples__isnull=True, hourly__isnull=True).delete()
    return {"rolled": rolled, "pruned_samples": pruned_raw, "pruned_hours": pruned_hourly, "pruned_series": orphans}


def edge_events_record(*, change: str, pairs, total: int, at_ms: int) -> int:
    """One event per edge that appeared, went stale or disappeared (``edge.<change>``), scoped
    to the caller's service, team and org; ``total`` says how many changed in that step (the
    graph names at most DISCOVERY_EDGE_EVENTS_MAX of them)."""
    type_ = constants.EDGE_EVENT_TYPES[change]
    pairs = list(pairs)
    callers = {
        s.slug: s
        for s in Service.objects.filter(slug__in={p.src for p in pairs})
        .select_related("team")
        .only("id", "slug", "team__id", "team__org_id")
    }
    rows = []
    for p in pairs:
        svc = callers.get(p.src)
        rows.append(
            {
                "type": type_,
                "subject": {"kind": "edge", "id": f"{p.src}->{p.dst}", "name": f"{p.src} -> {p.dst}"},
                "payload": {
                    "src": p.src,
                    "dst": p.dst,
                    "dst_kind": p.kind,
                    "at": at_ms,
                    "changed_in_step": total,
                    "named_in_step": len(pairs),
                },
                "org_id": svc.team.org_id if svc else None,
                "team_id": svc.team_id if svc else None,
                "service_id": svc.pk if svc else None,
            }
        )
    return events_record_many(rows)  # one transaction for the step, not one per edge


# --- SLO burn-rate alerts, expiring keys, limits reached ------------------------------------------
def slo_kick(dsts) -> bool:
    """After a history append: evaluate the SLOs of the callees just observed that provide an
    API with an availability target (a Celery task, so the crawl does not wait for it)."""
    from changes.tasks import slo_evaluate_task

    slugs = sorted(
        set(
            Api.objects.filter(provider__slug__in=set(dsts), slo_availability__isnull=False).values_list(
                "provider__slug", flat=True
            )
        )
    )
    return bool(slugs) and enqueue(slo_evaluate_task, slugs)


def _slo_payload(api: Api, state, target: float, now: int) -> dict:
    return {
        "api": api.slug,
        "service": api.provider.slug,
        "scope": "service",
        "availability_target": target,
        "rule": state.rule if state else None,
        "factor": state.factor if state else None,
        "long_window_seconds": state.long_s if state else None,
        "short_window_seconds": state.short_s if state else None,
        "long_burn_rate": state.long_burn if state else None,
        "short_burn_rate": state.short_burn if state else None,
        "at": now * 1000,
    }


def slo_evaluate(*, services: list[str] | None = None, now: float | None = None) -> dict:
    """Evaluate the multi-window burn-rate rules (SLO_BURN_RULES) of every API with an
    availability target (or those provided by ``services``) at ``now`` (epoch seconds): an API
    whose rules start firing raises ``slo.burn_alert``, one whose rules all stop raises
    ``slo.recovered``; nothing is written while an API stays as it was. One query (per 500
    providers) sums their inbound samples over every rule window."""
    from changes import selectors
    from changes.models import SloAlert

    now = int(now if now is not None else time.time())
    rules = selectors.burn_rules()
    apis = Api.objects.filter(slo_availability__isnull=False).select_related("provider__team")
    if services is not None:
        apis = apis.filter(provider__slug__in=services)
    apis = list(apis)
    if not apis or not rules:
        return {"evaluated": 0, "alerts": 0, "recovered": 0}
    windows = sorted({w for r in rules for w in (r.long_s, r.short_s)})
    # Only the providers' inbound samples are read (by series, then time), 500 providers a query.
    dsts = sorted({a.provider.slug for a in apis})
    sums = {}
    for i in range(0, len(dsts), 500):
        sums.update(selectors.inbound_window_sums(dsts=dsts[i : i + 500], now=now, windows=windows))
    firing_now = set(SloAlert.objects.filter(api__in=apis, firing=True).values_list("api_id", flat=True))
    alerts = recovered = 0
    for api in apis:
        target = float(api.slo_availability)
        states = slo.evaluate_rules(rules, sums.get(api.provider.slug, {}), availability_target=target)
        fired = next((s for s in states if s.firing), None)
        if (fired is not None) == (api.pk in firing_now):
            continue
        with transaction.atomic():
            row, _ = SloAlert.objects.select_for_update().get_or_create(api=api)
            if row.firing == (fired is not None):
                continue  # another evaluation got here first
            row.firing = fired is not None
            row.rule = fired.rule if fired else ""
            row.burn_rate = fired.long_burn if fired else None
            row.changed_at = timezone.now()
            row.save()
            shown = fired or max(states, key=lambda s: s.long_burn or 0.0)
            _service_event(
                "slo.burn_alert" if fired else "slo.recovered",
                api.provider,
                {"kind": "api", "id": api.slug, "name": api.name},
                _slo_payload(api, shown, target, now),
            )
        alerts += fired is not None
        recovered += fired is None
    return {"evaluated": len(apis), "alerts": alerts, "recovered": recovered}


def key_expiry_warn(*, now=None) -> int:
    """Announce ``key.expiring`` once per active key (and expiry instant) that expires within
    KEY_EXPIRY_WARNING_DAYS; a key that was rotated (its successor exists) is expected to
    expire and is left out. Scoped like the other key events (the provider's service, team
    and org), naming the consumer. Returns how many were announced."""
    from django.db.models import Exists, OuterRef

    from catalog.models import ApiKey
    from changes.models import Notice

    now = now or timezone.now()
    horizon = now + timedelta(days=settings.KEY_EXPIRY_WARNING_DAYS)
    keys = list(
        ApiKey.objects.filter(
            status=ApiKey.STATUS_ACTIVE, revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=horizon
        )
        .exclude(Exists(ApiKey.objects.filter(rotated_from=OuterRef("pk"))))
        .select_related("api__provider__team", "consumer")
        .order_by("expires_at", "pk")
    )
    refs = {k.pk: f"{k.key_id}@{int(k.expires_at.timestamp())}" for k in keys}
    done = set(Notice.objects.filter(kind="key.expiring", ref__in=refs.values()).values_list("ref", flat=True))
    announced = 0
    for key in keys:
        if refs[key.pk] in done:
            continue
        try:
            with transaction.atomic():
                Notice.objects.create(kind="key.expiring", ref=refs[key.pk])
                _service_event(
                    "key.expiring",
                    key.api.provider,
                    {"kind": "apikey", "id": str(key.pk), "name": str(key)},
                    {
                        "key_id": key.key_id,
                        "api": key.api.slug,
                        "consumer": key.consumer.slug,
                        "consumer_service_id": key.consumer_id,
                        "expires_at": key.expires_at.isoformat(),
                        "days_left": round((key.expires_at - now).total_seconds() / 86400, 2),
                    },
                )
        except IntegrityError:
            continue  # announced by a concurrent run
        announced += 1
    return announced


# A write that adds to a team's count, and the limit it counts towards.
LIMIT_ACTIONS = {
    "member.add": "members",
    "service.create": "services",
    "service.transfer": "services",
    "system.create": "systems",
    "system.transfer": "systems",
    "domain.create": "domains",
    "domain.transfer": "domains",
    "resource.create": "resources",
    "resource.transfer": "resources",
}


def limit_reached_from_audit(audit) -> Event | None:
    """In the write's transaction (its audit record): when a write that adds one to a team's
    count (a member, a service, a system, a domain, a resource; created or transferred in)
    makes it equal to the team's limit, announce ``limit.reached``. The next such write is
    refused (409 ``team_limit_exceeded``), so this fires once per crossing: again only after
    the count fell below the limit (or the limit was raised) and reached it once more."""
    noun = LIMIT_ACTIONS.get(audit.action)
    if noun is None:
        return None
    team_id = audit.object_id if audit.object_type == "team" else (audit.after or {}).get("team")
    return _limit_check(team_id, noun, audit.action, audit.object_repr)


def limits_reached_from_audits(audits) -> int:
    """``limit_reached_from_audit`` for the audit records of one bulk write: once per team and
    limit, after the whole write."""
    seen = {}
    for audit in audits:
        noun = LIMIT_ACTIONS.get(audit.action)
        if noun is not None:
            team_id = audit.object_id if audit.object_type == "team" else (audit.after or {}).get("team")
            seen.setdefault((str(team_id), noun), (team_id, audit))
    return sum(
        _limit_check(team_id, noun, audit.action, audit.object_repr) is not None
        for (_, noun), (team_id, audit) in seen.items()
    )


def _limit_check(team_id, noun: str, action: str, by: str) -> Event | None:
    from catalog import models as catalog_models
    from catalog.services import owned_limit
    from teams import selectors as teams_selectors

    team = Team.objects.select_related("org").filter(pk=team_id).first() if team_id else None
    if team is None:
        return None
    if noun in ("members", "services"):
        usage = teams_selectors.team_usage(team)[noun]
        current, maximum = usage["current"], usage["max"]
    else:
        kind = noun[:-1]
        model = {"system": catalog_models.System, "domain": catalog_models.Domain, "resource": catalog_models.Resource}
        current, maximum = model[kind].objects.filter(team=team).count(), owned_limit(kind)
    if current != maximum:
        return None
    return event_record(
        type="limit.reached",
        subject={"kind": "team", "id": str(team.pk), "name": team.slug},
        payload={"limit": noun, "max": maximum, "current": current, "action": action, "by": by},
        org_id=team.org_id,
        team_id=team.pk,
    )
