"""Every Cypher statement Switchboard runs, as named, parameterised constants.

Writes are ``UNWIND $rows`` batches. Transitive reads are bounded, directed, typed and
end in ``RETURN DISTINCT``. Variable-length bounds cannot be parameters in Cypher, so
the few depth-dependent statements are generated here for each allowed depth."""

MAX_DEPTH = 6

# --- Schema (graph_init) -------------------------------------------------------------
CONSTRAINTS = [
    "CREATE CONSTRAINT org_slug IF NOT EXISTS FOR (n:Org) REQUIRE n.slug IS UNIQUE",
    "CREATE CONSTRAINT team_slug IF NOT EXISTS FOR (n:Team) REQUIRE n.slug IS UNIQUE",
    "CREATE CONSTRAINT service_slug IF NOT EXISTS FOR (n:Service) REQUIRE n.slug IS UNIQUE",
    "CREATE CONSTRAINT api_slug IF NOT EXISTS FOR (n:Api) REQUIRE n.slug IS UNIQUE",
    "CREATE CONSTRAINT endpoint_key IF NOT EXISTS FOR (n:Endpoint) REQUIRE n.key IS UNIQUE",
]
INDEXES = [
    "CREATE INDEX service_team IF NOT EXISTS FOR (n:Service) ON (n.team)",
    "CREATE INDEX service_org IF NOT EXISTS FOR (n:Service) ON (n.org)",
    "CREATE INDEX service_system IF NOT EXISTS FOR (n:Service) ON (n.system)",
    "CREATE INDEX calls_last_seen IF NOT EXISTS FOR ()-[r:CALLS]-() ON (r.last_seen)",
    # The dashboard's fleet health (edges erroring, stale edges): 23 ms instead of 122 ms at 50,000 edges.
    "CREATE INDEX calls_error_rate IF NOT EXISTS FOR ()-[r:CALLS]-() ON (r.error_rate)",
    "CREATE INDEX calls_stale IF NOT EXISTS FOR ()-[r:CALLS]-() ON (r.stale)",
]
SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name RETURN name"
# Relationships first, so no transaction holds a node's whole neighbourhood in memory.
WIPE_EDGES = "MATCH ()-[r]->() WITH r LIMIT 20000 DELETE r RETURN count(*) AS removed"
WIPE_NODES = "MATCH (n) WITH n LIMIT 20000 DETACH DELETE n RETURN count(*) AS removed"
PING = "RETURN 1 AS ok"

# --- Catalog projection --------------------------------------------------------------
PROJECT_ORGS = """
UNWIND $rows AS row
MERGE (o:Org {slug: row.slug})
SET o.name = row.name, o.sync_tag = $tag
"""
PROJECT_TEAMS = """
UNWIND $rows AS row
MERGE (o:Org {slug: row.org})
MERGE (t:Team {slug: row.slug})
SET t.name = row.name, t.org = row.org, t.oncall = row.oncall, t.chat = row.chat, t.sync_tag = $tag
MERGE (o)-[:HAS_TEAM]->(t)
"""
PROJECT_SERVICES = """
UNWIND $rows AS row
MERGE (t:Team {slug: row.team})
MERGE (s:Service {slug: row.slug})
SET s.name = row.name, s.tier = row.tier, s.lifecycle = row.lifecycle, s.team = row.team,
    s.org = row.org, s.system = row.system, s.sync_tag = $tag,
    s.card = row.team + '|' + toString(row.tier) + '|' + row.slug
WITH s, t
OPTIONAL MATCH (old:Team)-[o:OWNS]->(s) WHERE old <> t
DELETE o
WITH DISTINCT s, t
MERGE (t)-[:OWNS]->(s)
"""
PROJECT_APIS = """
UNWIND $rows AS row
MATCH (s:Service {slug: row.provider})
MERGE (a:Api {slug: row.slug})
SET a.name = row.name, a.kind = row.kind, a.provider = row.provider, a.sync_tag = $tag
WITH s, a
OPTIONAL MATCH (other:Service)-[p:PROVIDES]->(a) WHERE other <> s
DELETE p
WITH DISTINCT s, a
MERGE (s)-[:PROVIDES]->(a)
"""
PROJECT_CONSUMES = """
UNWIND $rows AS row
MATCH (s:Service {slug: row.slug})
OPTIONAL MATCH (s)-[c:CONSUMES]->(a:Api) WHERE NOT a.slug IN row.apis
DELETE c
WITH DISTINCT s, row
UNWIND row.apis AS api_slug
MATCH (a:Api {slug: api_slug})
MERGE (s)-[:CONSUMES]->(a)
"""
DELETE_BY_KEY = {
    "org": "MATCH (n:Org {slug: $key}) DETACH DELETE n",
    "team": "MATCH (n:Team {slug: $key}) DETACH DELETE n",
    "service": "MATCH (n:Service {slug: $key}) DETACH DELETE n",
    "api": "MATCH (n:Api {slug: $key}) DETACH DELETE n",
}
# Full sync: anything of a catalog label the sync did not touch is gone from Django.
CLEANUP_UNTAGGED = """
MATCH (n) WHERE (n:Org OR n:Team OR n:Service OR n:Api) AND coalesce(n.sync_tag, 0) < $tag
WITH n LIMIT 10000
DETACH DELETE n
RETURN count(*) AS removed
"""

# --- Observed call edges -------------------------------------------------------------
# Only what differencing needs of the pair's source (counters, their time, the cumulative
# histogram): an edge's other properties (other sources' counters, quantiles) stay in Neo4j.
EDGE_STATE = """
UNWIND $pairs AS pair
MATCH (s:Service {slug: pair.src})-[r:CALLS]->(t)
WHERE (t:Service AND t.slug = pair.dst) OR (t:Endpoint AND t.key = pair.dst)
RETURN pair.src AS src, pair.dst AS dst, pair.source AS source,
       r['c:' + pair.source] AS c, r['e:' + pair.source] AS e, r['t:' + pair.source] AS t,
       r['h:' + pair.source] AS h, r['hb:' + pair.source] AS hb
"""
# Whether the edge is new is read once, before the SET; the created pairs are built only when
# asked for ($report_max > 0: three db hits and a map per edge otherwise thrown away). The
# sources are read inside the SET: one batch can hold the same edge from several sources (a
# service's scrape, its OTLP push, a central query), and a value read before the SET would be
# the one from before the batch for every row, so each row would drop the others' source.
_EDGE_SET = """
MERGE (s)-[r:CALLS]->(t)
ON CREATE SET r.first_seen = $now, r.created_by_crawl = $crawl_id
WITH s, t, r, row, r.first_seen = $now AND r.created_by_crawl = $crawl_id AS new
SET r += row.props, r.last_seen = $now, r.crawl_id = $crawl_id, r.stale = false,
    r.sources = CASE WHEN row.source IN coalesce(r.sources, []) THEN r.sources
                     ELSE coalesce(r.sources, []) + row.source END
WITH s, t, new
RETURN sum(CASE WHEN new THEN 1 ELSE 0 END) AS created, count(*) AS merged,
       collect(CASE WHEN new AND $report_max > 0 THEN {src: s.slug, dst: coalesce(t.slug, t.key),
                                   kind: CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END} END)[..$report_max]
         AS created_pairs
"""
MERGE_SERVICE_EDGES = (
    """
UNWIND $rows AS row
MATCH (s:Service {slug: row.src})
MATCH (t:Service {slug: row.dst})
"""
    + _EDGE_SET
)
MERGE_ENDPOINT_EDGES = (
    """
UNWIND $rows AS row
MATCH (s:Service {slug: row.src})
MERGE (t:Endpoint {key: row.dst})
ON CREATE SET t.first_seen = $now
SET t.last_seen = $now, t.host = row.host, t.port = row.port, t.kind = row.kind
"""
    + _EDGE_SET
)
# The naive ingest the batched one is benchmarked against (bench/graph_ingest.py).
MERGE_ONE_SERVICE_EDGE = """
MATCH (s:Service {slug: $src})
MATCH (t:Service {slug: $dst})
MERGE (s)-[r:CALLS]->(t)
ON CREATE SET r.first_seen = $now
SET r.calls = $calls, r.errors = $errors, r.last_seen = $now
"""
# Aging is scoped to edges whose evidence was fetched successfully in this run, so a
# failed fetch is never read as "that service has no edges".
# Both return the edges they touched (at most $report_max pairs) for the edge change events.
_AGED_PAIR = "{src: s.slug, dst: coalesce(t.slug, t.key), kind: CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END}"
MARK_STALE = f"""
MATCH (s:Service)-[r:CALLS]->(t)
WHERE r.last_seen < $stale_before AND NOT coalesce(r.stale, false)
  AND (s.slug IN $ok_services OR any(x IN r.sources WHERE x IN $ok_sources))
SET r.stale = true
RETURN count(r) AS stale, collect({_AGED_PAIR})[..$report_max] AS pairs
"""
REMOVE_EXPIRED = f"""
MATCH (s:Service)-[r:CALLS]->(t)
WHERE r.last_seen < $remove_before
  AND (s.slug IN $ok_services OR any(x IN r.sources WHERE x IN $ok_sources))
WITH s, r, t, {_AGED_PAIR} AS pair
DELETE r
RETURN count(*) AS removed, collect(pair)[..$report_max] AS pairs
"""
REMOVE_ORPHAN_ENDPOINTS = "MATCH (e:Endpoint) WHERE NOT (e)<-[:CALLS]-() DELETE e RETURN count(*) AS removed"


# --- Reads ---------------------------------------------------------------------------
ENUMERATED_DEPTH = 3  # up to this many hops dependencies are found by enumerating paths


def _dependencies(direction: str, depth: int) -> str:
    """One row per service with its dependencies as strings, ``distance|kind|tier|team|slug|name``
    (kind ``s``) or ``distance|e|tier|team|key`` (an unknown endpoint; its key may hold ``|``, so
    it comes last), empty for null: a map per dependency cost the driver four times as much to
    decode (2,700 of them for a GraphQL page of 100 services at depth 2). Parsed by
    ``graph.selectors.dependencies_many``."""
    arrow = "-[:CALLS]->" if direction == "down" else "<-[:CALLS]-"
    if depth <= ENUMERATED_DEPTH:
        # Every path, the shortest length per service kept: a few hundred paths per service at
        # 3 hops, and no shortest-path search started per reached node (100 services at 2 hops
        # on 10k random edges: 28 ms instead of 44; at 3 hops 74 instead of 194).
        var = f"-[:CALLS*1..{depth}]->" if direction == "down" else f"<-[:CALLS*1..{depth}]-"
        reach = f"""MATCH p = (s){var}(d)
  WHERE d <> s
  RETURN min(length(p)) AS distance, d"""
    else:  # deeper, paths multiply past hubs: a breadth-first shortest path per reached node
        reach = f"""MATCH p = SHORTEST 1 (s){arrow}{{1,{depth}}}(d)
  WHERE d <> s
  RETURN DISTINCT length(p) AS distance, d"""
    return f"""
UNWIND $slugs AS slug
MATCH (s:Service {{slug: slug}})
CALL (s) {{
  {reach}
}}
RETURN s.slug AS root,
       collect(toString(distance) + '|' + CASE WHEN d:Service THEN 's' ELSE 'e' END + '|'
               + coalesce(toString(d.tier), '') + '|' + coalesce(d.team, '') + '|'
               + CASE WHEN d:Service THEN d.slug + '|' + coalesce(d.name, '') ELSE d.key END) AS deps
"""


# One statement per (direction, depth), each answering for a whole list of services.
DEPENDENCIES = {
    (direction, depth): _dependencies(direction, depth)
    for direction in ("down", "up")
    for depth in range(1, MAX_DEPTH + 1)
}
# Transitive dependents can number thousands, and reading three properties of each is
# what costs: every Service carries `card` ("team|tier|slug", set by the projection), so
# the closure is read with one property a node. The closure is a breadth-first search over
# distinct nodes (the plan's VarLengthExpand(Pruning,BFS)), not an enumeration of paths; they
# are made distinct as nodes, which is cheaper than hashing 8,000 card strings. `d` has no label:
# only services call (edges start at a Service), and the label check was one db hit per node.
# The teams' contacts come from TEAM_CONTACTS (every team, as lists: a map each cost the driver
# several times as much to decode), which graph.selectors keeps per teams' version.
BLAST_RADIUS = f"""
MATCH (s:Service {{slug: $slug}})
MATCH (s)<-[:CALLS*1..{MAX_DEPTH}]-(d)
WHERE d <> s
WITH DISTINCT d
RETURN collect(d.card) AS cards
"""
_TEAM_CONTACT = "collect([t.slug, coalesce(t.name, ''), coalesce(t.oncall, ''), coalesce(t.chat, '')]) AS rows"
TEAM_CONTACTS = f"MATCH (t:Team) RETURN {_TEAM_CONTACT}"
TEAM_CONTACTS_OF = f"UNWIND $slugs AS slug MATCH (t:Team {{slug: slug}}) RETURN {_TEAM_CONTACT}"
TEAM_CONTACT_COLUMNS = ("slug", "name", "oncall", "chat")
SHORTEST_PATH = f"""
MATCH (a:Service {{slug: $src}}), (b:Service {{slug: $dst}})
MATCH p = SHORTEST 1 (a)-[:CALLS]->{{1,{MAX_DEPTH * 2}}}(b)
RETURN [n IN nodes(p) | n.slug] AS slugs
"""
CYCLES = """
MATCH (a:Service)-[:CALLS]->(b:Service)
WHERE ($team IS NULL OR a.team = $team OR b.team = $team)
MATCH p = SHORTEST 1 (b)-[:CALLS]->{1,5}(a)
WITH a, [n IN nodes(p) | n.slug] AS back
WITH [a.slug] + back AS cycle
WITH cycle, reduce(m = head(cycle), x IN cycle | CASE WHEN x < m THEN x ELSE m END) AS anchor
WHERE head(cycle) = anchor
RETURN DISTINCT cycle
LIMIT $limit
"""
TEAM_COUPLING = """
MATCH (a:Service)-[r:CALLS]->(b:Service)
WHERE a.team <> b.team AND ($team IS NULL OR a.team = $team OR b.team = $team)
RETURN a.team AS caller_team, b.team AS callee_team, count(r) AS edges,
       sum(coalesce(r.rate_per_min, 0.0)) AS rate_per_min
ORDER BY edges DESC
"""
DRIFT = """
MATCH (s:Service {slug: $slug})
CALL (s) {
  MATCH (s)-[:CONSUMES]->(:Api)<-[:PROVIDES]-(p:Service)
  WHERE NOT (s)-[:CALLS]->(p)
  RETURN collect(DISTINCT p.slug) AS declared_not_seen
}
CALL (s) {
  MATCH (s)-[:CALLS]->(p:Service)
  WHERE NOT (s)-[:CONSUMES]->(:Api)<-[:PROVIDES]-(p) AND (p)-[:PROVIDES]->(:Api)
  RETURN collect(DISTINCT p.slug) AS seen_not_declared
}
RETURN declared_not_seen, seen_not_declared
"""
GRAPH_NODES = """
MATCH (s:Service)
WHERE ($org IS NULL OR s.org = $org) AND ($team IS NULL OR s.team = $team)
RETURN s.slug AS id, s.name AS name, s.team AS team, s.tier AS tier, 'service' AS kind
"""
GRAPH_EDGES = """
MATCH (s:Service)-[r:CALLS]->(t)
WHERE ($org IS NULL OR s.org = $org OR t.org = $org) AND ($team IS NULL OR s.team = $team OR t.team = $team)
RETURN s.slug AS source, coalesce(t.slug, t.key) AS target,
       CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END AS target_kind, t.team AS target_team,
       t.name AS target_name, t.tier AS target_tier,
       toFloat(r.rate_per_min) AS rate_per_min, toFloat(r.error_rate) AS error_rate,
       toFloat(r.calls) AS calls, toFloat(r.errors) AS errors,
       r.stale AS stale, r.first_seen AS first_seen, r.last_seen AS last_seen, r.sources AS sources,
       toFloat(r.p50_ms) AS p50_ms, toFloat(r.p95_ms) AS p95_ms, toFloat(r.p99_ms) AS p99_ms
"""
# The graph grouped by system: a service in a system is its system's node ('system:' + slug)
# unless the system is in $expand; a service without a system stays itself, an endpoint too.
GRAPH_SYSTEM_NODES = """
MATCH (s:Service)
WHERE ($org IS NULL OR s.org = $org) AND ($team IS NULL OR s.team = $team)
WITH s, s.system IS NOT NULL AND NOT s.system IN $expand AS grouped
WITH CASE WHEN grouped THEN 'system:' + s.system ELSE s.slug END AS id,
     CASE WHEN grouped THEN 'system' ELSE 'service' END AS kind,
     CASE WHEN grouped THEN null ELSE s.name END AS name,
     CASE WHEN grouped THEN null ELSE s.team END AS team,
     s.system AS system, s.tier AS tier
RETURN id, kind, name, team, system, min(tier) AS tier, count(*) AS services
"""
# Edges between those groups: summed rate, the rate-weighted error rate's two sums (divided in
# the selector), the worst p95 and how many call edges each stands for. Calls inside one
# collapsed system are left out (they would be a loop on its node).
GRAPH_SYSTEM_EDGES = """
MATCH (s:Service)-[r:CALLS]->(t)
WHERE ($org IS NULL OR s.org = $org OR t.org = $org) AND ($team IS NULL OR s.team = $team OR t.team = $team)
WITH s, r, t,
     CASE WHEN s.system IS NULL OR s.system IN $expand THEN s.slug ELSE 'system:' + s.system END AS source,
     CASE WHEN t:Service AND t.system IS NOT NULL AND NOT t.system IN $expand THEN 'system:' + t.system
          ELSE coalesce(t.slug, t.key) END AS target,
     coalesce(toFloat(r.rate_per_min), 0.0) AS rate, toFloat(r.error_rate) AS err
WHERE NOT (source = target AND source STARTS WITH 'system:')
RETURN source, target, count(r) AS edges, sum(rate) AS rate_per_min,
       sum(CASE WHEN err IS NULL THEN 0.0 ELSE rate * err END) AS weighted_errors,
       sum(CASE WHEN err IS NULL THEN 0.0 ELSE rate END) AS weighted_rate,
       max(toFloat(r.p95_ms)) AS p95_ms,
       head(collect({kind: 'service', name: s.name, team: s.team, tier: s.tier, system: s.system})) AS source_node,
       head(collect({kind: CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END, name: coalesce(t.name, t.key),
                     team: t.team, tier: t.tier, system: t.system})) AS target_node
ORDER BY source, target
"""
# A service's direct calls, both ways, with their rates and latency (the service page's tables).
# in_cycle: the far end reaches back within 5 hops. SHORTEST 1 (a bidirectional search between two
# bound nodes) keeps it cheap: at 10,000 services / 50,000 random edges, 9.6 ms median per service
# against 8.0 ms without the check and 60 ms with a plain {1,5} pattern, which enumerates paths.
SERVICE_CALLS = """
MATCH (s:Service {slug: $slug})
CALL (s) {
  MATCH (s)-[r:CALLS]->(t)
  RETURN 'out' AS direction, coalesce(t.slug, t.key) AS peer, CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END AS kind, r,
         EXISTS { MATCH SHORTEST 1 (t)-[:CALLS]->{1,5}(s) } AS in_cycle
  UNION ALL
  MATCH (s)<-[r:CALLS]-(t:Service)
  WHERE t <> s
  RETURN 'in' AS direction, t.slug AS peer, 'service' AS kind, r, EXISTS { MATCH SHORTEST 1 (s)-[:CALLS]->{1,5}(t) } AS in_cycle
}
RETURN direction, peer, kind, toFloat(r.rate_per_min) AS rate_per_min, toFloat(r.error_rate) AS error_rate,
       r.stale AS stale, toFloat(r.p50_ms) AS p50_ms, toFloat(r.p95_ms) AS p95_ms, toFloat(r.p99_ms) AS p99_ms,
       r.last_seen AS last_seen, in_cycle
ORDER BY direction, peer
LIMIT $limit
"""
UNKNOWN_ENDPOINTS = """
MATCH (e:Endpoint)<-[r:CALLS]-(s:Service)
RETURN e.key AS key, e.host AS host, e.port AS port, e.first_seen AS first_seen, e.last_seen AS last_seen,
       collect(DISTINCT s.slug) AS callers
ORDER BY key
LIMIT $limit
"""
NEWEST_EDGES = """
MATCH (s:Service)-[r:CALLS]->(t)
RETURN s.slug AS source, coalesce(t.slug, t.key) AS target, r.first_seen AS first_seen
ORDER BY r.first_seen DESC
LIMIT $limit
"""
# Fleet health for the dashboard: live edges whose error rate is at least $error_rate, stale
# edges, endpoints nobody catalogued.
FLEET_HEALTH = """
CALL () { MATCH ()-[r:CALLS]->() WHERE NOT coalesce(r.stale, false) AND r.error_rate >= $error_rate RETURN count(r) AS erroring }
CALL () { MATCH ()-[r:CALLS]->() WHERE r.stale = true RETURN count(r) AS stale }
CALL () { MATCH (e:Endpoint) RETURN count(e) AS endpoints }
RETURN erroring, stale, endpoints
"""
# The edges behind a fleet-health number (each seeks its index): erroring, worst first; stale,
# longest unseen first.
_STATE_EDGE = """
RETURN s.slug AS source, coalesce(t.slug, t.key) AS target, CASE WHEN t:Service THEN 'service' ELSE 'endpoint' END AS kind,
       toFloat(r.rate_per_min) AS rate_per_min, toFloat(r.error_rate) AS error_rate, toFloat(r.p95_ms) AS p95_ms,
       r.last_seen AS last_seen, coalesce(r.stale, false) AS stale
"""
EDGES_BY_STATE = {
    "erroring": """
MATCH (s:Service)-[r:CALLS]->(t)
WHERE r.error_rate >= $error_rate AND NOT coalesce(r.stale, false)"""
    + _STATE_EDGE
    + "ORDER BY error_rate DESC, source, target\nLIMIT $limit\n",
    "stale": """
MATCH (s:Service)-[r:CALLS]->(t)
WHERE r.stale = true"""
    + _STATE_EDGE
    + "ORDER BY last_seen, source, target\nLIMIT $limit\n",
}
COUNTS = """
CALL () { MATCH (s:Service) RETURN count(s) AS services }
CALL () { MATCH ()-[r:CALLS]->() RETURN count(r) AS edges }
CALL () { MATCH (e:Endpoint) RETURN count(e) AS endpoints }
RETURN services, edges, endpoints
"""
# Scorecards (issue 15): per service, its outgoing calls and the newest last_seen either way,
# and its live inbound edges summed (rate, rate-weighted errors, worst p95). Read for a batch of
# slugs at once (graph.selectors.scorecard_facts). The calls come as one string per service,
# a line "<callee>\t<stale 0|1><service 0|1>" each: the driver turns a list of 50,000 small lists
# into Python objects one element at a time, which cost more than the query.
SCORECARD_FACTS = """
UNWIND $slugs AS slug
MATCH (s:Service {slug: slug})
CALL (s) {
  OPTIONAL MATCH (s)-[r:CALLS]->(t)
  WITH r, CASE WHEN t IS NULL THEN null
               ELSE coalesce(t.slug, t.key) + '\t' + CASE WHEN coalesce(r.stale, false) THEN '1' ELSE '0' END
                    + CASE WHEN t:Service THEN '1' ELSE '0' END END AS item
  RETURN reduce(acc = '', x IN collect(item) | acc + x + '\n') AS out, max(r.last_seen) AS out_last
}
CALL (s) {
  OPTIONAL MATCH (s)<-[r:CALLS]-(:Service)
  WITH r, NOT coalesce(r.stale, false) AS live, coalesce(toFloat(r.rate_per_min), 0.0) AS rate
  RETURN sum(CASE WHEN live THEN rate ELSE 0.0 END) AS in_rate,
         sum(CASE WHEN live AND r.error_rate IS NOT NULL THEN rate * toFloat(r.error_rate) ELSE 0.0 END) AS in_errors,
         sum(CASE WHEN live AND r.error_rate IS NOT NULL THEN rate ELSE 0.0 END) AS in_weighted,
         max(CASE WHEN live THEN toFloat(r.p95_ms) END) AS in_p95, max(r.last_seen) AS in_last
}
RETURN s.slug AS slug, out, out_last, in_rate, in_errors, in_weighted, in_p95, in_last
"""
# --- The explorer's levels of detail (issue 16) ----------------------------------------
# A service is its group's node ($by + ':' + the service's org, team or system) unless that
# group is in $expand; the filters ($org, $team, $tier, $system) pick the services shown; $only
# (when expanding one group) keeps that group's services alone.
_EXPLORER_FILTER = """($org IS NULL OR {v}.org = $org) AND ($team IS NULL OR {v}.team = $team)
  AND ($tier IS NULL OR {v}.tier = $tier) AND ($system IS NULL OR {v}.system = $system)"""
_GROUP_OF = "CASE $by WHEN 'org' THEN {v}.org WHEN 'team' THEN {v}.team WHEN 'system' THEN {v}.system END"
EXPLORER_NODES = f"""
MATCH (s:Service)
WHERE {_EXPLORER_FILTER.format(v="s")}
WITH s, {_GROUP_OF.format(v="s")} AS g
WHERE $only IS NULL OR g = $only
WITH s, g, g IS NOT NULL AND NOT g IN $expand AS grouped
WITH CASE WHEN grouped THEN $by + ':' + g ELSE s.slug END AS id, grouped,
     CASE WHEN grouped THEN null ELSE s.name END AS name, CASE WHEN grouped THEN null ELSE s.team END AS team,
     CASE WHEN grouped THEN null ELSE s.org END AS org, CASE WHEN grouped THEN null ELSE s.system END AS system,
     g AS group_key, min(s.tier) AS tier, count(*) AS services
RETURN collect([id, grouped, name, team, org, system, group_key, tier, services]) AS rows
"""
EXPLORER_NODE_COLUMNS = ("id", "grouped", "name", "team", "org", "system", "group_key", "tier", "services")


EXPLORER_EDGE_COLUMNS = (
    "source",
    "target",
    "to_endpoint",
    "edges",
    "rate_per_min",
    "error_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "last_seen",
    "stale_edges",
    "sources",
)


def _explorer_edges(by: str, filtered: bool, expanding: bool, only: bool) -> str:
    """Edges between the shown nodes, one per pair: summed calls/min, the worst error rate and
    latency, newest last_seen, how many call edges it stands for and how many are stale, and the
    sources (read for a single call edge only: a union over thousands costs more than the rest of
    the query). Only call edges with an error rate of at least $min_error count. Calls inside one
    collapsed group are left out; an unknown endpoint shows only beside an expanded caller.
    ``only``: just the edges touching group $only's services (expanding it), found from them.
    Generated per case, so the 50,000-edge scan of the first view reads no filter or expansion it
    does not need."""
    where = "($min_error IS NULL OR r.error_rate >= $min_error)"
    if filtered:
        both = f"{_EXPLORER_FILTER.format(v='s')} AND (t:Endpoint OR ({_EXPLORER_FILTER.format(v='t')}))"
        where = f"{both}\n  AND {where}"
    if only:
        head = f"""
MATCH (g:Service {{{by}: $only}})
CALL (g) {{
  MATCH (g)-[r:CALLS]->(t)
  RETURN g AS s, r, t
  UNION ALL
  MATCH (g)<-[r:CALLS]-(s:Service)
  WHERE coalesce(s.{by} <> $only, true)
  RETURN s, r, g AS t
}}
WITH s, r, t
WHERE {where}"""
    else:
        head = f"""
MATCH (s:Service)-[r:CALLS]->(t)
WHERE {where}"""
    # sg/tg: the group an end is drawn as (null: drawn as itself). Rows are aggregated on the raw
    # keys and the ids built after, so 50,000 rows build no strings.
    if not by:
        groups = "null AS sg, null AS tg"
    elif expanding:
        groups = f"""CASE WHEN s.{by} IN $expand THEN null ELSE s.{by} END AS sg,
     CASE WHEN t.{by} IN $expand THEN null ELSE t.{by} END AS tg"""
    else:
        groups = f"s.{by} AS sg, t.{by} AS tg"  # an endpoint has no group property: null
    prefix = f"'{by}:' + " if by else ""
    return f"""{head}
WITH s, r, t, {groups}
WITH r, sg, tg, CASE WHEN sg IS NULL THEN s.slug END AS ss, CASE WHEN tg IS NULL THEN coalesce(t.slug, t.key) END AS ts,
     t.slug IS NULL AS to_endpoint
WHERE sg IS NULL OR NOT (coalesce(sg = tg, false) OR to_endpoint)
WITH sg, ss, tg, ts, to_endpoint, count(r) AS edges, sum(r.rate_per_min) AS rate, max(r.error_rate) AS err,
     max(r.p50_ms) AS p50, max(r.p95_ms) AS p95, max(r.p99_ms) AS p99, max(r.last_seen) AS last_seen,
     sum(CASE WHEN r.stale THEN 1 ELSE 0 END) AS stale_edges, max(r.sources) AS sources
WITH coalesce({prefix}sg, ss) AS source, coalesce({prefix}tg, ts) AS target, to_endpoint, edges,
     toFloat(coalesce(rate, 0)) AS rate_per_min, toFloat(err) AS error_rate, toFloat(p50) AS p50_ms,
     toFloat(p95) AS p95_ms, toFloat(p99) AS p99_ms, last_seen, stale_edges, sources
ORDER BY source, target
RETURN collect([{", ".join(EXPLORER_EDGE_COLUMNS)}]) AS rows
"""


# One statement per (group by, filtered?, any group expanded?, only one group's edges?).
EXPLORER_EDGES = {
    (by, filtered, expanding, only): _explorer_edges(by, filtered, expanding, only)
    for by in ("org", "team", "system", "")
    for filtered in (False, True)
    for expanding in (False, True)
    for only in (False, True)
    if by or not (expanding or only)
}


def _neighbourhood(depth: int) -> str:
    return f"""
MATCH (c:Service {{slug: $slug}})
CALL (c) {{
  MATCH SHORTEST 1 (c)-[:CALLS]-{{0,{depth}}}(n)
  RETURN collect(DISTINCT n)[..$limit] AS ns
}}
UNWIND ns AS a
OPTIONAL MATCH (a)-[r:CALLS]->(b) WHERE b IN ns
RETURN coalesce(a.slug, a.key) AS id, CASE WHEN a:Service THEN 'service' ELSE 'endpoint' END AS kind,
       coalesce(a.name, a.key) AS name, a.team AS team, a.org AS org, a.tier AS tier, a.system AS system,
       collect(CASE WHEN r IS NULL THEN null ELSE {{target: coalesce(b.slug, b.key),
         rate_per_min: toFloat(r.rate_per_min), error_rate: toFloat(r.error_rate), p50_ms: toFloat(r.p50_ms),
         p95_ms: toFloat(r.p95_ms), p99_ms: toFloat(r.p99_ms), last_seen: r.last_seen,
         stale: coalesce(r.stale, false), sources: coalesce(r.sources, [])}} END) AS out
"""


# A service's neighbourhood to each depth, calls either way (the explorer's focus), at most $limit nodes.
NEIGHBOURHOOD = {depth: _neighbourhood(depth) for depth in range(1, MAX_DEPTH + 1)}
# The shortest observed call path between two services through services the filters keep.
EXPLORER_PATH = f"""
MATCH (a:Service {{slug: $src}}), (b:Service {{slug: $dst}})
MATCH p = SHORTEST 1 (a)((x)-[:CALLS]->(y:Service) WHERE {_EXPLORER_FILTER.format(v="y")}){{1,{MAX_DEPTH * 2}}}(b)
UNWIND relationships(p) AS r
WITH p, r, startNode(r) AS s, endNode(r) AS t
RETURN [n IN nodes(p) | {{id: n.slug, name: n.name, team: n.team, org: n.org, tier: n.tier, system: n.system}}] AS nodes,
       collect({{source: s.slug, target: t.slug, rate_per_min: toFloat(r.rate_per_min), error_rate: toFloat(r.error_rate),
                p50_ms: toFloat(r.p50_ms), p95_ms: toFloat(r.p95_ms), p99_ms: toFloat(r.p99_ms), last_seen: r.last_seen,
                stale: coalesce(r.stale, false), sources: coalesce(r.sources, [])}}) AS edges
"""

# The writes that create, change or delete Team nodes: each also sets a new teams' version
# (graph.db.TEAMS_VERSION_KEY), which keys the teams' contacts the web processes keep, so that
# a crawl's edge writes do not make them read every team again. A test checks that every
# statement here that writes near a Team is listed.
TEAM_WRITES = frozenset({PROJECT_TEAMS, PROJECT_SERVICES, DELETE_BY_KEY["team"], CLEANUP_UNTAGGED, WIPE_NODES})
