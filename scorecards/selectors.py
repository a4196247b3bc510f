"""Reads: the facts every built-in check needs, for a set of services at once (a fixed number of
SQL queries plus one graph read per 2,000 services, whatever the number of services or checks),
and scorecards, results, roll-ups and trends for REST, GraphQL and the portal."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Api, ApiKey, Service
from changes.models import EdgeHourly, EdgeSample
from core.errors import NotFound
from graph import selectors as graph_selectors
from scorecards.checks import WINDOWS
from scorecards.models import Scorecard, ScorecardResult, ScorecardSnapshot
from teams.models import Team

FEW = 5000  # up to this many slugs are passed as a list; beyond, the whole table is read


@dataclass(slots=True)
class ApiFact:
    slug: str
    provider: str
    has_spec: bool
    deprecated_at: datetime | None
    sunset_at: datetime | None


@dataclass(slots=True)
class EdgeFact:
    dst: str
    tier: int | None
    stale: bool
    service: bool


@dataclass(slots=True)
class KeyFact:
    label: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(slots=True)
class TeamFact:
    services: int
    members: int
    max_services: int
    max_members: int


@dataclass(slots=True)
class Facts:
    id: int
    slug: str
    team: str
    team_id: int
    org: str
    org_id: int
    tier: int
    oncall: str
    apis: list = field(default_factory=list)
    declared_providers: set = field(default_factory=set)
    consumed: list = field(default_factory=list)  # ApiFact: declared consumption and active keys
    out_edges: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    in_rate: float = 0.0
    in_errors: float = 0.0
    in_weighted: float = 0.0
    in_p95: float | None = None
    last_seen: int | None = None


@dataclass
class Context:
    now: datetime
    providers: dict  # provider slug -> [ApiFact]
    teams: dict  # team slug -> TeamFact
    facts: dict  # service slug -> Facts
    _windows: dict = field(default_factory=dict)

    @property
    def now_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    def inbound_errors(self, slug: str, window: str) -> tuple[float | None, float]:
        """(error rate weighted by calls or None without calls, calls/min) of a service's inbound
        edges: the live edges now, or the edge history over the window (read once per window
        for every service of the run)."""
        if window == "current":
            f = self.facts[slug]
            return (f.in_errors / f.in_weighted if f.in_weighted > 0 else None), f.in_rate
        if window not in self._windows:
            self._windows[window] = _window_errors(list(self.facts), WINDOWS[window], self.now)
        errors, weighted, samples = self._windows[window].get(slug, (0.0, 0.0, 0))
        return (errors / weighted if weighted > 0 else None), (weighted / samples if samples else 0.0)


def _window_errors(slugs: list[str], seconds: int, now: datetime) -> dict[str, tuple[float, float, int]]:
    """Per callee: the rate-weighted error sum, the rate sum and the sample count of its inbound
    edges' history in the window (raw samples up to EDGE_HISTORY_RAW_HOURS, else hourly rows)."""
    since = int(now.timestamp()) - seconds
    raw = seconds <= settings.EDGE_HISTORY_RAW_HOURS * 3600
    model, column = (EdgeSample, "at") if raw else (EdgeHourly, "hour")
    qs = model.objects.filter(**{f"{column}__gte": since}, error_rate__isnull=False, rate__isnull=False)
    if len(slugs) <= FEW:
        qs = qs.filter(series__dst__in=slugs)
    rows = qs.values("series__dst").annotate(
        errors=Sum(F("rate") * F("error_rate")), weighted=Sum("rate"), samples=Count("id")
    )
    return {r["series__dst"]: (r["errors"] or 0.0, r["weighted"] or 0.0, r["samples"]) for r in rows}


def services_for(scorecard: Scorecard) -> QuerySet:
    """The services a scorecard applies to (its filter)."""
    qs = Service.objects.all()
    flt = scorecard.filter or {}
    if flt.get("org"):
        qs = qs.filter(team__org__slug=flt["org"])
    if flt.get("team"):
        qs = qs.filter(team__slug=flt["team"])
    if flt.get("system"):
        qs = qs.filter(system__slug=flt["system"])
    if flt.get("lifecycle"):
        qs = qs.filter(lifecycle=flt["lifecycle"])
    if flt.get("tier"):
        qs = qs.filter(tier__in=flt["tier"])
    return qs


def facts_for(services: QuerySet, *, now: datetime | None = None) -> Context:
    """Every fact the built-in checks read, for the services of ``services``, in bulk."""
    now = now or timezone.now()
    rows = list(
        services.values(
            "id", "slug", "tier", "team_id", "team__slug", "team__oncall_contact", "team__org_id", "team__org__slug"
        )
    )
    facts = {
        r["slug"]: Facts(
            id=r["id"],
            slug=r["slug"],
            team=r["team__slug"],
            team_id=r["team_id"],
            org=r["team__org__slug"],
            org_id=r["team__org_id"],
            tier=r["tier"],
            oncall=r["team__oncall_contact"] or "",
        )
        for r in rows
    }
    by_id = {f.id: f for f in facts.values()}
    few = len(by_id) <= FEW
    ids = list(by_id) if few else services.values("id")

    def api_fact(r, prefix=""):
        return ApiFact(
            r[prefix + "slug"],
            r[prefix + "provider__slug"],
            r.get(prefix + "has_spec", True),
            r[prefix + "deprecated_at"],
            r[prefix + "sunset_at"],
        )

    # Declared consumption, and the APIs of active keys held.
    through = Service.consumes.through.objects.filter(service_id__in=ids).values(
        "service_id", "api__slug", "api__provider__slug", "api__deprecated_at", "api__sunset_at"
    )
    for r in through:
        f = by_id[r["service_id"]]
        api = api_fact(r, "api__")
        f.consumed.append(api)
        if api.provider != f.slug:
            f.declared_providers.add(api.provider)
    keys = catalog_selectors.keys_in_state(
        ApiKey.objects.filter(consumer_id__in=ids), ApiKey.STATE_ACTIVE, at=now
    ).values(
        "consumer_id",
        "name",
        "key_id",
        "created_at",
        "last_used_at",
        "api__slug",
        "api__provider__slug",
        "api__deprecated_at",
        "api__sunset_at",
    )
    for r in keys:
        f = by_id[r["consumer_id"]]
        f.keys.append(KeyFact(f"{r['key_id']} ({r['api__slug']})", r["created_at"], r["last_used_at"]))
        if r["api__deprecated_at"] is not None:
            f.consumed.append(api_fact(r, "api__"))

    # The graph: calls out, inbound sums, last seen.
    graph = graph_selectors.scorecard_facts(slugs=list(facts))  # GraphUnavailable: nothing is written
    callees = set()
    for slug, g in graph.items():
        f = facts[slug]
        f.out_edges = [EdgeFact(dst, None, stale, is_service) for dst, stale, is_service in g["out"]]
        callees.update(e.dst for e in f.out_edges if e.service)
        f.in_rate, f.in_errors, f.in_weighted = g["in_rate"] or 0.0, g["in_errors"] or 0.0, g["in_weighted"] or 0.0
        f.in_p95 = g["in_p95"]
        seen = [x for x in (g["out_last"], g["in_last"]) if x is not None]
        f.last_seen = max(seen) if seen else None

    # Callees' tiers from the catalog (the graph's copy may lag a tier change by a projection task).
    if callees:
        tiers = Service.objects.all() if len(callees) > FEW else Service.objects.filter(slug__in=callees)
        tier_of = dict(tiers.values_list("slug", "tier"))
        for f in facts.values():
            for e in f.out_edges:
                if e.service:
                    e.tier = tier_of.get(e.dst, e.tier)

    # APIs of the services and of everything they call (drift, deprecated providers).
    apis = Api.objects.annotate(has_spec=ExpressionWrapper(Q(spec__isnull=False), output_field=BooleanField()))
    wanted = set(facts) | callees
    if len(wanted) <= FEW:
        apis = apis.filter(provider__slug__in=wanted)
    providers = defaultdict(list)
    for r in apis.values("slug", "provider__slug", "has_spec", "deprecated_at", "sunset_at"):
        providers[r["provider__slug"]].append(api_fact(r))
    for slug, f in facts.items():
        f.apis = providers.get(slug, [])

    # Teams: counts against limits.
    team_ids = {f.team_id for f in facts.values()}
    teams = {}
    team_rows = Team.objects.filter(id__in=team_ids if len(team_ids) <= FEW else Team.objects.values("id"))
    services_count = dict(
        Service.objects.filter(team_id__in=team_rows.values("id"))
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    members_count = dict(
        Team.memberships.rel.related_model.objects.filter(team_id__in=team_rows.values("id"))
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    for t in team_rows.select_related("org").only(
        "id", "slug", "max_members", "max_services", "org__max_members_per_team", "org__max_services_per_team"
    ):
        teams[t.slug] = TeamFact(
            services_count.get(t.id, 0), members_count.get(t.id, 0), t.effective_max_services, t.effective_max_members
        )
    return Context(now=now, providers=dict(providers), teams=teams, facts=facts)


# --- Reads for the interfaces ---------------------------------------------------------------
def scorecard_list(*, enabled_only: bool = False) -> QuerySet:
    qs = Scorecard.objects.prefetch_related("checks").order_by("slug")
    return qs.filter(enabled=True) if enabled_only else qs


def scorecard_get(*, slug: str) -> Scorecard:
    scorecard = scorecard_list().filter(slug=slug).first()
    if scorecard is None:
        raise NotFound(f"No scorecard '{slug[:64]}'.")
    return scorecard


def results_for_service(*, slug: str) -> list[ScorecardResult]:
    if not Service.objects.filter(slug=slug).exists():
        raise NotFound(f"No service '{slug[:64]}'.")
    return list(
        ScorecardResult.objects.filter(service__slug=slug, scorecard__enabled=True)
        .select_related("scorecard")
        .order_by("scorecard__slug")
    )


def results_for_scorecard(*, scorecard: Scorecard) -> QuerySet:
    return (
        ScorecardResult.objects.filter(scorecard=scorecard)
        .select_related("service", "service__team")
        .order_by("level_index", "service__slug")
    )


def rollup(*, scorecard: Scorecard, by: str = "team", org: str | None = None, team: str | None = None) -> list[dict]:
    """Services at each level (index 0: none), per team or per org, from the current results."""
    group = {"team": "service__team__slug", "org": "service__team__org__slug"}[by]
    qs = ScorecardResult.objects.filter(scorecard=scorecard)
    if org:
        qs = qs.filter(service__team__org__slug=org)
    if team:
        qs = qs.filter(service__team__slug=team)
    counts: dict[str, list[int]] = {}
    for r in qs.values(group, "level_index").annotate(n=Count("id")).order_by(group):
        row = counts.setdefault(r[group], [0] * (len(scorecard.levels) + 1))
        if r["level_index"] < len(row):
            row[r["level_index"]] += r["n"]
    return [{"key": k, "counts": v, "services": sum(v)} for k, v in counts.items()]


def rollups_for_team(*, team_slug: str) -> list[dict]:
    """Every enabled scorecard's level counts for one team (the team page)."""
    if not Team.objects.filter(slug=team_slug).exists():
        raise NotFound(f"No team '{team_slug[:64]}'.")
    out = []
    for scorecard in scorecard_list(enabled_only=True):
        rows = rollup(scorecard=scorecard, by="team", team=team_slug)
        if rows:
            pairs = list(zip(["none", *scorecard.levels], rows[0]["counts"], strict=False))
            out.append({"scorecard": scorecard, "pairs": pairs, "services": rows[0]["services"]})
    return out


def trend(*, scorecard: Scorecard, scope: str = "all", key: str = "", days: int = 90) -> list[dict]:
    """The daily level counts of the scorecard as a whole, an org or a team, oldest first."""
    if scope not in ScorecardSnapshot.SCOPES:
        raise NotFound(f"No scope '{scope[:16]}'.")
    since = (timezone.now() - timedelta(days=days)).date()
    rows = ScorecardSnapshot.objects.filter(scorecard=scorecard, scope=scope, key=key, day__gte=since).order_by("day")
    return [{"day": r.day, "counts": r.counts} for r in rows]
