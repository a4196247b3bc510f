"""Every write to services and APIs. Ownership limits are checked here under the team's
row lock, so every entry point shares one concurrency-safe check."""

from __future__ import annotations

import contextvars
import functools
import json
from collections import Counter

from django.db import transaction
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError, ValidatorDetectError

from catalog import constants, validators
from catalog.models import Api, ApiKey, Domain, Resource, Service, System
from core import jsonlimits
from core.audit import audit_record, audit_record_many, snapshot
from core.errors import Conflict, InvalidInput
from core.events import announce
from core.persistence import validated_create_many, validated_save
from teams import permissions
from teams.models import Team
from teams.services import team_check_limit, team_lock

SERVICE_FIELDS = {
    "name",
    "description",
    "tier",
    "lifecycle",
    "repository_url",
    "base_url",
    "aliases",
    "metrics_path",
    "health_path",
    "crawl_enabled",
    "system",
}
API_FIELDS = {"name", "kind", "version", "base_path", "spec", "lifecycle", "slo_availability", "slo_p99_ms"}


def _require_assets(actor, team: Team) -> None:
    permissions.require(
        permissions.can_manage_assets(actor, team), actor, f"Only members of team '{team.slug}' manage its services."
    )


def _alias_key(value: str) -> str:
    return value.strip().lower().replace("[", "").replace("]", "")


def aliases_check(service: Service, *, previous=()) -> None:
    """An alias may not be another service's slug, alias or base-URL host:port (409
    ``alias_taken``): otherwise a team could take over the traffic observed for another
    team's service. Aliases the service already had (``previous``) are not re-checked, so
    an edit is not refused for a name someone took later (a slug outranks an alias in
    matching anyway). Runs inside the writing transaction, under a lock on PostgreSQL."""
    from django.db import connection

    from core.hostport import base_url_hostport

    aliases = service.aliases
    if not aliases or not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return  # nothing to check, or full_clean reports the shape
    if connection.vendor == "postgresql":  # SQLite's IMMEDIATE transactions already serialise writers
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ALIAS_LOCK_ID])
    kept = {_alias_key(a) for a in previous or () if isinstance(a, str)}
    wanted = {_alias_key(a): a for a in aliases if _alias_key(a) not in kept}
    if not wanted:
        return
    others = Service.objects.exclude(pk=service.pk) if service.pk else Service.objects.all()
    for slug, other_aliases, base_url in others.values_list("slug", "aliases", "base_url").iterator(chunk_size=2000):
        taken = {slug: "slug"}
        hostport = base_url_hostport(base_url)
        if hostport:
            taken[_alias_key(hostport)] = "base URL"
        for other in other_aliases or ():
            if isinstance(other, str):
                taken.setdefault(_alias_key(other), "alias")
        for key, alias in wanted.items():
            if key in taken:
                raise Conflict(
                    f"Alias '{alias[:80]}' is already the {taken[key]} of service '{slug}'.",
                    code="alias_taken",
                    fields={"aliases": [f"'{alias[:80]}' is taken by service '{slug}'."]},
                    alias=alias[:255],
                    service=slug,
                )


# Any constant key for pg_advisory_xact_lock: alias checks and writes take turns.
ALIAS_LOCK_ID = 0x5B_A11A5

# --- Provenance: fields a descriptor location manages ------------------------------------------
# An object imported from a location is changed by re-importing it; elsewhere (portal, REST,
# GraphQL, admin) a change to one of these fields is refused with 409 ``managed_by_location``.
# Keys and crawl_enabled stay editable. Orphaned objects are no longer managed.
MANAGED_FIELDS = {
    "service": SERVICE_FIELDS - {"crawl_enabled"} | {"team", "consumes", "resources", "delete"},
    "api": {"name", "kind", "version", "base_path", "spec", "lifecycle", "provider", "delete"},
    "system": {"name", "description", "domain", "team", "delete"},
    "domain": {"name", "description", "parent", "team", "delete"},
    "resource": {"name", "description", "type", "system", "team", "delete"},
}
_location_write = contextvars.ContextVar("location_write", default=False)


def require_unmanaged(kind: str, slug: str, touched) -> None:
    """409 ``managed_by_location`` naming the file when ``touched`` includes a field a location
    manages (nothing to check during the location's own import)."""
    touched = set(touched) & MANAGED_FIELDS[kind]
    if not touched or _location_write.get():
        return
    from catalog.models import ManagedEntity

    managed = ManagedEntity.objects.filter(kind=kind, slug=slug, orphaned_at=None).select_related("location").first()
    if managed is None:
        return
    what = "deleted" if touched == {"delete"} else f"changed ({', '.join(sorted(touched - {'delete'}))})"
    file = managed.location.target
    raise Conflict(
        f"{kind.title()} '{slug}' is managed by {file} (line {managed.line}): it is {what} there, by re-importing it.",
        code="managed_by_location",
        location=file,
        line=managed.line,
        fields={f: [f"Managed by {file}."] for f in sorted(touched - {"delete"})},
    )


def _changed(obj, fields: dict) -> set:
    return {k for k, v in fields.items() if getattr(obj, k, None) != v}


def _distinct_teams(teams) -> list[Team]:
    return list({team.pk: team for team in teams}.values())


def _create_audited(model, kind: str, *, actor, objs: list) -> list:
    """Inside the caller's transaction: validate and insert new objects (one insert) and audit
    each as ``<kind>.create`` (one insert); the caller announces them."""
    from django.db.models import prefetch_related_objects

    validated_create_many(model, objs)
    m2m = [f.name for f in model._meta.many_to_many]
    if m2m:
        prefetch_related_objects(objs, *m2m)  # the snapshots read them: one query, not one per object
    audit_record_many(
        actor=actor,
        action=f"{kind}.create",
        entries=[(o, None, snapshot(o)) for o in objs],
        org_ids={id(o): o.team.org_id for o in objs if getattr(o, "team_id", None)},
    )
    return objs


def service_create(*, actor, team: Team, slug: str, name: str, **fields) -> Service:
    return services_create(actor=actor, specs=[{"team": team, "slug": slug, "name": name, **fields}])[0]


def services_create(*, actor, specs: list[dict]) -> list[Service]:
    """Services (``service_create``'s arguments each) in one transaction: permission per team,
    each team's service limit for all its new services together (under its lock), the aliases
    check, one insert, one audit insert, one announcement."""
    teams = _distinct_teams(s["team"] for s in specs)
    for team in teams:
        _require_assets(actor, team)
    objs = [
        Service(slug=s["slug"], name=s["name"], **{k: v for k, v in s.items() if k in SERVICE_FIELDS - {"name"}})
        for s in specs
    ]
    with transaction.atomic():
        locked = {team.pk: team_lock(team) for team in teams}
        adding = Counter(s["team"].pk for s in specs)
        for pk, count in adding.items():
            team_check_limit(locked[pk], limit="services", adding=count)
        for obj, spec in zip(objs, specs, strict=True):
            obj.team = locked[spec["team"].pk]
        _create_audited(Service, "service", actor=actor, objs=objs)
        for obj in objs:  # after the insert, so services of the same batch are checked against each other
            aliases_check(obj)
    announce("service", *(o.slug for o in objs))
    return objs


def service_update(*, actor, service: Service, **fields) -> Service:
    _require_assets(actor, service.team)
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        require_unmanaged("service", service.slug, _changed(service, fields))
        before = snapshot(service)
        for key, value in fields.items():
            if key in SERVICE_FIELDS:
                setattr(service, key, value)
        if "aliases" in fields:
            aliases_check(service, previous=before.get("aliases") or ())
        validated_save(service)
        audit_record(actor=actor, action="service.update", obj=service, before=before, after=snapshot(service))
    announce("service", service.slug)
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
        require_unmanaged("service", service.slug, {"team"})
        receiving = team_lock(team)
        team_check_limit(receiving, limit="services")
        before = snapshot(service)
        service.team = receiving
        service.save(update_fields=["team", "updated_at"])
        _keys_forget_on_commit(ApiKey.objects.filter(consumer=service))  # X-Consumer-Team follows at once
        audit_record(actor=actor, action="service.transfer", obj=service, before=before, after=snapshot(service))
    announce("service", service.slug)
    return service


def service_delete(*, actor, service: Service) -> None:
    _require_assets(actor, service.team)
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        require_unmanaged("service", service.slug, {"delete"})
        if service.apis.exists():
            raise Conflict(f"Service '{service.slug}' still provides APIs; delete them first.", code="service_has_apis")
        audit_record(actor=actor, action="service.delete", obj=service, before=snapshot(service))
        _keys_forget_on_commit(ApiKey.objects.filter(consumer=service))  # deleted with it (cascade)
        service.delete()
    announce("service", service.slug)


def service_consumes_set(*, actor, service: Service, apis: list[Api]) -> Service:
    """Declare which APIs a service depends on (besides those it holds keys for)."""
    _require_assets(actor, service.team)
    with transaction.atomic():
        before = sorted(service.consumes.values_list("slug", flat=True))
        if before != sorted(a.slug for a in apis):
            require_unmanaged("service", service.slug, {"consumes"})
        service.consumes.set(apis)
        audit_record(
            actor=actor,
            action="service.consumes",
            obj=service,
            before={"consumes": before},
            after={"consumes": sorted(a.slug for a in apis)},
        )
    announce("service", service.slug)
    return service


def _spec_invalid(message: str, *, code: str = "invalid", **extra) -> InvalidInput:
    return InvalidInput(message, code=code, fields={"spec": [message]}, **extra)


def _spec_external_ref(pointer: str, ref: str) -> InvalidInput:
    shown = ref if len(ref) <= 200 else ref[:200] + "…"
    where = f" at {pointer}" if pointer else ""
    return _spec_invalid(
        f"The spec may only use local references ('#/…'); '{shown}'{where} is refused.",
        code="spec_external_ref",
        ref=shown,
        pointer=pointer,
    )


def spec_validate(*, kind: str, spec) -> None:
    """The one check every entry point (REST, GraphQL, portal, admin) runs on a spec: a JSON
    object, nested at most JSON_MAX_DEPTH deep, at most MAX_SPEC_BYTES, with local references
    only (400 ``spec_external_ref``: no file is opened, no URL fetched); OpenAPI documents are
    then validated by openapi-spec-validator, whose resolver refuses anything non-local too.
    Errors name the JSON pointer and the rule, never the document's content."""
    if spec in (None, "", {}):
        return
    if not isinstance(spec, dict):
        raise _spec_invalid("The spec must be a JSON object.")
    try:
        jsonlimits.check_depth(spec, storable=True)
    except InvalidInput as exc:  # too deep, or text no database stores (a NUL, a lone surrogate)
        raise _spec_invalid(exc.detail, code=exc.code, **exc.extra) from None
    if len(json.dumps(spec)) > constants.MAX_SPEC_BYTES:
        raise _spec_invalid("The spec is larger than 2 MiB.")
    external = validators.spec_external_ref(spec)
    if external is not None:
        raise _spec_external_ref(*external)
    if kind != "openapi":
        return
    try:
        validators.openapi_validate_local(spec)
    except Exception as exc:  # the validator raises assorted errors on malformed documents
        refused = validators.refused_uri(exc)
        if refused is not None:
            raise _spec_external_ref("", refused) from exc
        if isinstance(exc, OpenAPIValidationError):
            raise _spec_invalid(f"Not a valid OpenAPI document: {validators.openapi_error_summary(exc)}.") from exc
        if isinstance(exc, ValidatorDetectError):
            raise _spec_invalid("Not a valid OpenAPI document: no supported 'openapi' or 'swagger' version.") from exc
        pointer = getattr(exc, "ref", None)  # referencing's PointerToNowhere & co. name the local reference
        if isinstance(pointer, str) and pointer[:1] in ("#", "/") and len(pointer) <= 200:
            pointer = pointer if pointer.startswith("#") else "#" + pointer
            raise _spec_invalid(f"Not a valid OpenAPI document: the reference '{pointer}' cannot be resolved.") from exc
        raise _spec_invalid(f"Not a valid OpenAPI document: {type(exc).__name__}.") from exc


def api_create(*, actor, provider: Service, slug: str, name: str, **fields) -> Api:
    return apis_create(actor=actor, specs=[{"provider": provider, "slug": slug, "name": name, **fields}])[0]


def apis_create(*, actor, specs: list[dict]) -> list[Api]:
    """APIs (``api_create``'s arguments each) in one transaction: permission per providing
    team, each spec validated, one insert, one audit insert, one announcement of the providers."""
    for team in _distinct_teams(s["provider"].team for s in specs):
        _require_assets(actor, team)
    objs = [
        Api(
            provider=s["provider"],
            slug=s["slug"],
            name=s["name"],
            **{k: v for k, v in s.items() if k in API_FIELDS - {"name"}},
        )
        for s in specs
    ]
    for api in objs:
        spec_validate(kind=api.kind, spec=api.spec)
    with transaction.atomic():
        validated_create_many(Api, objs)
        audit_record_many(
            actor=actor,
            action="api.create",
            entries=[(a, None, snapshot(a)) for a in objs],
            org_ids={id(a): a.provider.team.org_id for a in objs},
        )
    announce("service", *(a.provider.slug for a in objs))
    return objs


def api_update(*, actor, api: Api, confirm_breaking: bool = False, **fields) -> Api:
    """Change an API. A new spec that breaks the old one's clients without a new major version
    is refused (409 ``breaking_change``, see ``api_breaking_changes``) unless ``confirm_breaking``;
    a confirmed one is audited as ``api.breaking_change``, which tells the consumer teams."""
    _require_assets(actor, api.provider.team)
    with transaction.atomic():
        api = Api.objects.select_for_update().select_related("provider").get(pk=api.pk)
        require_unmanaged("api", api.slug, _changed(api, {k: v for k, v in fields.items() if k in API_FIELDS}))
        before = snapshot(api)
        old_kind, old_spec, old_version = api.kind, api.spec, api.version
        for key, value in fields.items():
            if key in API_FIELDS:
                setattr(api, key, value)
        spec_validate(kind=api.kind, spec=api.spec)
        breaking = api_breaking_changes(api, old_kind=old_kind, old_spec=old_spec, old_version=old_version)
        if breaking and not confirm_breaking:
            raise breaking_refusal(api, breaking)
        validated_save(api)
        audit_record(actor=actor, action="api.update", obj=api, before=before, after=snapshot(api))
        if breaking:
            changes = [c.as_dict() for c in breaking.changes]
            after = {"version": api.version, "changes": changes, "truncated": breaking.truncated}
            audit_record(
                actor=actor, action="api.breaking_change", obj=api, before={"version": old_version}, after=after
            )
    announce("service", api.provider.slug)
    return api


def _spec_version(spec) -> str:
    info = spec.get("info") if isinstance(spec, dict) else None
    return str(info.get("version") or "") if isinstance(info, dict) else ""


def api_breaking_changes(api: Api, *, old_kind: str, old_spec, old_version: str):
    """The breaking changes (``catalog.openapi_diff.Diff``) from an OpenAPI API's old spec to
    its new one, or None when there are none or they come with a new major version: the
    major number of the API's ``version`` or of the spec's ``info.version`` went up."""
    from catalog.openapi_diff import breaking_changes, semver_major

    if old_kind != "openapi" or api.kind != "openapi" or not old_spec or not api.spec or old_spec == api.spec:
        return None
    for before, after in ((old_version, api.version), (_spec_version(old_spec), _spec_version(api.spec))):
        old_major, new_major = semver_major(before), semver_major(after)
        if old_major is not None and new_major is not None and new_major > old_major:
            return None
    diff = breaking_changes(old_spec, api.spec)
    return diff if diff.changes else None


def breaking_refusal(api: Api, diff) -> Conflict:
    """The 409 ``breaking_change`` refusal of ``diff`` (also a plan's problem in a dry run)."""
    shown = " ".join(c.message for c in diff.changes[:5])
    more = len(diff.changes) - 5
    return Conflict(
        f"The new spec of API '{api.slug}' breaks its clients without a new major version "
        f"({len(diff.changes)}{'+' if diff.truncated else ''} change(s)): {shown}"
        + (f" (and {more} more)" if more > 0 else "")
        + " Raise the major version (the API's version or the spec's info.version), or confirm the breaking change.",
        code="breaking_change",
        changes=[c.as_dict() for c in diff.changes],
        truncated=diff.truncated,
    )


def api_deprecate(*, actor, api: Api, sunset_at, successor: Api | None = None) -> Api:
    """Announce (or change) an API's deprecation: from now on the gateway's answers carry
    Deprecation, Sunset and a Link to the successor; from ``sunset_at`` on it refuses (403
    api_sunset). Calling it again with a later date extends the sunset. The audit record
    (``api.deprecate``) becomes an ``api.deprecated`` event for every consumer team."""
    from django.utils import timezone

    _require_assets(actor, api.provider.team)
    if sunset_at is None:
        raise InvalidInput("Give the sunset date.", fields={"sunset_at": ["Required."]})
    if successor is not None and successor.pk == api.pk:
        raise InvalidInput("An API cannot succeed itself.", fields={"successor": ["Another API."]})
    with transaction.atomic():
        api = Api.objects.select_for_update(of=("self",)).select_related("provider__team", "successor").get(pk=api.pk)
        if sunset_at <= timezone.now() and not (api.sunset_at and sunset_at == api.sunset_at):
            raise InvalidInput("The sunset must be in the future.", fields={"sunset_at": ["A future instant."]})
        before = snapshot(api)
        api.deprecated_at = api.deprecated_at or timezone.now()
        api.sunset_at, api.successor = sunset_at, successor
        validated_save(api)
        audit_record(actor=actor, action="api.deprecate", obj=api, before=before, after=snapshot(api))
        _keys_forget_on_commit(ApiKey.objects.filter(api=api))  # the gateway's records carry the lifecycle
    announce("service", api.provider.slug)
    return api


def api_undeprecate(*, actor, api: Api) -> Api:
    """Withdraw a deprecation: the gateway stops sending the headers and stops refusing."""
    _require_assets(actor, api.provider.team)
    with transaction.atomic():
        api = Api.objects.select_for_update().select_related("provider__team").get(pk=api.pk)
        if api.deprecated_at is None:
            raise Conflict(f"API '{api.slug}' is not deprecated.", code="not_deprecated")
        before = snapshot(api)
        api.deprecated_at = api.sunset_at = api.successor = None
        validated_save(api)
        audit_record(actor=actor, action="api.undeprecate", obj=api, before=before, after=snapshot(api))
        _keys_forget_on_commit(ApiKey.objects.filter(api=api))
    announce("service", api.provider.slug)
    return api


def api_delete(*, actor, api: Api) -> None:
    _require_assets(actor, api.provider.team)
    with transaction.atomic():
        require_unmanaged("api", api.slug, {"delete"})
        provider_slug = api.provider.slug
        audit_record(actor=actor, action="api.delete", obj=api, before=snapshot(api))
        _keys_forget_on_commit(ApiKey.objects.filter(api=api))  # deleted with it (cascade)
        api.delete()
    announce("api", api.slug)
    announce("service", provider_slug)


# --- API keys -----------------------------------------------------------------------------
def _require_provider(actor, api: Api) -> None:
    team = api.provider.team
    permissions.require(
        permissions.can_manage_assets(actor, team),
        actor,
        f"Only members of team '{team.slug}' (the API's provider) manage its keys.",
    )


def _key_changed(key: ApiKey) -> None:
    """After commit: drop the shared cache entry (every web process re-reads within
    KEY_LOCAL_CACHE_SECONDS) and re-project the consumer's declared dependencies."""
    from catalog.gateway import key_cache_forget

    if key.key_id:
        transaction.on_commit(lambda: key_cache_forget(key.key_id))
    announce("service", key.consumer.slug)


def _keys_forget_on_commit(keys) -> None:
    """After commit, drop the gateway records of these keys (a queryset, read now)."""
    from catalog.gateway import key_records_forget_on_commit

    key_records_forget_on_commit(list(keys.exclude(key_id=None).values_list("key_id", flat=True)))


def _new_secret(key: ApiKey) -> str:
    from core import keys

    full, key_id, secret_hash = keys.generate()
    key.key_id, key.secret_hash = key_id, secret_hash
    return full


KEY_LIMIT_FIELDS = ("rate_limit", "rate_period", "daily_quota")


def _key_limits(limits: dict) -> dict:
    """The quota fields given (rate_limit, rate_period, daily_quota); None clears a limit."""
    unknown = set(limits) - set(KEY_LIMIT_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown key field(s): {', '.join(sorted(unknown))}.", code="invalid")
    out = {k: v for k, v in limits.items() if not (k == "rate_period" and v is None)}
    if out.get("rate_period") not in (None, *ApiKey.RATE_PERIODS):
        raise InvalidInput("rate_period is 'second' or 'minute'.", fields={"rate_period": ["second or minute."]})
    return out


def key_issue(
    *, actor, api: Api, consumer: Service, name: str, scopes: list | None = None, expires_at=None, **limits
) -> tuple[ApiKey, str]:
    """Issue an active key; returns (key, full secret). The secret is never retrievable again.
    ``limits``: rate_limit (requests per rate_period, "second" or "minute") and daily_quota."""
    _require_provider(actor, api)
    key = ApiKey(
        api=api,
        consumer=consumer,
        name=name,
        scopes=scopes or [],
        expires_at=expires_at,
        created_by=actor,
        status=ApiKey.STATUS_ACTIVE,
        **_key_limits(limits),
    )
    secret = _new_secret(key)
    with transaction.atomic():
        validated_save(key)
        audit_record(actor=actor, action="key.issue", obj=key, after=snapshot(key))
    _key_changed(key)
    return key, secret


def key_request(*, actor, api: Api, consumer: Service, name: str, scopes: list | None = None) -> ApiKey:
    """The consumer's team asks for a key; the provider approves or rejects it."""
    permissions.require(
        permissions.can_manage_assets(actor, consumer.team),
        actor,
        f"Only members of team '{consumer.team.slug}' request keys for '{consumer.slug}'.",
    )
    key = ApiKey(
        api=api, consumer=consumer, name=name, scopes=scopes or [], created_by=actor, status=ApiKey.STATUS_PENDING
    )
    with transaction.atomic():
        validated_save(key)
        audit_record(actor=actor, action="key.request", obj=key, after=snapshot(key))
    return key


def _pending(key: ApiKey) -> ApiKey:
    key = ApiKey.objects.select_for_update().select_related("api__provider__team", "consumer").get(pk=key.pk)
    if key.status != ApiKey.STATUS_PENDING:
        raise Conflict(f"Key request #{key.pk} is {key.status}, not pending.", code="not_pending")
    return key


def key_approve(*, actor, key: ApiKey, expires_at=None, **limits) -> tuple[ApiKey, str]:
    """Approve a pending request: the key becomes active and its secret is shown once, to
    the approver, who hands it to the consumer team through their usual secret store. The
    provider may set the key's rate limit and daily quota here (``limits``)."""
    _require_provider(actor, key.api)
    limits = _key_limits(limits)
    with transaction.atomic():
        key = _pending(key)
        before = snapshot(key)
        secret = _new_secret(key)
        key.status, key.expires_at = ApiKey.STATUS_ACTIVE, expires_at
        for field, value in limits.items():
            setattr(key, field, value)
        validated_save(key)
        audit_record(actor=actor, action="key.approve", obj=key, before=before, after=snapshot(key))
    _key_changed(key)
    return key, secret


def key_reject(*, actor, key: ApiKey, reason: str = "") -> ApiKey:
    _require_provider(actor, key.api)
    with transaction.atomic():
        key = _pending(key)
        before = snapshot(key)
        key.status, key.revoked_reason = ApiKey.STATUS_REJECTED, reason[:500]
        key.save(update_fields=["status", "revoked_reason"])
        audit_record(actor=actor, action="key.reject", obj=key, before=before, after=snapshot(key))
    return key


def key_revoke(*, actor, key: ApiKey, reason: str) -> ApiKey:
    """Irreversible. Takes effect in every web process within a second."""
    from django.utils import timezone

    _require_provider(actor, key.api)
    if not reason.strip():
        raise InvalidInput("Say why the key is revoked.", fields={"reason": ["Required."]})
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("api__provider__team", "consumer").get(pk=key.pk)
        if key.revoked_at is not None:
            raise Conflict(f"Key {key.key_id} is already revoked.", code="already_revoked")
        if key.status != ApiKey.STATUS_ACTIVE:
            raise Conflict(f"Key request #{key.pk} is {key.status}; only active keys are revoked.", code="not_active")
        before = snapshot(key)
        key.revoked_at, key.revoked_by, key.revoked_reason = timezone.now(), actor, reason.strip()[:500]
        key.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        audit_record(actor=actor, action="key.revoke", obj=key, before=before, after=snapshot(key))
    _key_changed(key)
    return key


KEEP_EXPIRY = object()  # key_rotate: the new key expires when the old one would have


def key_rotate(*, actor, key: ApiKey, overlap_seconds: int = 3600, expires_at=KEEP_EXPIRY) -> tuple[ApiKey, str]:
    """A new key for the same API, consumer, scopes, rate limit and daily quota, expiring when
    the old one would have unless ``expires_at`` is given (``None``: never); the old one stays
    valid for the overlap window, then expires (expiry is checked on every verification)."""
    from datetime import timedelta

    from django.utils import timezone

    _require_provider(actor, key.api)
    if not 0 <= overlap_seconds <= 30 * 24 * 3600:
        raise InvalidInput("The overlap must be 0 to 30 days.", fields={"overlap_seconds": ["0 to 2592000."]})
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().select_related("api__provider__team", "consumer").get(pk=key.pk)
        if old.state != ApiKey.STATE_ACTIVE:
            raise Conflict(f"Key {old.key_id or old.pk} is {old.state}; only active keys rotate.", code="not_active")
        before = snapshot(old)
        new_expiry = old.expires_at if expires_at is KEEP_EXPIRY else expires_at
        end = timezone.now() + timedelta(seconds=overlap_seconds)
        old.expires_at = min(old.expires_at, end) if old.expires_at else end
        old.save(update_fields=["expires_at"])
        new = ApiKey(
            api=old.api,
            consumer=old.consumer,
            name=old.name,
            scopes=old.scopes,
            rate_limit=old.rate_limit,
            rate_period=old.rate_period,
            daily_quota=old.daily_quota,
            created_by=actor,
            rotated_from=old,
            status=ApiKey.STATUS_ACTIVE,
            expires_at=new_expiry,
        )
        secret = _new_secret(new)
        validated_save(new)
        audit_record(
            actor=actor, action="key.rotate", obj=old, before=before, after={**snapshot(old), "replaced_by": new.key_id}
        )
    _key_changed(old)
    _key_changed(new)
    return new, secret


def key_expiry_set(*, actor, key: ApiKey, expires_at) -> ApiKey:
    """Change when an active key expires (``None``: never; a past instant: now). Every web
    process sees the change within KEY_LOCAL_CACHE_SECONDS."""
    _require_provider(actor, key.api)
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("api__provider__team", "consumer").get(pk=key.pk)
        if key.status != ApiKey.STATUS_ACTIVE or key.revoked_at is not None:
            raise Conflict(
                f"Key {key.key_id or key.pk} is {key.state}; only active keys change expiry.", code="not_active"
            )
        before = snapshot(key)
        key.expires_at = expires_at
        key.save(update_fields=["expires_at"])
        audit_record(actor=actor, action="key.expiry", obj=key, before=before, after=snapshot(key))
    _key_changed(key)
    return key


def key_limits_set(*, actor, key: ApiKey, **limits) -> ApiKey:
    """Change a key's rate limit (rate_limit per rate_period) and daily quota (None: no limit);
    the provider's team decides. Gateways apply it within KEY_LOCAL_CACHE_SECONDS."""
    _require_provider(actor, key.api)
    limits = _key_limits(limits)
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("api__provider__team", "consumer").get(pk=key.pk)
        if key.state in (ApiKey.STATE_REVOKED, ApiKey.STATE_REJECTED):
            raise Conflict(
                f"Key {key.key_id or key.pk} is {key.state}; its limits no longer matter.", code="not_active"
            )
        before = snapshot(key)
        for field, value in limits.items():
            setattr(key, field, value)
        validated_save(key)
        audit_record(actor=actor, action="key.limits", obj=key, before=before, after=snapshot(key))
    _key_changed(key)
    return key


def key_usage_flush() -> int:
    """Move usage counted in Redis by the gateway into the database (one UPDATE per key
    used since the last flush). Discovery's gateway source reads the totals from there
    (``catalog.selectors.key_usage_totals``) as evidence of calls."""
    from catalog.gateway import usage_drain

    drained = usage_drain()
    if not drained:
        return 0
    keys = {k.key_id: k for k in ApiKey.objects.filter(key_id__in=drained)}
    with transaction.atomic():
        for key_id, (count, last_used) in drained.items():
            key = keys.get(key_id)
            if key is None:
                continue
            key.usage_count += count
            key.last_used_at = max(filter(None, [key.last_used_at, last_used]))
            key.save(update_fields=["usage_count", "last_used_at"])
    return len(drained)


# --- Systems, domains and resources ---------------------------------------------------------
DOMAIN_FIELDS = {"name", "description", "parent"}
SYSTEM_FIELDS = {"name", "description", "domain"}
RESOURCE_FIELDS = {"name", "type", "description", "system"}
_OWNED = {
    "domain": (Domain, "domains", "CATALOG_MAX_DOMAINS_PER_TEAM", DOMAIN_FIELDS),
    "system": (System, "systems", "CATALOG_MAX_SYSTEMS_PER_TEAM", SYSTEM_FIELDS),
    "resource": (Resource, "resources", "CATALOG_MAX_RESOURCES_PER_TEAM", RESOURCE_FIELDS),
}


def owned_fields(kind: str) -> set[str]:
    """The fields of a domain, system or resource that ``owned_update`` changes (``team`` apart)."""
    return _OWNED[kind][3]


def owned_limit(kind: str) -> int:
    """How many domains, systems or resources one team may own (settings)."""
    from django.conf import settings

    return int(getattr(settings, _OWNED[kind][2]))


def _check_owned_limit(team: Team, kind: str, adding: int = 1) -> None:
    """Like a team's service limit: refused with 409 ``team_limit_exceeded`` past the maximum."""
    model, noun, _, _ = _OWNED[kind]
    maximum, current = owned_limit(kind), model.objects.filter(team=team).count()
    if current + adding > maximum:
        raise Conflict(
            f"Team '{team.slug}' is at its limit of {maximum} {noun} ({current} now).",
            code="team_limit_exceeded",
            limit=noun,
            max=maximum,
            current=current,
        )


def domain_loop_check(domain: Domain) -> None:
    """A domain may not be its own ancestor (409 ``reference_loop``, naming the loop)."""
    seen, parent = [domain.slug], domain.parent
    while parent is not None:
        if parent.pk == domain.pk or parent.slug in seen:
            chain = " -> ".join([*seen, parent.slug])
            raise Conflict(
                f"Domain '{domain.slug}' would be inside itself: {chain}.",
                code="reference_loop",
                fields={"parent": [f"Loop: {chain}."]},
            )
        seen.append(parent.slug)
        if len(seen) > 64:
            raise InvalidInput("Domains nest at most 64 deep.", code="too_deep", fields={"parent": ["Too deep."]})
        parent = parent.parent


def owned_create(kind: str, *, actor, team: Team, slug: str, name: str = "", **fields):
    """A domain, system or resource (``kind``) owned by ``team``: its members (and org admins,
    superusers) create it, within the team's limit for that kind."""
    return owned_create_many(kind, actor=actor, specs=[{"team": team, "slug": slug, "name": name, **fields}])[0]


def owned_create_many(kind: str, *, actor, specs: list[dict]) -> list:
    """Domains, systems or resources (``owned_create``'s arguments each) in one transaction:
    permission per team, each team's limit for all its new objects together (under its lock),
    one insert, one audit insert, one announcement."""
    model, _, _, allowed = _OWNED[kind]
    teams = _distinct_teams(s["team"] for s in specs)
    for team in teams:
        _require_assets(actor, team)
    objs = [
        model(
            slug=s["slug"], name=s.get("name") or s["slug"], **{k: v for k, v in s.items() if k in allowed - {"name"}}
        )
        for s in specs
    ]
    with transaction.atomic():
        locked = {team.pk: team_lock(team) for team in teams}
        for pk, count in Counter(s["team"].pk for s in specs).items():
            _check_owned_limit(locked[pk], kind, adding=count)
        for obj, spec in zip(objs, specs, strict=True):
            obj.team = locked[spec["team"].pk]
            if kind == "domain" and obj.parent_id:
                domain_loop_check(obj)
        _create_audited(model, kind, actor=actor, objs=objs)
    announce(kind, *(o.slug for o in objs))
    return objs


def owned_update(kind: str, *, actor, obj, team: Team | None = None, **fields):
    """Change a domain, system or resource field by field; a ``team`` other than its own hands
    it over first (_owned_transfer: who manages both sides, the receiving team's limit)."""
    if team is not None and team.pk != obj.team_id:
        obj = _owned_transfer(kind, actor=actor, obj=obj, team=team)
    model, _, _, allowed = _OWNED[kind]
    _require_assets(actor, obj.team)
    with transaction.atomic():
        obj = model.objects.select_for_update().select_related("team").get(pk=obj.pk)
        require_unmanaged(kind, obj.slug, _changed(obj, {k: v for k, v in fields.items() if k in allowed}))
        before = snapshot(obj)
        for key, value in fields.items():
            if key in allowed:
                setattr(obj, key, value)
        if kind == "domain":
            domain_loop_check(obj)
        validated_save(obj)
        audit_record(actor=actor, action=f"{kind}.update", obj=obj, before=before, after=snapshot(obj))
    announce(kind, obj.slug)
    return obj


def _owned_transfer(kind: str, *, actor, obj, team: Team):
    """Hand a domain, system or resource to another team: who manages both sides; the receiving
    team's limit applies."""
    model = _OWNED[kind][0]
    _require_assets(actor, obj.team)
    _require_assets(actor, team)
    with transaction.atomic():
        obj = model.objects.select_for_update().get(pk=obj.pk)
        if obj.team_id == team.pk:
            return obj
        require_unmanaged(kind, obj.slug, {"team"})
        receiving = team_lock(team)
        _check_owned_limit(receiving, kind)
        before = snapshot(obj)
        obj.team = receiving
        obj.save(update_fields=["team", "updated_at"])
        audit_record(actor=actor, action=f"{kind}.transfer", obj=obj, before=before, after=snapshot(obj))
    announce(kind, obj.slug)
    return obj


def owned_delete(kind: str, *, actor, obj) -> None:
    """Delete a domain, system or resource nothing uses any more (409 ``<kind>_in_use``)."""
    model = _OWNED[kind][0]
    _require_assets(actor, obj.team)
    with transaction.atomic():
        obj = model.objects.select_for_update().get(pk=obj.pk)
        require_unmanaged(kind, obj.slug, {"delete"})
        used = _STILL_USED[kind](obj)
        if used:
            raise Conflict(f"{kind.title()} '{obj.slug}' still has {used}; move them first.", code=f"{kind}_in_use")
        audit_record(actor=actor, action=f"{kind}.delete", obj=obj, before=snapshot(obj))
        obj.delete()
    announce(kind, obj.slug)


def _uses(**related) -> str:
    """What still uses an object, e.g. "2 system(s), 1 subdomain(s)"; empty when nothing does."""
    return ", ".join(f"{n} {name}(s)" for name, manager in related.items() if (n := manager.count()))


_STILL_USED = {
    "domain": lambda d: _uses(system=d.systems, subdomain=d.subdomains),
    "system": lambda s: _uses(service=s.services, resource=s.resources),
    "resource": lambda r: "",
}


def service_resources_set(*, actor, service: Service, resources: list[Resource]) -> Service:
    """Declare which resources (databases, queues, buckets) a service depends on."""
    _require_assets(actor, service.team)
    with transaction.atomic():
        before = sorted(service.resources.values_list("slug", flat=True))
        if before != sorted(r.slug for r in resources):
            require_unmanaged("service", service.slug, {"resources"})
        service.resources.set(resources)
        audit_record(
            actor=actor,
            action="service.resources",
            obj=service,
            before={"resources": before},
            after={"resources": sorted(r.slug for r in resources)},
        )
    announce("service", service.slug)
    return service


# --- Catalog as code: importing descriptor files -----------------------------------------------
class DescriptorsInvalid(InvalidInput):
    code = "descriptors_invalid"


def _plan_refused(plan) -> DescriptorsInvalid:
    first = plan.problems[0]
    return DescriptorsInvalid(
        f"{len(plan.problems)} error(s) in the descriptors; nothing was changed. First: {first}",
        errors=[p.as_dict() for p in plan.problems],
    )


def location_import(*, actor, target: str, content: bytes | str, base_dir=None) -> tuple:
    """Import one descriptor file as a location, all or nothing: the plan must be free of
    problems (schema, references, limits, claims by other locations), then every object is
    written through the services above (permissions, limits, audit, events) in one
    transaction, so a refusal from any of them leaves nothing written. Each entity records its
    location; entities the location had and no longer describes are marked orphan (kept). An
    upload already there is replaced only by its creator or a superuser (403 otherwise).
    Returns (location, plan)."""
    from django.utils import timezone

    from catalog.descriptors.plan import plan_files
    from catalog.models import Location

    if not actor or not actor.is_authenticated:
        permissions.require(False, actor, "Sign in first.")
    target = (target or "").strip()[:500]
    if not target:
        raise InvalidInput("Name the location (the file name).", fields={"target": ["Required."]})
    plan = plan_files([(target, content, base_dir)], location=target)
    if not plan.ok:
        raise _plan_refused(plan)
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    with transaction.atomic():
        location = Location.objects.select_for_update().filter(target=target).first()
        if location is not None and location.kind != Location.KIND_UPLOAD:
            raise Conflict(f"'{target[:100]}' is a {location.kind} location; refresh it instead.", code="location_kind")
        if location is not None:  # uploading again is this location's refresh: the same people
            permissions.require(
                location_may_refresh(actor, location),
                actor,
                f"'{target[:100]}' was uploaded by someone else; only they and superusers upload it again.",
            )
        if (
            location is not None
            and location.body == text
            and not plan.orphans
            and all(i.action == "unchanged" for i in plan.items)
        ):
            return location, plan  # nothing changed: nothing is written, not even the import time
        if location is None:
            location = Location(target=target, created_by=actor if actor.is_authenticated else None)
        location.body, location.imported_at = text, timezone.now()
        validated_save(location)
        _location_apply(actor, location, plan)
    return location, plan


def _location_apply(actor, location, plan) -> None:
    """Inside the caller's transaction: write the plan through the services, record provenance
    and one audit event."""
    from catalog.descriptors.plan import entity_metadata

    token = _location_write.set(True)
    try:
        _apply(actor, plan)
    finally:
        _location_write.reset(token)
    _provenance_record(location, plan, entity_metadata)
    audit_record(actor=actor, action="location.import", obj=location, after={"summary": plan.summary()})


def _provenance_record(location, plan, entity_metadata) -> None:
    """Each planned object is managed by the location (rows written only where they change);
    the location's objects no longer described are marked orphan."""
    from django.utils import timezone

    from catalog.models import ManagedEntity

    rows = {(m.kind, m.slug): m for m in ManagedEntity.objects.filter(kind__in={i.kind for i in plan.items})}
    new, changed = [], []
    for item in plan.items:
        wanted = {"line": item.entity.line, "metadata": entity_metadata(item.entity), "orphaned_at": None}
        row = rows.get((item.kind, item.slug))
        if row is None:
            new.append(ManagedEntity(location=location, kind=item.kind, slug=item.slug, **wanted))
        elif row.location_id != location.pk or any(getattr(row, k) != v for k, v in wanted.items()):
            row.location = location
            for key, value in wanted.items():
                setattr(row, key, value)
            changed.append(row)
    ManagedEntity.objects.bulk_create(new, batch_size=500)
    ManagedEntity.objects.bulk_update(changed, ["location", "line", "metadata", "orphaned_at"], batch_size=500)
    for kind, slug in plan.orphans:
        ManagedEntity.objects.filter(location=location, kind=kind, slug=slug).update(orphaned_at=timezone.now())


def _apply(actor, plan) -> None:
    """Write a plan through the services, in dependency order (the plan's order: orgs, teams,
    users, domains, systems, resources, services, APIs); references last, once all exist. New
    objects of a kind go through the service's bulk path (``services_create`` and co.: the same
    permissions, limits, validation and audit as one by one, one insert, one audit insert and
    one announcement per kind); changed objects through the one-object services."""
    from django.contrib.auth import get_user_model

    from teams import services as teams
    from teams.models import Membership, Org

    User = get_user_model()
    related = {"team": ("org",), "service": ("team",), "api": ("provider",)}
    models = {"org": Org, "team": Team, "domain": Domain, "system": System, "resource": Resource}
    models.update({"service": Service, "api": Api})

    def fetch(kind: str, slugs) -> dict:
        """slug -> object for many slugs of one kind, in one query per 500 or so."""
        slugs = {s for s in slugs if s}
        if not slugs:
            return {}
        return models[kind].objects.select_related(*related.get(kind, ())).in_bulk(slugs, field_name="slug")

    def get(kind: str, slug: str):
        return models[kind].objects.select_related(*related.get(kind, ())).get(slug=slug)

    changed = {kind: [] for kind in ("org", "team", "user", "domain", "system", "resource", "service", "api")}
    for item in plan.items:
        if item.action != "unchanged":
            changed[item.kind].append(item)
    new = {kind: [i for i in items if i.action == "create"] for kind, items in changed.items()}
    old = {kind: [i for i in items if i.action != "create"] for kind, items in changed.items()}

    if new["org"]:
        teams.orgs_create(actor=actor, specs=[{"slug": i.slug, **i.fields} for i in new["org"]])
    for item in old["org"]:
        teams.org_update(actor=actor, org=get("org", item.slug), **item.fields)

    orgs = fetch("org", (i.fields["org"] for i in changed["team"]))
    if new["team"]:
        specs = [{**i.fields, "slug": i.slug, "org": orgs[i.fields["org"]]} for i in new["team"]]
        teams.teams_create(actor=actor, specs=specs)
    for item in old["team"]:
        f = dict(item.fields)
        org, team = f.pop("org"), get("team", item.slug)
        if team.org.slug != org:
            raise Conflict(f"Team '{item.slug}' cannot move to org '{org}' by import.", code="team_org_change")
        teams.team_update(actor=actor, team=team, **f)

    users = User.objects.in_bulk({i.slug for i in changed["user"]}, field_name="username")
    fresh = [i for i in changed["user"] if i.slug not in users]
    if fresh:
        specs = [{"username": i.slug, "email": i.fields["email"], "first_name": i.fields["first_name"]} for i in fresh]
        users.update({u.username: u for u in teams.users_import(actor=actor, specs=specs)})
    created_users = {i.slug for i in fresh}
    for item in changed["user"]:
        user, f = users[item.slug], item.fields
        if item.slug not in created_users and (user.email, user.first_name) != (f["email"], f["first_name"]):
            teams.user_profile_update(actor=actor, user=user, email=f["email"], first_name=f["first_name"])
    seated = set(
        Membership.objects.filter(user__username__in=[i.slug for i in changed["user"]]).values_list(
            "user__username", "team__slug"
        )
    )
    team_objs = fetch("team", (t for i in changed["user"] for t in i.fields["teams"]))
    seats = [
        (team_objs[t], users[i.slug], "lead" if t in i.fields["leads"] else "member")
        for i in changed["user"]
        for t in i.fields["teams"]
        if (i.slug, t) not in seated
    ]
    if seats:
        teams.members_add(actor=actor, seats=seats, inactive_ok=True)

    owners = fetch(
        "team", (i.fields.get("team") for k in ("domain", "system", "resource", "service") for i in changed[k])
    )
    pending = []  # (item, references set once every object exists)
    for kind in ("domain", "system", "resource"):
        specs = []
        for item in changed[kind]:
            f = dict(item.fields)
            team = owners[f.pop("team")]
            refs = {k: f.pop(k) for k in ("parent", "domain", "system") if k in f}
            if item.action == "create":
                specs.append({**f, "team": team, "slug": item.slug})
                if any(refs.values()):
                    pending.append((item, refs))
                continue
            obj = get(kind, item.slug)
            owned_update(kind, actor=actor, obj=obj, team=team, **f)
            pending.append((item, refs))
        if specs:
            owned_create_many(kind, actor=actor, specs=specs)

    # the systems exist already (systems come before services): set with the service
    systems = fetch("system", (i.fields.get("system") for i in changed["service"]))
    specs = []
    for item in changed["service"]:
        f = dict(item.fields)
        team = owners[f.pop("team")]
        f.pop("consumes", None), f.pop("resources", None)
        f["system"] = systems[f["system"]] if f.get("system") else None
        if item.action == "create":
            specs.append({**f, "team": team, "slug": item.slug})
            continue
        service = get("service", item.slug)
        if service.team_id != team.pk:
            service_transfer(actor=actor, service=service, team=team)
        service_update(actor=actor, service=get("service", item.slug), **f)
    if specs:
        services_create(actor=actor, specs=specs)

    # References, once every object exists: parents, domains, systems, then APIs and declarations.
    for item, refs in pending:
        obj = get(item.kind, item.slug)
        values = {
            k: (get("domain" if k in ("parent", "domain") else "system", v) if v else None) for k, v in refs.items()
        }
        if any(getattr(obj, f"{k}_id") != (v.pk if v else None) for k, v in values.items()):
            owned_update(item.kind, actor=actor, obj=obj, **values)
    providers = fetch("service", (i.fields["provider"] for i in changed["api"]))
    if new["api"]:
        specs = [{**i.fields, "slug": i.slug, "provider": providers[i.fields["provider"]]} for i in new["api"]]
        apis_create(actor=actor, specs=specs)
    for item in old["api"]:
        f = dict(item.fields)
        provider, api = providers[f.pop("provider")], get("api", item.slug)
        if api.provider_id != provider.pk:
            raise Conflict(f"API '{item.slug}' cannot change provider by import.", code="api_provider_change")
        api_update(actor=actor, api=api, **f)
    declared = [i for i in changed["service"] if i.fields["consumes"] or i.fields["resources"] or i.action != "create"]
    for item in declared:
        service = get("service", item.slug)
        if "consumes" in item.changed and (item.fields["consumes"] or item.action != "create"):
            apis = list(fetch("api", item.fields["consumes"]).values())
            service_consumes_set(actor=actor, service=service, apis=apis)
        if "resources" in item.changed and (item.fields["resources"] or item.action != "create"):
            resources = list(fetch("resource", item.fields["resources"]).values())
            service_resources_set(actor=actor, service=service, resources=resources)


# --- URL and git locations: creation, refresh runs, webhooks, orphans ----------------------------
def location_webhook_secret(location) -> str:
    """The location's webhook secret: derived from SECRET_KEY and the location's salt, so the
    database alone does not reveal it. Shown once, when the location is created."""
    import hashlib
    import hmac

    from django.conf import settings

    message = f"catalog-location-webhook:{location.pk}:{location.webhook_salt}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def location_webhook_check(location, *, body: bytes, signature: str, gitlab_token: str) -> bool:
    """GitHub style (``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body) or
    GitLab style (``X-Gitlab-Token``: the secret itself); compared in constant time."""
    import hashlib
    import hmac

    if not location.webhook_salt:
        return False
    secret = location_webhook_secret(location)
    if signature:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))
    if gitlab_token:
        return hmac.compare_digest(secret.encode(), gitlab_token.strip().encode("utf-8", "replace"))
    return False


def location_local_ok(actor) -> bool:
    from django.conf import settings

    return bool(settings.CATALOG_GIT_ALLOW_LOCAL or (actor is not None and actor.is_superuser))


def location_create(
    *,
    actor,
    kind: str,
    target: str,
    branch: str = "",
    path_glob: str = "",
    orphan_policy: str = "keep",
    orphan_grace_hours: int | None = None,
    skip_unmappable: bool = False,
):
    """A URL or git location, refreshed at once (a queued run) and then on schedule and by its
    webhook. Returns (location, webhook secret (shown once), run)."""
    import secrets

    from django.conf import settings

    from catalog.descriptors.sources import SourceError, branch_check, git_url_check, glob_check
    from catalog.models import Location
    from core.netpolicy import FetchRefused, check_url

    permissions.require(bool(actor and actor.is_authenticated), actor, "Sign in first.")
    target = (target or "").strip()
    errors: dict = {}
    if kind not in (Location.KIND_URL, Location.KIND_GIT):
        errors["kind"] = ["url or git (upload a file with a body instead)."]
    elif not target or len(target) > 500:
        errors["target"] = ["Give the URL or repository (at most 500 characters)."]
    elif kind == Location.KIND_URL:
        try:
            check_url(target, settings.DISCOVERY_ALLOWED_NETWORKS)
        except FetchRefused as exc:
            errors["target"] = [f"refused: {exc}"]
    else:
        branch = (branch or "").strip() or "main"
        try:
            git_url_check(target, local_ok=location_local_ok(actor))
        except SourceError as exc:
            errors["target"] = [str(exc)]
        try:
            branch = branch_check(branch)
        except SourceError as exc:
            errors["branch"] = [str(exc)]
        try:
            path_glob = glob_check(path_glob)
        except SourceError as exc:
            errors["path_glob"] = [str(exc)]
    if orphan_policy not in (Location.ORPHAN_KEEP, Location.ORPHAN_REMOVE):
        errors["orphan_policy"] = ["keep or remove."]
    grace = settings.CATALOG_ORPHAN_GRACE_HOURS if orphan_grace_hours is None else orphan_grace_hours
    if not isinstance(grace, int) or not 0 <= grace <= 24 * 365:
        errors["orphan_grace_hours"] = ["Hours from 0 to 8760."]
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), fields=errors)
    with transaction.atomic():
        if Location.objects.filter(target=target).exists():
            raise Conflict(f"A location '{target[:100]}' exists already.", code="location_exists")
        location = Location(
            kind=kind,
            target=target,
            branch=branch if kind == Location.KIND_GIT else "",
            path_glob=path_glob if kind == Location.KIND_GIT else "",
            orphan_policy=orphan_policy,
            orphan_grace_hours=grace,
            skip_unmappable=bool(skip_unmappable),
            webhook_salt=secrets.token_hex(16),
            created_by=actor,
        )
        validated_save(location)
        audit_record(actor=actor, action="location.create", obj=location, after={"kind": kind, "target": target})
        run = _location_run_queue(location, trigger="api", requested_by=actor.get_username())
    return location, location_webhook_secret(location), run


def location_may_refresh(actor, location) -> bool:
    return bool(actor and actor.is_authenticated and (actor.is_superuser or (location.created_by_id == actor.pk)))


def location_refresh(*, actor, location, trigger: str = "manual"):
    """Queue a refresh run. ``actor`` None is the system (beat, a verified webhook); people must
    be the location's creator or a superuser."""
    if actor is not None:
        permissions.require(
            location_may_refresh(actor, location),
            actor,
            "Only the location's creator and superusers refresh it; push to its webhook instead.",
        )
    if location.kind == location.KIND_UPLOAD:
        raise Conflict("An uploaded file is refreshed by uploading it again.", code="location_kind")
    with transaction.atomic():
        return _location_run_queue(location, trigger=trigger, requested_by=actor.get_username() if actor else "")


def _location_run_queue(location, *, trigger: str, requested_by: str):
    """A queued run, sent to a worker once committed; a run already queued is reused."""
    from catalog.models import LocationRun
    from catalog.tasks import location_refresh_task
    from core.queue import enqueue

    pending = LocationRun.objects.filter(location=location, status="queued").first()
    if pending is not None:
        return pending
    run = LocationRun.objects.create(location=location, trigger=trigger, requested_by=requested_by[:150])
    transaction.on_commit(lambda: enqueue(location_refresh_task, run.pk))
    return run


def location_refresh_run(run_id: int):
    """The worker's side of a run: fetch the location, plan every file together, apply all or
    nothing (as the location's creator), record per-file results. A run whose files and plan are
    unchanged writes nothing to the catalog (only the run record)."""
    from django.utils import timezone

    from catalog.descriptors.plan import plan_files
    from catalog.descriptors.sources import SourceError, fetch_location
    from catalog.models import LocationRun

    run = LocationRun.objects.select_related("location", "location__created_by").filter(pk=run_id).first()
    if run is None or run.status != "queued":
        return run
    location = run.location
    LocationRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    run.status = "running"
    actor = location.created_by
    try:
        if actor is None or not actor.is_active:
            raise SourceError("The location's creator is gone or inactive; create the location again.")
        with fetch_location(
            location.kind, location.target, location.branch, location.path_glob, local_ok=location_local_ok(actor)
        ) as fetched:
            LocationRun.objects.filter(pk=run.pk).update(total=len(fetched.files), revision=fetched.revision[:64])
            plan = plan_files(fetched.files, location=location.target, skip_unmappable=location.skip_unmappable)
        per_file = {name: {"file": name, "entities": 0, "skipped": 0, "errors": 0} for name, _, _ in fetched.files}
        for item in plan.items:
            per_file.setdefault(item.entity.file, {"file": item.entity.file, "entities": 0, "skipped": 0, "errors": 0})
            per_file[item.entity.file]["entities"] += 1
        for skip in plan.skipped:
            per_file.get(skip["file"], {}).update(skipped=per_file.get(skip["file"], {}).get("skipped", 0) + 1)
        for problem in plan.problems:
            per_file.get(problem.file, {}).update(errors=per_file.get(problem.file, {}).get("errors", 0) + 1)
        for name in fetched.ignored:
            per_file[name] = {"file": name, "entities": 0, "skipped": 0, "errors": 0, "note": "no apiVersion: not read"}
        result = {
            "files": list(per_file.values())[:2000],
            "summary": plan.summary(),
            "errors": [p.as_dict() for p in plan.problems[:500]],
            "skipped": plan.skipped[:2000],
            "revision": fetched.revision[:64],
            "total": len(fetched.files),
            "done": len(fetched.files),
        }
        if not plan.ok:
            status, error = "failed", f"{len(plan.problems)} error(s) in the descriptors; nothing was changed."
        elif not fetched.files:
            status, error = "failed", "No descriptor file matched; nothing was changed."
        else:
            with transaction.atomic():
                current = type(location).objects.select_for_update().get(pk=location.pk)
                unchanged = not plan.orphans and all(i.action == "unchanged" for i in plan.items)
                if unchanged and current.digest == fetched.digest:
                    status, error = "unchanged", ""
                else:
                    current.revision, current.digest = fetched.revision[:64], fetched.digest
                    current.imported_at = timezone.now()
                    current.save(update_fields=["revision", "digest", "imported_at"])
                    _location_apply(actor, current, plan)
                    status, error = "succeeded", ""
    except SourceError as exc:
        result, status, error = {}, "failed", str(exc)[:2000]
    except Exception as exc:  # a service refusing (limits raced, permissions): nothing was written
        from core.errors import DomainError

        if not isinstance(exc, DomainError):
            LocationRun.objects.filter(pk=run.pk).update(
                status="failed",
                error=f"internal error ({type(exc).__name__}); nothing was changed",
                finished_at=timezone.now(),
            )
            raise
        result, status, error = {}, "failed", f"{exc.detail} (nothing was changed)"[:2000]
    # the location's row is not written: its last run is the schedule's clock
    LocationRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=timezone.now(), **result)
    run.refresh_from_db()
    return run


def locations_refresh_due() -> int:
    """Beat: queue a run for each URL or git location not refreshed for CATALOG_REFRESH_MINUTES."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Max, Q
    from django.utils import timezone

    from catalog.models import Location

    due = timezone.now() - timedelta(minutes=settings.CATALOG_REFRESH_MINUTES)
    count = 0
    locations = Location.objects.exclude(kind=Location.KIND_UPLOAD).annotate(last_run=Max("runs__created_at"))
    for location in locations.filter(Q(last_run=None) | Q(last_run__lte=due)):
        with transaction.atomic():
            _location_run_queue(location, trigger="schedule", requested_by="")
        count += 1
    return count


ORPHAN_REMOVAL_ORDER = ("api", "service", "resource", "system", "domain", "team")


def orphans_sweep(*, now=None) -> dict:
    """Beat: delete the orphans of locations whose policy is ``remove`` once their grace period
    is over, through the services (as the location's creator), APIs first and teams last. Orgs
    and users are never removed (people may belong elsewhere). An orphan a service refuses to
    delete (still in use, 409) stays orphaned and is tried again next time."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog.models import Location, ManagedEntity
    from core.errors import DomainError
    from teams.services import team_delete

    now = now or timezone.now()
    removed, refused = 0, []
    deleters = {
        "api": (Api, "api", api_delete),
        "service": (Service, "service", service_delete),
        "resource": (Resource, "obj", functools.partial(owned_delete, "resource")),
        "system": (System, "obj", functools.partial(owned_delete, "system")),
        "domain": (Domain, "obj", functools.partial(owned_delete, "domain")),
        "team": (Team, "team", team_delete),
    }
    for location in Location.objects.filter(orphan_policy=Location.ORPHAN_REMOVE).select_related("created_by"):
        cutoff = now - timedelta(hours=location.orphan_grace_hours)
        rows = list(ManagedEntity.objects.filter(location=location, orphaned_at__lte=cutoff, kind__in=deleters))
        rows.sort(key=lambda m: ORPHAN_REMOVAL_ORDER.index(m.kind))
        actor = location.created_by
        for row in rows:
            model, argument, delete = deleters[row.kind]
            obj = model.objects.filter(slug=row.slug).first()
            try:
                if obj is not None:
                    if actor is None:
                        raise Conflict("the location's creator is gone", code="location_actor_gone")
                    delete(actor=actor, **{argument: obj})
                row.delete()
                removed += 1
            except DomainError as exc:
                refused.append({"kind": row.kind, "slug": row.slug, "reason": exc.detail})
    return {"removed": removed, "refused": refused}
