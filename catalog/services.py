"""Every write to services and APIs. Ownership limits are checked here under the team's
row lock, so every entry point shares one concurrency-safe check."""

from __future__ import annotations

import json

from django.db import transaction
from openapi_spec_validator import validate as openapi_validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from catalog import constants
from catalog.audit import audit_record, snapshot
from catalog.models import Api, Service
from config.errors import Conflict, InvalidInput
from graph.services import projection_schedule
from teams import permissions
from teams.models import Team
from teams.services import team_check_limit, team_lock, validated_save

SERVICE_FIELDS = {
    "name", "description", "tier", "lifecycle", "repository_url", "base_url", "aliases",
    "metrics_path", "health_path", "crawl_enabled",
}
API_FIELDS = {"name", "kind", "version", "base_path", "spec", "lifecycle", "slo_availability", "slo_p99_ms"}


def _require_assets(actor, team: Team) -> None:
    permissions.require(
        permissions.can_manage_assets(actor, team), actor, f"Only members of team '{team.slug}' manage its services."
    )


def service_create(*, actor, team: Team, slug: str, name: str, **fields) -> Service:
    _require_assets(actor, team)
    service = Service(slug=slug, name=name, **{k: v for k, v in fields.items() if k in SERVICE_FIELDS})
    with transaction.atomic():
        service.team = team_lock(team)
        team_check_limit(service.team, limit="services")
        validated_save(service)
        audit_record(actor=actor, action="service.create", obj=service, after=snapshot(service))
    projection_schedule("service", service.slug)
    return service


def service_update(*, actor, service: Service, **fields) -> Service:
    _require_assets(actor, service.team)
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        before = snapshot(service)
        for key, value in fields.items():
            if key in SERVICE_FIELDS:
                setattr(service, key, value)
        validated_save(service)
        audit_record(actor=actor, action="service.update", obj=service, before=before, after=snapshot(service))
    projection_schedule("service", service.slug)
    return service


def service_transfer(*, actor, service: Service, team: Team) -> Service:
    """Hand a service to another team: allowed to who manages both sides; the receiving
    team's service limit applies."""
    _require_assets(actor, service.team)
    _require_assets(actor, team)
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        if service.team_id == team.pk:
            raise InvalidInput(f"Team '{team.slug}' already owns '{service.slug}'.", code="same_team")
        receiving = team_lock(team)
        team_check_limit(receiving, limit="services")
        before = snapshot(service)
        service.team = receiving
        service.save(update_fields=["team", "updated_at"])
        audit_record(actor=actor, action="service.transfer", obj=service, before=before, after=snapshot(service))
    projection_schedule("service", service.slug)
    return service


def service_delete(*, actor, service: Service) -> None:
    _require_assets(actor, service.team)
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        if service.apis.exists():
            raise Conflict(
                f"Service '{service.slug}' still provides APIs; delete them first.", code="service_has_apis"
            )
        audit_record(actor=actor, action="service.delete", obj=service, before=snapshot(service))
        service.delete()
    projection_schedule("service", service.slug)


def service_consumes_set(*, actor, service: Service, apis: list[Api]) -> Service:
    """Declare which APIs a service depends on (besides those it holds keys for)."""
    _require_assets(actor, service.team)
    with transaction.atomic():
        before = sorted(service.consumes.values_list("slug", flat=True))
        service.consumes.set(apis)
        audit_record(actor=actor, action="service.consumes", obj=service, before={"consumes": before},
                     after={"consumes": sorted(a.slug for a in apis)})
    projection_schedule("service", service.slug)
    return service


def spec_validate(*, kind: str, spec) -> None:
    """OpenAPI documents are validated with openapi-spec-validator; others need only be objects."""
    if spec in (None, "", {}):
        return
    if not isinstance(spec, dict):
        raise InvalidInput("The spec must be a JSON object.", fields={"spec": ["Must be a JSON object."]})
    if len(json.dumps(spec)) > constants.MAX_SPEC_BYTES:
        raise InvalidInput("The spec is larger than 2 MiB.", fields={"spec": ["Larger than 2 MiB."]})
    if kind == "openapi":
        try:
            openapi_validate(spec)
        except OpenAPIValidationError as exc:
            message = f"Not a valid OpenAPI document: {str(exc).splitlines()[0][:300]}"
            raise InvalidInput(message, fields={"spec": [message]}) from exc
        except Exception as exc:  # the validator raises assorted errors on malformed documents
            message = f"Not a valid OpenAPI document: {type(exc).__name__}"
            raise InvalidInput(message, fields={"spec": [message]}) from exc


def api_create(*, actor, provider: Service, slug: str, name: str, **fields) -> Api:
    _require_assets(actor, provider.team)
    api = Api(provider=provider, slug=slug, name=name, **{k: v for k, v in fields.items() if k in API_FIELDS})
    spec_validate(kind=api.kind, spec=api.spec)
    with transaction.atomic():
        validated_save(api)
        audit_record(actor=actor, action="api.create", obj=api, after=snapshot(api))
    projection_schedule("service", provider.slug)
    return api


def api_update(*, actor, api: Api, **fields) -> Api:
    _require_assets(actor, api.provider.team)
    with transaction.atomic():
        api = Api.objects.select_for_update().select_related("provider").get(pk=api.pk)
        before = snapshot(api)
        for key, value in fields.items():
            if key in API_FIELDS:
                setattr(api, key, value)
        spec_validate(kind=api.kind, spec=api.spec)
        validated_save(api)
        audit_record(actor=actor, action="api.update", obj=api, before=before, after=snapshot(api))
    projection_schedule("service", api.provider.slug)
    return api


def api_delete(*, actor, api: Api) -> None:
    _require_assets(actor, api.provider.team)
    with transaction.atomic():
        provider_slug = api.provider.slug
        audit_record(actor=actor, action="api.delete", obj=api, before=snapshot(api))
        api.delete()
    projection_schedule("api", api.slug)
    projection_schedule("service", provider_slug)
