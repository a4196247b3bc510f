"""Blast radius and dependencies on graphs with many paths to the same service (random
edges, cycles): each service once, at its shortest distance, against a breadth-first search
done here in Python over the same edges. Real Neo4j; the graph is written with the
projection's and the crawl's own statements."""

import random
import re
from collections import deque

import pytest

from graph import cypher, db, selectors

N_SERVICES, N_EDGES = 60, 360


def _bfs(start: str, neighbours: dict[str, set[str]], max_depth: int) -> dict[str, int]:
    seen, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        if seen[node] == max_depth:
            continue
        for nxt in sorted(neighbours.get(node, ())):
            if nxt not in seen:
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
    del seen[start]
    return seen


@pytest.fixture
def dense(graph):
    """60 services in 7 teams (team-6 has no Team node properties: no name, no on-call), tiers
    1 to 4 and one of 10; 360 random edges: hundreds of paths reach most services."""
    rng = random.Random(11)
    services = {f"s{i:02d}": (f"team-{i % 7}", 10 if i == 13 else 1 + i % 4) for i in range(N_SERVICES)}
    db.write_batches(
        cypher.PROJECT_TEAMS,
        [
            {"slug": f"team-{t}", "name": f"Team {t}", "org": "o", "oncall": f"pager-{t}", "chat": f"#t{t}"}
            for t in range(6)
        ],
        tag=1,
    )
    db.write_batches(
        cypher.PROJECT_SERVICES,
        [
            {"slug": s, "name": s, "tier": tier, "lifecycle": "production", "team": team, "org": "o", "system": None}
            for s, (team, tier) in services.items()
        ],
        tag=1,
    )
    pairs: set[tuple[str, str]] = set()
    slugs = sorted(services)
    while len(pairs) < N_EDGES:
        a, b = rng.sample(slugs, 2)
        pairs.add((a, b))
    db.write_batches(
        cypher.MERGE_SERVICE_EDGES,
        [
            {"src": a, "dst": b, "source": "prometheus", "props": {"calls": 1.0, "errors": 0.0}}
            for a, b in sorted(pairs)
        ],
        now=1,
        crawl_id=1,
        report_max=0,
    )
    callers: dict[str, set[str]] = {}
    callees: dict[str, set[str]] = {}
    for a, b in pairs:
        callers.setdefault(b, set()).add(a)
        callees.setdefault(a, set()).add(b)
    return services, callers, callees


def test_blast_radius_lists_each_dependent_once_grouped_and_ordered(dense):
    services, callers, _ = dense
    for target in ("s00", "s13", "s42", "s59"):
        expected = _bfs(target, callers, cypher.MAX_DEPTH)
        radius = selectors.blast_radius(slug=target)
        listed = [s["slug"] for team in radius["teams"] for s in team["services"]]
        assert radius["affected_services"] == len(expected) == len(listed) > 30
        assert sorted(listed) == sorted(expected)  # each once, the service itself never
        by_team: dict[str, list[tuple[int, str]]] = {}
        for slug in expected:
            team, tier = services[slug]
            by_team.setdefault(team, []).append((tier, slug))
        want = sorted(
            (
                {
                    "team": team,
                    "team_name": team if team == "team-6" else f"Team {team[-1]}",
                    "oncall": "" if team == "team-6" else f"pager-{team[-1]}",
                    "chat": "" if team == "team-6" else f"#t{team[-1]}",
                    "worst_tier": min(members)[0],
                    "services": [{"slug": slug, "tier": tier} for tier, slug in sorted(members)],
                }
                for team, members in by_team.items()
            ),
            key=lambda g: (g["worst_tier"], g["team"]),
        )
        assert radius["teams"] == want


def test_tier_of_two_digits_sorts_as_a_number(dense):
    """s13 has tier 10: within team-6 it comes after tiers 1 to 4, not between 1 and 2."""
    services, callers, _ = dense
    target = next(s for s in sorted(services) if "s13" in _bfs(s, callers, cypher.MAX_DEPTH))
    team = next(t for t in selectors.blast_radius(slug=target)["teams"] if t["team"] == "team-6")
    tiers = [s["tier"] for s in team["services"]]
    assert tiers == sorted(tiers) and tiers[-1] == 10


@pytest.mark.parametrize("depth", [1, 2, cypher.ENUMERATED_DEPTH, cypher.ENUMERATED_DEPTH + 1, cypher.MAX_DEPTH])
def test_dependencies_each_once_at_its_shortest_distance(dense, depth):
    """Both ways of reaching dependencies (every path up to ENUMERATED_DEPTH hops, a shortest
    path per reached service beyond) agree with a breadth-first search, for one and many services."""
    _, callers, callees = dense
    for direction, neighbours in (("down", callees), ("up", callers)):
        for slug in ("s00", "s21", "s58"):
            expected = _bfs(slug, neighbours, depth)
            found = selectors.dependencies(slug=slug, direction=direction, depth=depth)
            assert {d["slug"]: d["distance"] for d in found} == expected
            assert len(found) == len(expected)
        many = selectors.dependencies_many(slugs=["s00", "s21", "s58"], direction=direction, depth=depth)
        assert {s: {d["slug"]: d["distance"] for d in deps} for s, deps in many.items()} == {
            s: _bfs(s, neighbours, depth) for s in ("s00", "s21", "s58")
        }


def test_blast_radius_of_unknown_and_uncalled_services(dense):
    assert selectors.blast_radius(slug="nope") == {"service": "nope", "affected_services": 0, "teams": []}
    db.write_batches(
        cypher.PROJECT_SERVICES,
        [{"slug": "lonely", "name": "l", "tier": 1, "lifecycle": "production", "team": "team-0", "org": "o"}],
        tag=1,
    )
    assert selectors.blast_radius(slug="lonely") == {"service": "lonely", "affected_services": 0, "teams": []}


def _group(radius: dict, team: str) -> dict:
    return next(g for g in radius["teams"] if g["team"] == team)


def test_team_contacts_follow_a_team_write_and_are_read_without_redis(dense, settings):
    """The teams' contacts are kept in this process per teams' version: an edge write keeps
    them, a team written to the graph (a new on-call) shows in the next radius; with Redis down
    they are read for each one."""
    before = _group(selectors.blast_radius(slug="s00"), "team-1")
    assert (before["team_name"], before["oncall"], before["chat"]) == ("Team 1", "pager-1", "#t1")
    kept = selectors._contacts[2]
    db.write_batches(  # a crawl's edge write: a new graph version, the same teams' version
        cypher.MERGE_SERVICE_EDGES,
        [{"src": "s01", "dst": "s00", "source": "prometheus", "props": {"calls": 2.0, "errors": 0.0}}],
        now=2,
        crawl_id=2,
        report_max=0,
    )
    selectors.blast_radius(slug="s42")
    assert selectors._contacts[2] is kept  # no team written since: the same copy, not read again
    db.write_batches(
        cypher.PROJECT_TEAMS,
        [{"slug": "team-1", "name": "Payments", "org": "o", "oncall": "pager-new", "chat": "#pay"}],
        tag=2,
    )
    after = _group(selectors.blast_radius(slug="s00"), "team-1")
    assert (after["team_name"], after["oncall"], after["chat"]) == ("Payments", "pager-new", "#pay")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1: a real refused connection
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    db.write_batches(
        cypher.PROJECT_TEAMS,
        [{"slug": "team-1", "name": "Payments", "org": "o", "oncall": "pager-3", "chat": "#pay"}],
        tag=3,
    )
    down = selectors.blast_radius(slug="s00")
    assert _group(down, "team-1")["oncall"] == "pager-3" and _group(down, "team-6")["team_name"] == "team-6"


def test_every_statement_that_writes_near_a_team_sets_the_teams_version():
    """The teams' contacts are kept until a write of cypher.TEAM_WRITES: a statement that writes
    and names a Team (or deletes any node) must be one of them."""
    statements = [v for v in vars(cypher).values() if isinstance(v, str)]
    statements += [v for d in vars(cypher).values() if isinstance(d, dict) for v in d.values() if isinstance(v, str)]
    writes = re.compile(r"\b(MERGE|CREATE|SET|DELETE|REMOVE)\b")
    near_teams = {q for q in statements if writes.search(q) and (":Team" in q or "DETACH DELETE n" in q and "(n)" in q)}
    assert near_teams - {q for q in statements if q.lstrip().startswith("CREATE CONSTRAINT")} <= cypher.TEAM_WRITES
    assert cypher.PROJECT_TEAMS in cypher.TEAM_WRITES and cypher.MERGE_SERVICE_EDGES not in cypher.TEAM_WRITES
