"""Reads of services and APIs. Every list is built so its SQL query count does not grow
with page size."""

from datetime import datetime

from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from catalog.models import Api, ApiKey, Domain, Location, LocationRun, ManagedEntity, Resource, Service, System
from core import observed as core_observed
from core.models import AuditEvent
from core.search import SLUG_OR_NAME, contains

SERVICE_SEARCH_FIELDS = (*SLUG_OR_NAME, "description")  # the service list's ``q`` also reads descriptions
API_LISTED = ("id", "provider_id", "slug", "name", "kind", "version", "deprecated_at")  # an API in a page's list


def service_list(*, q: str = "", api_count: bool = False) -> QuerySet[Service]:
    """Services with owner, org and system joined. ``api_count`` annotates each with its number
    of APIs (the portal's list shows and sorts by it): a GROUP BY over every matching service
    before the page is cut, so only the list that shows it asks for it (at 10,000 services it
    was two thirds of the REST list's time)."""
    qs = Service.objects.select_related("team", "team__org", "system")
    if api_count:
        qs = qs.annotate(api_count=Count("apis", distinct=True))
    return contains(qs, q, SERVICE_SEARCH_FIELDS)


# A service row of the REST list: its columns and the slugs of its owner, org and system.
SERVICE_ROW_FIELDS = (
    "id",
    "slug",
    "name",
    "team__slug",
    "team__org__slug",
    "system__slug",
    "description",
    "tier",
    "lifecycle",
    "repository_url",
    "base_url",
    "aliases",
    "metrics_path",
    "health_path",
    "crawl_enabled",
    "created_at",
    "updated_at",
)


def service_rows() -> QuerySet:
    """The REST service list as dicts (``SERVICE_ROW_FIELDS``), not model instances: one
    indexed read per page, and no Service, Team and Org object built per row."""
    return Service.objects.values(*SERVICE_ROW_FIELDS)


def service_count() -> int:
    return Service.objects.count()


def catalog_counts() -> dict[str, int]:
    return {"services": Service.objects.count(), "apis": Api.objects.count()}


def service_get(*, slug: str) -> Service:
    return service_list().prefetch_related("apis", "consumes").get(slug=slug)


def service_page(*, slug: str) -> Service | None:
    """The service page's object: owner, org and system joined; its APIs and declared
    consumption with only the columns the page shows (no specs, no per-row counts)."""
    listed = Api.objects.only(*API_LISTED)
    return (
        Service.objects.select_related("team", "team__org", "system")
        .prefetch_related(Prefetch("apis", queryset=listed), Prefetch("consumes", queryset=listed))
        .filter(slug=slug)
        .first()
    )


def api_list(*, q: str = "") -> QuerySet[Api]:
    qs = Api.objects.select_related("provider", "provider__team", "provider__team__org", "successor")
    return contains(qs, q)


def audit_list(*, user) -> QuerySet[AuditEvent]:
    """Superusers read every event; org admins the events of the orgs they administer;
    everyone else none."""
    qs = AuditEvent.objects.select_related("actor", "org")
    if user is not None and user.is_authenticated and user.is_superuser:
        return qs
    if user is None or not user.is_authenticated:
        return qs.none()
    return qs.filter(org_id__in=user.administered_orgs.values("pk"))


def key_list_for(*, user) -> QuerySet:
    """Keys whose metadata the user may see: the provider's and the consumer's teams, their
    orgs' admins, superusers. Never the secret (only its hash is stored)."""
    qs = ApiKey.objects.select_related(
        "api", "api__provider", "api__provider__team", "consumer", "consumer__team", "created_by", "revoked_by"
    )
    if user.is_superuser:
        return qs
    teams = list(user.memberships.values_list("team_id", flat=True))
    orgs = list(user.administered_orgs.values_list("pk", flat=True))
    return qs.filter(
        Q(api__provider__team_id__in=teams)
        | Q(consumer__team_id__in=teams)
        | Q(api__provider__team__org_id__in=orgs)
        | Q(consumer__team__org_id__in=orgs)
    )


def keys_in_state(qs: QuerySet, state: str, *, at: datetime | None = None) -> QuerySet:
    """``qs`` narrowed to keys in ``state`` at ``at`` (now), by ApiKey.state_of's rule as a query."""
    now = at or timezone.now()
    live = Q(status=ApiKey.STATUS_ACTIVE, revoked_at__isnull=True)
    return qs.filter(
        {
            ApiKey.STATE_PENDING: Q(status=ApiKey.STATUS_PENDING),
            ApiKey.STATE_REJECTED: Q(status=ApiKey.STATUS_REJECTED),
            ApiKey.STATE_REVOKED: Q(status=ApiKey.STATUS_ACTIVE, revoked_at__isnull=False),
            ApiKey.STATE_EXPIRED: live & Q(expires_at__lte=now),
            ApiKey.STATE_ACTIVE: live & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)),
        }[state]
    )


def key_search(*, user, q: str = "", state: str = "") -> QuerySet:
    """The key list: keys the user may see, whose name, key id, API or consumer contains ``q``,
    in ``state`` when given (one of ApiKey.STATES), newest first."""
    qs = key_list_for(user=user)
    q = q.strip()[:100]
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(key_id__icontains=q)
            | Q(api__slug__icontains=q)
            | Q(consumer__slug__icontains=q)
            | Q(consumer__team__slug__icontains=q)
        )
    if state in ApiKey.STATES:
        qs = keys_in_state(qs, state)
    return qs.order_by("-created_at", "-pk")


def keys_awaiting_approval(*, user) -> QuerySet:
    """Requested keys this user may approve: their API's provider team is the user's (member or
    lead) or in an org they administer; every one for superusers. Oldest request first."""
    qs = key_list_for(user=user).filter(status=ApiKey.STATUS_PENDING)
    if not user.is_superuser:
        teams = list(user.memberships.values_list("team_id", flat=True))
        orgs = list(user.administered_orgs.values_list("pk", flat=True))
        qs = qs.filter(Q(api__provider__team_id__in=teams) | Q(api__provider__team__org_id__in=orgs))
    return qs.order_by("created_at", "pk")


def key_revoke_impact(*, key) -> dict:
    """Who breaks if this key goes: its consumer, how recently it used the key (``never_used``
    when it never was), the other active keys the consumer holds for the same API (which keep
    working), and the observed traffic from the consumer to the provider (None when the graph
    cannot tell)."""
    observed = core_observed.calls(key.consumer.slug, key.api.provider.slug)
    others = keys_in_state(ApiKey.objects.filter(api_id=key.api_id, consumer_id=key.consumer_id), "active")
    return {
        "consumer": key.consumer.slug,
        "consumer_team": key.consumer.team.slug,
        "last_used_at": key.last_used_at,
        "usage_count": key.usage_count,
        "never_used": key.last_used_at is None and not key.usage_count,
        "other_active_keys": others.exclude(pk=key.pk).count(),
        "observed_calls": observed,
    }


def catalog_search(*, q: str, limit: int = 8) -> list[dict]:
    """Teams, services and APIs whose slug or name contains ``q`` (portal search, GraphQL)."""
    from teams.models import Team

    q = q.strip()[:100]
    if not q:
        return []
    hits = []
    for kind, qs in (
        ("team", contains(Team.objects.all(), q)),
        ("service", contains(Service.objects.all(), q)),
        ("api", contains(Api.objects.all(), q)),
    ):
        hits += [
            {"kind": kind, "slug": o.slug, "name": o.name, "url": o.get_absolute_url()}
            for o in qs.order_by("slug")[:limit]
        ]
    return hits


# --- Reads for the graph (its projection and discovery), as plain rows -------------------
def _projection_queryset():
    return Service.objects.select_related("team", "team__org", "system").prefetch_related(
        "consumes", Prefetch("keys", queryset=ApiKey.objects.select_related("api"))
    )


def _projection_rows(services: list[Service]) -> dict[str, list[dict]]:
    """Services, the APIs they provide and what they consume (explicit declarations plus
    every API the service holds a usable key for)."""
    at = timezone.now()
    apis = Api.objects.filter(provider__in=services).select_related("provider")
    consumes = []
    for s in services:
        slugs = {a.slug for a in s.consumes.all()} | {
            k.api.slug for k in s.keys.all() if k.state_at(at) == k.STATE_ACTIVE
        }
        consumes.append({"slug": s.slug, "apis": sorted(slugs)})
    return {
        "services": [
            {
                "slug": s.slug,
                "name": s.name,
                "tier": s.tier,
                "lifecycle": s.lifecycle,
                "team": s.team.slug,
                "org": s.team.org.slug,
                "system": s.system.slug if s.system_id else None,
            }
            for s in services
        ],
        "apis": [{"slug": a.slug, "name": a.name, "kind": a.kind, "provider": a.provider.slug} for a in apis],
        "consumes": consumes,
    }


def service_projection(*, slug: str | None = None, api: str | None = None) -> dict[str, list[dict]] | None:
    """The projection rows of one service (by its slug, or by one of the APIs it provides);
    ``None`` when there is no such service or API."""
    qs = _projection_queryset()
    services = list(qs.filter(slug=slug) if api is None else qs.filter(apis__slug=api))
    return _projection_rows(services) if services else None


def service_projection_batches(*, batch: int = 2000):
    """Every service's projection rows, ``batch`` services at a time: yields (rows, total)."""
    qs = _projection_queryset().order_by("pk")
    total = qs.count()
    for start in range(0, total, batch):
        yield _projection_rows(list(qs[start : start + batch])), total


def crawl_targets() -> list[dict]:
    """The services discovery crawls: enabled, with a base URL."""
    return list(
        Service.objects.filter(crawl_enabled=True)
        .exclude(base_url="")
        .order_by("pk")
        .values("id", "slug", "base_url", "metrics_path", "health_path")
    )


def service_match_rows() -> list[tuple]:
    """What discovery matches observed names and addresses against: (slug, name, base URL, aliases)."""
    return list(Service.objects.values_list("slug", "name", "base_url", "aliases"))


def key_usage_totals(*, used_since=None) -> list[tuple[str, str, int]]:
    """Gateway uses flushed into API keys, summed per (consumer slug, provider slug) over all
    the pair's keys; only pairs with a key used since ``used_since`` (if given)."""
    totals = ApiKey.objects.values("consumer__slug", "api__provider__slug").annotate(calls=Sum("usage_count"))
    rows = [(t["consumer__slug"], t["api__provider__slug"], int(t["calls"])) for t in totals if t["calls"]]
    if used_since is None:
        return rows
    recent = set(
        ApiKey.objects.filter(last_used_at__gte=used_since).values_list("consumer__slug", "api__provider__slug")
    )
    return [row for row in rows if row[:2] in recent]


# --- Systems, domains, resources and provenance --------------------------------------------
def domain_list(*, q: str = "") -> QuerySet[Domain]:
    qs = Domain.objects.select_related("team", "team__org", "parent").annotate(
        system_count=Count("systems", distinct=True)
    )
    return contains(qs, q)


def domain_get(*, slug: str) -> Domain:
    return domain_list().prefetch_related("systems", "subdomains").get(slug=slug)


def system_list(*, q: str = "") -> QuerySet[System]:
    qs = System.objects.select_related("team", "team__org", "domain").annotate(
        service_count=Count("services", distinct=True)
    )
    return contains(qs, q)


def system_labels(*, slugs) -> dict[str, tuple[str, str]]:
    """Each named system's (name, owning team slug), for the graph grouped by system."""
    return {
        slug: (name, team)
        for slug, name, team in System.objects.filter(slug__in=list(slugs)).values_list("slug", "name", "team__slug")
    }


def system_get(*, slug: str) -> System:
    return system_list().prefetch_related("services", "resources").get(slug=slug)


def resource_list(*, q: str = "") -> QuerySet[Resource]:
    qs = Resource.objects.select_related("team", "team__org", "system")
    return contains(qs, q)


def resource_get(*, slug: str) -> Resource:
    return resource_list().prefetch_related("dependents").get(slug=slug)


def managed_entity(*, kind: str, slug: str) -> ManagedEntity | None:
    """The location that manages a catalog object, with its kept metadata; None if unmanaged."""
    return ManagedEntity.objects.select_related("location").filter(kind=kind, slug=slug).first()


def catalog_plan(*, files: list, location: str | None = None):
    """What importing these descriptor files (name, content, directory or None) would change:
    a ``catalog.descriptors.plan.Plan`` with every problem, the diff per kind and the orphans.
    Reads only."""
    from catalog.descriptors.plan import plan_files

    return plan_files(files, location=location)


def location_list() -> QuerySet:
    """Descriptor locations with how many entities each manages and how many are orphaned."""
    return Location.objects.annotate(
        entity_count=Count("entities", distinct=True),
        orphan_count=Count("entities", filter=Q(entities__orphaned_at__isnull=False), distinct=True),
        refreshed_at=Max("runs__created_at"),
    ).order_by("-id")


def location_run_list(*, location=None) -> QuerySet:
    """Refresh runs, newest first (one location's with ``location``)."""
    runs = LocationRun.objects.select_related("location").order_by("-id")
    return runs.filter(location=location) if location is not None else runs


def location_run_progress(run) -> int:
    if run.finished_at:
        return 100
    return int(100 * run.done / run.total) if run.total else 0


def catalog_export(*, org: str | None = None, user=None) -> str:
    """The catalog (or one org) as Backstage descriptors; users' e-mail addresses only for superusers."""
    from catalog.descriptors.export import export_backstage

    return export_backstage(org=org, include_emails=bool(user is not None and user.is_superuser))


def key_quota_usage(keys) -> dict[int, dict]:
    """For each key with a daily quota: {key pk: {"used": requests today (UTC), "percent"}}, read
    from the gateway's counters in Redis in one round trip; empty when Redis cannot be asked."""
    import time

    from catalog.gateway import quotas

    with_quota = [k for k in keys if k.daily_quota and k.key_id]
    used = quotas.used_today_many([k.key_id for k in with_quota], now=time.time())
    if used is None:
        return {}
    return {
        k.pk: {"used": used[k.key_id], "percent": min(100, round(100 * used[k.key_id] / k.daily_quota))}
        for k in with_quota
    }


def deprecated_apis_consumed(service) -> list:
    """Deprecated APIs this service declares it consumes or holds an active key for, soonest sunset
    first. ``service`` comes from service_page: its declared consumption is already loaded, so one
    query reads the rest (the page shell's cost)."""
    declared = [a.pk for a in service.consumes.all() if a.deprecated_at is not None]
    held = keys_in_state(
        ApiKey.objects.filter(consumer_id=service.pk, api__deprecated_at__isnull=False), ApiKey.STATE_ACTIVE
    ).values("api_id")
    return list(
        Api.objects.filter(Q(pk__in=declared) | Q(pk__in=held))
        .select_related("successor", "provider")
        .only(*API_LISTED, "sunset_at", "successor__slug", "provider__slug")
        .order_by("sunset_at", "slug")
    )
