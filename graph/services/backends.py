"""Metrics backends (the central Prometheus source's query endpoints): superusers only,
audited; the credential is sealed on the way in and never returned."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from core.errors import InvalidInput
from graph.credentials import seal
from graph.discovery.fetch import FetchRefused, check_url
from graph.models import MetricsBackend
from teams import permissions

FIELDS = ("name", "url", "auth", "username", "window_seconds", "service_graph", "istio", "otel_client", "enabled")
_UNSET = object()


def _require_superuser(actor) -> None:
    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers register metrics backends.")


def _check(backend: MetricsBackend, secret) -> None:
    """The URL must pass the crawler's allow-list now (an IP literal outside it is refused
    here; a name is checked again on every query, by what it resolves to)."""
    try:
        check_url(backend.url, settings.DISCOVERY_ALLOWED_NETWORKS)
    except FetchRefused as exc:
        raise InvalidInput(f"The URL is refused: {exc}.", fields={"url": [str(exc)]}) from exc
    if backend.auth == "basic" and not backend.username:
        raise InvalidInput("Basic auth needs a username.", fields={"username": ["Required for basic auth."]})
    if backend.auth == "none" and (secret not in (_UNSET, "") or backend.username):
        raise InvalidInput(
            "A credential was given but auth is 'none'.", fields={"auth": ["Choose 'bearer' or 'basic'."]}
        )
    has_secret = bool(secret) if secret is not _UNSET else backend.has_secret
    if backend.auth != "none" and not has_secret:
        raise InvalidInput(f"Auth '{backend.auth}' needs a secret.", fields={"secret": ["Required for this auth."]})


def _save(*, actor, backend: MetricsBackend, secret, action: str) -> MetricsBackend:
    from core.audit import audit_record, snapshot
    from core.persistence import validated_save

    _check(backend, secret)
    if backend.auth == "none":
        backend.username, backend.secret_sealed = "", ""
    elif secret is not _UNSET:
        backend.secret_sealed = seal(secret)
    with transaction.atomic():
        before = snapshot(MetricsBackend.objects.filter(pk=backend.pk).first()) if backend.pk else None
        validated_save(backend)
        after = snapshot(backend)
        # Say that the secret changed, never what it is (snapshot drops the sealed value).
        after["secret_set"] = backend.has_secret
        audit_record(actor=actor, action=action, obj=backend, before=before, after=after)
    return backend


def metrics_backend_create(*, actor, secret: str = "", **fields) -> MetricsBackend:
    _require_superuser(actor)
    backend = MetricsBackend(**{k: v for k, v in fields.items() if k in FIELDS})
    return _save(actor=actor, backend=backend, secret=secret, action="metrics_backend.create")


def metrics_backend_update(*, actor, backend: MetricsBackend, secret=_UNSET, **fields) -> MetricsBackend:
    """Change fields; ``secret`` replaces the credential only when given (an empty string clears it)."""
    _require_superuser(actor)
    if fields.get("name", backend.name) != backend.name:  # the name is the evidence edges carry
        raise InvalidInput("A metrics backend's name cannot change.", fields={"name": ["Immutable."]})
    for key, value in fields.items():
        if key in FIELDS:
            setattr(backend, key, value)
    return _save(actor=actor, backend=backend, secret=secret, action="metrics_backend.update")


def metrics_backend_delete(*, actor, backend: MetricsBackend) -> None:
    from core.audit import audit_record, snapshot

    _require_superuser(actor)
    with transaction.atomic():
        audit_record(actor=actor, action="metrics_backend.delete", obj=backend, before=snapshot(backend))
        backend.delete()
