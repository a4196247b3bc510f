"""Reads of the dependency graph (Neo4j) and of crawl runs (Django). Each public
function runs one Cypher query, whatever the size of its answer. Their answers are the
types of ``graph/results.py``, which the REST serializers and GraphQL types describe."""

from __future__ import annotations

import re
import time

from django.core.cache import cache
from django.db.models import Q, QuerySet
from redis.exceptions import RedisError

from catalog import selectors as catalog_selectors
from core.errors import DomainError, InvalidInput, ServiceUnavailable
from graph import cypher, db
from graph.models import CrawlResult, CrawlRun, MetricsBackend
from graph.results import (
    BlastRadius,
    CallEdge,
    Coupling,
    Dependency,
    Drift,
    ExplorerEdge,
    ExplorerGraph,
    ExplorerNode,
    FleetHealth,
    Graph,
    GraphCounts,
    GraphNode,
    NewestEdge,
    ServiceCall,
    StateEdge,
    SystemEdge,
    SystemGraph,
    SystemGraphNode,
    UnknownEndpoint,
)

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def _depth(depth) -> int:
    try:
        depth = int(depth)
    except (TypeError, ValueError):
        raise InvalidInput("depth must be a whole number.", fields={"depth": ["Must be 1 to 6."]}) from None
    if not 1 <= depth <= cypher.MAX_DEPTH:
        raise InvalidInput(
            f"depth must be 1 to {cypher.MAX_DEPTH}.", fields={"depth": [f"Must be 1 to {cypher.MAX_DEPTH}."]}
        )
    return depth


def dependencies_many(*, slugs: list[str], direction: str = "down", depth=1) -> dict[str, list[Dependency]]:
    """For each service, the services (and unknown endpoints) it calls (``down``) or that
    call it (``up``), each with its shortest distance. One query for the whole list."""
    if direction not in ("down", "up"):
        raise InvalidInput("direction must be 'down' or 'up'.", fields={"direction": ["Use down or up."]})
    out: dict[str, list[Dependency]] = {slug: [] for slug in slugs}
    for r in db.read(cypher.DEPENDENCIES[(direction, _depth(depth))], slugs=list(slugs)):
        found = []
        for line in r["deps"]:
            distance, kind, tier, team, rest = line.split("|", 4)
            if kind == "s":
                slug, _, name = rest.partition("|")
            else:
                slug = name = rest
            found.append(
                {
                    "kind": "service" if kind == "s" else "endpoint",
                    "slug": slug,
                    "name": name or None,
                    "team": team or None,
                    "tier": int(tier) if tier else None,
                    "distance": int(distance),
                }
            )
        found.sort(key=lambda d: (d["distance"], d["slug"]))
        out[r["root"]] = found
    return out


def dependencies(*, slug: str, direction: str = "down", depth=1) -> list[Dependency]:
    return dependencies_many(slugs=[slug], direction=direction, depth=depth)[slug]


def callees_and_callers(*, slug: str, depth=1) -> dict[str, list[Dependency]]:
    """What a service calls (``down``) and what calls it (``up``), to ``depth`` hops."""
    return {
        "down": dependencies(slug=slug, direction="down", depth=depth),
        "up": dependencies(slug=slug, direction="up", depth=depth),
    }


def service_calls(*, slug: str, limit: int = 500) -> dict[str, list[ServiceCall]]:
    """A service's direct call edges with rates and latency: ``out`` (what it calls) and
    ``in`` (who calls it), each ordered by peer."""
    both: dict[str, list[ServiceCall]] = {"out": [], "in": []}
    for r in db.read(cypher.SERVICE_CALLS, slug=slug, limit=limit):
        both[r["direction"]].append({k: r[k] for k in ServiceCall.__annotations__})
    return both


def calls_observed(src: str, dst: str) -> bool | None:
    """Has service ``src`` been seen calling service ``dst``? None while the graph is down
    (core.observed asks this for the apps below graph)."""
    try:
        return any(c["slug"] == src for c in dependencies(slug=dst, direction="up", depth=1))
    except ServiceUnavailable:
        return None


def graph_read(call, default):
    """Run a graph read for a page: ``(value, "")``, or ``(default, reason)`` when the graph
    is unavailable or the request was invalid, so the page still renders and says why."""
    try:
        return call(), ""
    except DomainError as exc:
        return default, exc.detail


_TIERS = {str(t): t for t in range(10)}


_contacts: list = [None, 0.0, {}]  # this process's: teams' version, read at (monotonic), slug -> row
_NO_CONTACT = {"name": "", "oncall": "", "chat": ""}  # a team without a Team node


def _team_contacts(teams: list[str]) -> dict[str, dict]:
    """Name, on-call and chat of these teams (slug -> row). All teams are read once per teams'
    version (set anew only by writes to Team nodes) and kept in this process; without Redis,
    only these."""
    version = db.version(db.TEAMS_VERSION_KEY)
    if version is None:
        rows = db.read_collected(cypher.TEAM_CONTACTS_OF, cypher.TEAM_CONTACT_COLUMNS, slugs=teams)
        return {row["slug"]: row for row in rows}
    kept_version, read_at, kept = _contacts  # one snapshot: another thread may replace it meanwhile
    now = time.monotonic()
    if kept_version != version or now - read_at > GRAPH_CACHE_SECONDS:
        kept = {row["slug"]: row for row in db.read_collected(cypher.TEAM_CONTACTS, cypher.TEAM_CONTACT_COLUMNS)}
        _contacts[:] = [version, now, kept]
    return kept


def blast_radius(*, slug: str) -> BlastRadius:
    """Every service that transitively depends on this one, grouped by owning team with
    the team's on-call contact and the worst (lowest) tier affected."""
    rows = db.read(cypher.BLAST_RADIUS, slug=slug)
    if not rows or not rows[0]["cards"]:
        return {"service": slug, "affected_services": 0, "teams": []}
    # Sorted as strings, "team|tier|slug" cards come grouped by team and, within a team, by
    # tier and slug, as tiers are one digit (1 to 4): one C-level sort instead of a tuple per
    # service (the grouping was most of the Python time at 10,000 affected services).
    cards = sorted(rows[0]["cards"])
    by_team: dict[str, list[dict]] = {}
    resort = set()  # teams with a tier of two digits, which sorts as a string
    for card in cards:
        team, tier, service = card.split("|", 2)
        members = by_team.get(team)
        if members is None:
            members = by_team[team] = []
        number = _TIERS.get(tier)
        if number is None:
            number = int(tier)
            resort.add(team)
        members.append({"slug": service, "tier": number})
    for team in resort:
        by_team[team].sort(key=lambda m: (m["tier"], m["slug"]))
    contacts = _team_contacts(list(by_team))
    groups = []
    for team, members in by_team.items():
        contact = contacts.get(team, _NO_CONTACT)
        groups.append(
            {
                "team": team,
                "team_name": contact["name"] or team,
                "oncall": contact["oncall"],
                "chat": contact["chat"],
                "worst_tier": members[0]["tier"],
                "services": members,
            }
        )
    groups.sort(key=lambda g: (g["worst_tier"], g["team"]))
    return {"service": slug, "affected_services": len(cards), "teams": groups}


def shortest_path(*, src: str, dst: str) -> list[str]:
    rows = db.read(cypher.SHORTEST_PATH, src=src, dst=dst)
    return rows[0]["slugs"] if rows else []


def cycles(*, team: str | None = None, limit: int = 100) -> list[list[str]]:
    """Call cycles (at most ``limit``, each once), those touching ``team``'s services if given;
    the installation's are kept in the cache under the graph's version."""

    def read():
        return [r["cycle"] for r in db.read(cypher.CYCLES, team=team, limit=limit)]

    return _graph_cached(f"cycles:{limit}", read) if team is None else read()


def team_coupling(*, team: str | None = None) -> list[Coupling]:
    return db.read(cypher.TEAM_COUPLING, team=team)


def drift(*, slug: str) -> Drift:
    """Declared but never observed, and observed but not declared (providers with APIs).
    A service not projected yet has neither."""
    rows = db.read(cypher.DRIFT, slug=slug)
    if not rows:
        return {"declared_not_seen": [], "seen_not_declared": []}
    return {
        "declared_not_seen": sorted(rows[0]["declared_not_seen"]),
        "seen_not_declared": sorted(rows[0]["seen_not_declared"]),
    }


SCORECARD_BATCH = 2000  # services per read of scorecard_facts


def scorecard_facts(*, slugs: list[str]) -> dict[str, dict]:
    """What scorecards need from the graph about each service, read in batches of
    SCORECARD_BATCH services per query (never one query per service): ``out`` as
    (callee, stale, is_service) tuples, newest ``out_last``/``in_last`` (epoch ms), and the
    live inbound edges' ``in_rate`` (calls/min), ``in_errors``/``in_weighted`` (rate-weighted
    error sum and the rate it is over) and worst ``in_p95``. A service not in the graph is absent."""
    out: dict[str, dict] = {}
    for batch in db.chunks(list(slugs), SCORECARD_BATCH):
        for row in db.read(cypher.SCORECARD_FACTS, slugs=batch):
            row["out"] = [(line[:-3], line[-2] == "1", line[-1] == "1") for line in row["out"].split("\n") if line]
            out[row["slug"]] = row
    return out


def graph(*, org: str | None = None, team: str | None = None) -> Graph:
    """Nodes and observed call edges, whole or filtered by org/team (edges touching it)."""
    nodes: dict[str, GraphNode] = {r["id"]: r for r in db.read(cypher.GRAPH_NODES, org=org, team=team)}
    edges: list[CallEdge] = []
    for r in db.read(cypher.GRAPH_EDGES, org=org, team=team):
        if r["target"] not in nodes:
            nodes[r["target"]] = {
                "id": r["target"],
                "name": r["target_name"] or r["target"],
                "team": r["target_team"],
                "tier": r["target_tier"],
                "kind": r["target_kind"],
            }
        if r["source"] not in nodes:
            nodes[r["source"]] = {"id": r["source"], "name": r["source"], "team": None, "tier": None, "kind": "service"}
        edges.append({k: r[k] for k in CallEdge.__annotations__})
    return {"nodes": list(nodes.values()), "edges": edges}


MAX_EXPAND = 100


def _expand(expand) -> list[str]:
    slugs = sorted({x for x in (expand or []) if x})
    if len(slugs) > MAX_EXPAND:
        raise InvalidInput(
            f"Expand at most {MAX_EXPAND} systems.", code="too_many", fields={"expand": [f"At most {MAX_EXPAND}."]}
        )
    bad = [x for x in slugs if not _SLUG.fullmatch(x)]
    if bad:
        raise InvalidInput("expand takes system slugs.", fields={"expand": [f"Not a system slug: {bad[0][:64]!r}."]})
    return slugs


def system_graph(*, org: str | None = None, team: str | None = None, expand=()) -> SystemGraph:
    """The graph grouped by system: one node per system (id ``system:<slug>``) for its services,
    and one edge per pair of groups summing the call edges between them (rate summed, error
    rate weighted by rate, worst p95, how many). A service without a system stays itself, as do
    endpoints; a system named in ``expand`` shows its services instead (the explorer's click).
    Calls inside a collapsed system are left out."""
    expand = _expand(expand)
    nodes: dict[str, SystemGraphNode] = {}
    for r in db.read(cypher.GRAPH_SYSTEM_NODES, org=org, team=team, expand=expand):
        nodes[r["id"]] = {k: r[k] for k in SystemGraphNode.__annotations__}
    edges: list[SystemEdge] = []
    for r in db.read(cypher.GRAPH_SYSTEM_EDGES, org=org, team=team, expand=expand):
        for end, info in ((r["source"], r["source_node"]), (r["target"], r["target_node"])):
            if end not in nodes:
                grouped = end.startswith("system:")
                nodes[end] = {
                    "id": end,
                    "kind": "system" if grouped else info["kind"],
                    "name": None if grouped else info["name"] or end,
                    "team": None if grouped else info["team"],
                    "tier": None if grouped else info["tier"],
                    "system": info["system"] if info["kind"] == "service" else None,
                    "services": None,
                }
        weighted = r["weighted_rate"]
        edges.append(
            {
                "source": r["source"],
                "target": r["target"],
                "edges": r["edges"],
                "rate_per_min": r["rate_per_min"],
                "error_rate": r["weighted_errors"] / weighted if weighted else None,
                "p95_ms": r["p95_ms"],
            }
        )
    labels = catalog_selectors.system_labels(slugs={n["system"] for n in nodes.values() if n["kind"] == "system"})
    for n in nodes.values():
        if n["kind"] == "system":
            name, owner = labels.get(n["system"], (n["system"], None))
            n["name"], n["team"] = name, owner
    return {"nodes": list(nodes.values()), "edges": edges}


def unknown_endpoints(*, limit: int = 200) -> list[UnknownEndpoint]:
    return db.read(cypher.UNKNOWN_ENDPOINTS, limit=limit)


def newest_edges(*, limit: int = 10) -> list[NewestEdge]:
    return db.read(cypher.NEWEST_EDGES, limit=limit)


def graph_counts() -> GraphCounts:
    return db.read(cypher.COUNTS)[0]


# An edge "errors" when at least this share of its calls failed (the dashboard's number and list).
ERRORING_EDGE_RATE = 0.01
EDGE_STATES = ("erroring", "stale")


def fleet_health() -> FleetHealth:
    return db.read(cypher.FLEET_HEALTH, error_rate=ERRORING_EDGE_RATE)[0]


def edges_by_state(*, state: str, limit: int = 500) -> list[StateEdge]:
    """The edges behind a fleet-health number: ``erroring`` (worst error rate first) or ``stale``."""
    if state not in EDGE_STATES:
        raise InvalidInput("state must be 'erroring' or 'stale'.", fields={"state": ["Use erroring or stale."]})
    return db.read(cypher.EDGES_BY_STATE[state], error_rate=ERRORING_EDGE_RATE, limit=limit)


def crawl_run_list() -> QuerySet[CrawlRun]:
    return CrawlRun.objects.all()


def crawl_result_list(*, run: CrawlRun) -> QuerySet[CrawlResult]:
    """A run's results, failures first, then by target."""
    return run.results.order_by("ok", "target")


def crawl_progress(run: CrawlRun) -> int:
    """Percent done: live from the workers' counter while running."""
    from graph.services import progress_get

    if run.finished_at:
        return 100
    if not run.total:
        return 0
    return min(100, int(100 * max(run.done, progress_get(run.pk)) / run.total))


def crawl_schedule() -> dict:
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("interval").filter(name="discovery-crawl").first()
    if task is None or task.interval is None:
        return {"every_minutes": None, "enabled": False, "last_run_at": None}
    return {
        "every_minutes": task.interval.every
        * {"seconds": 1, "minutes": 60, "hours": 3600}.get(task.interval.period, 1)
        // 60,
        "enabled": task.enabled,
        "last_run_at": task.last_run_at,
    }


def crawl_history(*, service_id: int, limit: int = 10) -> list[CrawlResult]:
    """A service's latest crawl results, newest run first (the service page's history and health)."""
    return list(CrawlResult.objects.filter(service_id=service_id).select_related("run").order_by("-run_id")[:limit])


# --- Ingestion keys (OTLP push) -----------------------------------------------------------
def ingest_key_list(*, user) -> QuerySet:
    """Ingestion keys whose metadata the user may see: their service's team, its org's admins,
    superusers. Never the secret (only its hash is stored)."""
    from django.db.models import Q

    from graph.models import IngestKey

    qs = IngestKey.objects.select_related("service", "service__team").prefetch_related("may_report_for")
    if user.is_superuser:
        return qs
    teams = list(user.memberships.values_list("team_id", flat=True))
    orgs = list(user.administered_orgs.values_list("pk", flat=True))
    return qs.filter(Q(service__team_id__in=teams) | Q(service__team__org_id__in=orgs))


def ingest_key_record(*, key_id: str) -> dict | None:
    """What the OTLP receiver checks a presented key against: the hash, whether it is
    revoked, and the service names it may report for (its own first)."""
    from graph.models import IngestKey

    key = IngestKey.objects.select_related("service").filter(key_id=key_id).first()
    if key is None:
        return None
    allowed = [key.service.slug, *key.may_report_for.values_list("slug", flat=True)]
    return {"id": key.pk, "secret_hash": key.secret_hash, "revoked": key.revoked, "allowed": allowed}


def metrics_backend_list(*, actor) -> QuerySet:
    """Metrics backends (the central source's endpoints): superusers only, like their writes."""
    from teams import permissions

    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers see metrics backends.")
    return MetricsBackend.objects.all()


# --- The explorer (issue 16): levels of detail, filters, focus, path, find ------------------
EXPLORER_GROUPS = ("org", "team", "system")
EXPLORER_MAX_NODES = 3000  # most nodes of one neighbourhood
EXPLORER_CYCLES = 50  # cycles the flat explorer view marks
GRAPH_CACHE_SECONDS = 300  # reads kept under the graph version (views, cycles); bounded if a bump was lost


def explorer_filters(params) -> dict:
    """The explorer's filters from query parameters, checked: ``org``, ``team``, ``system`` (slugs),
    ``tier`` (1-4), ``errors`` (only call edges with at least this error %, 0-100) and ``isolated``
    (``hide``: leave out nodes with no edge). Bad values are a 400."""
    out = {}
    for key in ("org", "team", "system"):
        value = (params.get(key) or "").strip()
        if value and not _SLUG.fullmatch(value):
            raise InvalidInput(f"{key} takes a slug.", fields={key: ["Not a slug."]})
        out[key] = value or None
    tier = params.get("tier") or ""
    if tier and tier not in ("1", "2", "3", "4"):
        raise InvalidInput("tier must be 1 to 4.", fields={"tier": ["Must be 1 to 4."]})
    out["tier"] = int(tier) if tier else None
    errors = params.get("errors") or ""
    try:
        pct = float(errors) if errors else None
    except ValueError:
        pct = -1.0
    if pct is not None and not 0 <= pct <= 100:
        raise InvalidInput("errors is a percentage, 0 to 100.", fields={"errors": ["Must be 0 to 100."]})
    out["min_error"] = pct / 100 if pct is not None else None
    out["hide_isolated"] = params.get("isolated") == "hide"
    return out


def _explorer_edge(r: dict) -> ExplorerEdge:
    edges = r.get("edges", 1)
    stale_edges = r.get("stale_edges", 1 if r.get("stale") else 0)
    keys = ("source", "target", "rate_per_min", "error_rate", "p50_ms", "p95_ms", "p99_ms", "last_seen", "sources")
    return {
        **{k: r[k] for k in keys},
        "rate_per_min": r["rate_per_min"] or 0.0,
        "edges": edges,
        "stale_edges": stale_edges,
        "stale": bool(edges) and stale_edges == edges,
        "sources": (r["sources"] or []) if edges == 1 else [],  # a group edge's union costs too much to read
    }


def _service_node(r: dict, parent: str | None = None) -> ExplorerNode:
    return {
        "id": r["id"],
        "kind": r.get("kind", "service"),
        "name": r.get("name") or r["id"],
        "team": r.get("team"),
        "org": r.get("org"),
        "system": r.get("system"),
        "tier": r.get("tier"),
        "services": 1,
        "expanded": False,
        "parent": parent,
    }


def _without_isolated(nodes: dict, edges: list) -> None:
    linked = {e["source"] for e in edges} | {e["target"] for e in edges}
    parents = {n["parent"] for n in nodes.values() if n["id"] in linked}
    for key in [k for k, n in nodes.items() if k not in linked and not (n["expanded"] and k in parents)]:
        del nodes[key]


def explorer_graph(*, by: str = "org", expand=(), filters: dict, only: str | None = None) -> ExplorerGraph:
    """The graph at a level of detail: services grouped by ``by`` (org, team or system; empty:
    every service) except the groups in ``expand``, whose services are shown inside them, with the
    edges between what is shown summed (calls/min added, worst error rate). Two Cypher reads
    (nodes, edges), whatever the size of the installation; system names from the catalog. The
    unfiltered aggregated views are kept in the cache per graph version (``db.version``).
    ``only`` (a group in ``expand``): just that group's services and the edges touching them, what
    the explorer adds when it expands the group (``only`` in the answer says so)."""
    if by and by not in EXPLORER_GROUPS:
        raise InvalidInput("group must be org, team or system.", fields={"group": ["Use org, team or system."]})
    expand = _expand(expand) if by else []
    if only is not None and only not in expand:
        raise InvalidInput("only names a group in expand.", fields={"only": ["Not an expanded group."]})
    args = {k: filters[k] for k in ("org", "team", "tier", "system")}
    unfiltered = all(v is None for v in args.values()) and filters["min_error"] is None

    def read():
        return _explorer_read(by=by, expand=expand, only=only, args=args, min_error=filters["min_error"])

    cacheable = not expand and only is None and unfiltered
    answer = _graph_cached(f"explorer:{by or 'flat'}", read) if cacheable else read()
    nodes = answer["nodes"]
    if by == "system":  # names from the catalog, read every time: a rename does not write the graph
        labels = catalog_selectors.system_labels(slugs={n["system"] for n in nodes.values() if n["kind"] == "system"})
        for n in nodes.values():
            if n["kind"] == "system" and n["system"] in labels:
                n["name"], n["team"] = labels[n["system"]]
    if (filters["hide_isolated"] or filters["min_error"] is not None) and only is None:
        _without_isolated(nodes, answer["edges"])
    answer = {"nodes": list(nodes.values()), "edges": answer["edges"], "path": [], "message": ""}
    return {**answer, "only": f"{by}:{only}"} if only is not None else answer


def _graph_cached(name: str, compute):
    """``compute()``, kept in the cache under the graph's version: read again after any write
    (and after GRAPH_CACHE_SECONDS, in case a version bump was lost); uncached without Redis."""
    version = db.version()
    if version is None:
        return compute()
    key = f"graph:{name}:{version}"
    try:
        value = cache.get(key)
    except RedisError:  # Redis failed after answering the version: read the graph
        value = None
    if value is None:
        value = compute()
        try:
            cache.set(key, value, GRAPH_CACHE_SECONDS)
        except RedisError:
            pass  # the next read computes it again
    return value


def explorer_warm() -> None:
    """Read each aggregated view into the cache (and Neo4j's plans of the expansion reads into
    its query cache), and the flat view with its cycles while it has at most EXPLORER_MAX_NODES
    services (beyond, nobody reads a flat drawing): what a crawl's end and a full sync ask for,
    so the first person to open the explorer after them does not wait for the reads."""
    no_filters = explorer_filters({})
    services = 0
    for by in EXPLORER_GROUPS:
        groups = [n for n in explorer_graph(by=by, filters=no_filters)["nodes"] if n["kind"] == by]
        if by == "org":
            services = sum(n["services"] for n in groups)
        if groups:
            group = groups[0]["id"].split(":", 1)[1]
            explorer_graph(by=by, expand=[group], only=group, filters=no_filters)
    if services <= EXPLORER_MAX_NODES:
        explorer_graph(by="", filters=no_filters)
        cycles(limit=EXPLORER_CYCLES)


def _explorer_read(*, by: str, expand: list, only: str | None, args: dict, min_error: float | None) -> dict:
    """The two Cypher reads of ``explorer_graph``: its nodes (by id) and edges."""
    nodes: dict[str, dict] = {}
    rows = db.read_collected(
        cypher.EXPLORER_NODES, cypher.EXPLORER_NODE_COLUMNS, by=by or None, expand=expand, only=only, **args
    )
    for r in rows:
        if r["grouped"]:
            nodes[r["id"]] = {
                **_service_node({"id": r["id"], "name": r["group_key"], "tier": r["tier"]}),
                "kind": by,
                "services": r["services"],
                "org": r["org"],
                "team": r["team"],
                "system": r["group_key"] if by == "system" else None,
            }
            continue
        parent = f"{by}:{r['group_key']}" if by and r["group_key"] is not None else None
        nodes[r["id"]] = _service_node(r, parent)
        if parent and parent not in nodes:
            nodes[parent] = {**_service_node({"id": parent, "name": r["group_key"]}), "kind": by, "expanded": True}
        if parent:
            nodes[parent]["services"] = sum(1 for n in nodes.values() if n["parent"] == parent)
    edges = []
    filtered = any(v is not None for v in args.values())
    edge_query = cypher.EXPLORER_EDGES[(by or "", filtered, bool(expand), only is not None)]
    for r in db.read_collected(
        edge_query, cypher.EXPLORER_EDGE_COLUMNS, expand=expand, only=only, min_error=min_error, **args
    ):
        if r["to_endpoint"] and r["target"] not in nodes:
            nodes[r["target"]] = {**_service_node({"id": r["target"]}), "kind": "endpoint", "services": 0}
        edges.append(_explorer_edge(r))
    return {"nodes": nodes, "edges": edges}


def _filtered_out(node: dict, filters: dict) -> str:
    """Why the filters hide a service ("" when they do not)."""
    for key in ("org", "team", "system", "tier"):
        if filters[key] is not None and node.get(key) != filters[key]:
            return f"{key} {filters[key]}"
    return ""


def explorer_find(*, q: str, limit: int = 20) -> dict:
    """Services whose slug or name contains ``q`` (for the Find box's suggestions), and ``exact``:
    the slug of the one whose slug or name is ``q`` (case-insensitive), else None."""
    q = (q or "").strip()[:100]
    if not q:
        return {"results": [], "exact": None}
    exact = (
        catalog_selectors.service_list()
        .filter(Q(slug__iexact=q) | Q(name__iexact=q))
        .order_by("slug")
        .values_list("slug", flat=True)
        .first()
    )
    rows = list(catalog_selectors.service_list(q=q).order_by("slug").values("slug", "name")[:limit])
    return {"results": rows, "exact": exact}


def explorer_neighbourhood(*, slug: str, depth=1, filters: dict) -> ExplorerGraph:
    """A service and everything it calls or is called by within ``depth`` hops (either way), with
    the edges among them; the filters apply to the services around it. A service the filters hide,
    or one not in the graph, comes back empty with a ``message``."""
    depth = _depth(depth)
    rows = db.read(cypher.NEIGHBOURHOOD[depth], slug=slug, limit=EXPLORER_MAX_NODES)
    empty = {"nodes": [], "edges": [], "path": [], "message": ""}
    if not rows:
        return {**empty, "message": f"{slug} has no observed calls yet."}
    centre = next((r for r in rows if r["id"] == slug), rows[0])
    why = _filtered_out(centre, filters)
    if why:
        return {**empty, "message": f"{slug} is hidden by the filter {why}."}
    nodes = {r["id"]: _service_node(r) for r in rows if r["kind"] == "endpoint" or not _filtered_out(r, filters)}
    edges = [
        _explorer_edge({"source": r["id"], **e})
        for r in rows
        if r["id"] in nodes
        for e in r["out"]
        if e["target"] in nodes and (filters["min_error"] is None or (e["error_rate"] or 0) >= filters["min_error"])
    ]
    if filters["hide_isolated"] or filters["min_error"] is not None:
        _without_isolated(nodes, edges)
        nodes.setdefault(slug, _service_node(centre))
    return {**empty, "nodes": list(nodes.values()), "edges": edges}


def explorer_path(*, src: str, dst: str, filters: dict) -> ExplorerGraph:
    """The shortest observed call path from ``src`` to ``dst`` through services the filters keep.
    Never an error for a person's typing: an unknown or hidden end, or no path, is a ``message``."""
    empty = {"nodes": [], "edges": [], "path": [], "message": ""}
    ends = {
        s["slug"]: s
        for s in catalog_selectors.service_list()
        .filter(slug__in=[src, dst])
        .values("slug", "tier", "team__slug", "team__org__slug", "system__slug")
    }
    for end in (src, dst):
        if end not in ends:
            return {**empty, "message": f"No service named {end!r}."}
        s = ends[end]
        why = _filtered_out(
            {"org": s["team__org__slug"], "team": s["team__slug"], "system": s["system__slug"], "tier": s["tier"]},
            filters,
        )
        if why:
            return {**empty, "message": f"{end} is hidden by the filter {why}: clear it to find a path."}
    args = {k: filters[k] for k in ("org", "team", "tier", "system")}
    rows = db.read(cypher.EXPLORER_PATH, src=src, dst=dst, **args) if src != dst else []
    if not rows:
        return {**empty, "message": f"No observed call path from {src} to {dst}."}
    nodes = [_service_node(n) for n in rows[0]["nodes"]]
    return {
        **empty,
        "nodes": nodes,
        "edges": [_explorer_edge(e) for e in rows[0]["edges"]],
        "path": [n["id"] for n in nodes],
    }
