"""The catalog projection: orgs, teams, services and APIs (read through the catalog's and
teams' selectors) as nodes and relationships in Neo4j; the schema; the full resync."""

from __future__ import annotations

from catalog import selectors as catalog_selectors
from graph import cypher, db
from graph.services.crawls import explorer_warm_send
from graph.services.edges import now_ms
from teams import selectors as teams_selectors


def graph_init() -> list[str]:
    for statement in cypher.CONSTRAINTS + cypher.INDEXES:
        db.write(statement)
    return [r["name"] for r in db.read(cypher.SHOW_CONSTRAINTS)]


def graph_wipe() -> None:
    """Delete everything (tests and benchmarks), in bounded transactions."""
    for statement in (cypher.WIPE_EDGES, cypher.WIPE_NODES):
        while db.write(statement)[0]["removed"]:
            pass


def _write_services(rows: dict, *, tag: int) -> None:
    db.write_batches(cypher.PROJECT_SERVICES, rows["services"], tag=tag)
    db.write_batches(cypher.PROJECT_APIS, rows["apis"], tag=tag)
    db.write_batches(cypher.PROJECT_CONSUMES, rows["consumes"], tag=tag)


def project(kind: str, key: str) -> None:
    """Project one catalog object (by slug); one that no longer exists is removed."""
    tag = now_ms()
    if kind in ("org", "team"):
        read = teams_selectors.org_projection_rows if kind == "org" else teams_selectors.team_projection_rows
        rows = read(slug=key)
        query = cypher.PROJECT_ORGS if kind == "org" else cypher.PROJECT_TEAMS
        db.write(query, rows=rows, tag=tag) if rows else db.write(cypher.DELETE_BY_KEY[kind], key=key)
    elif kind in ("service", "api"):
        # An API is projected with its provider (its node, PROVIDES and its consumers' CONSUMES).
        rows = catalog_selectors.service_projection(**{"slug" if kind == "service" else "api": key})
        _write_services(rows, tag=tag) if rows else db.write(cypher.DELETE_BY_KEY[kind], key=key)
    else:
        raise ValueError(f"unknown projection kind {kind!r}")


def graph_sync(*, progress=None, batch: int = 2000) -> dict:
    """Rebuild the whole projection from Django; remove catalog nodes Django no longer has.
    Idempotent: running it twice leaves the same graph."""
    tag = now_ms()
    graph_init()
    orgs, teams = teams_selectors.org_projection_rows(), teams_selectors.team_projection_rows()
    db.write_batches(cypher.PROJECT_ORGS, orgs, tag=tag)
    db.write_batches(cypher.PROJECT_TEAMS, teams, tag=tag)
    counts = {"orgs": len(orgs), "teams": len(teams), "services": 0}
    for rows, total in catalog_selectors.service_projection_batches(batch=batch):
        _write_services(rows, tag=tag)
        counts["services"] += len(rows["services"])
        if progress:
            progress(counts["services"], total)
    removed = 0
    while True:
        n = db.write(cypher.CLEANUP_UNTAGGED, tag=tag)[0]["removed"]
        removed += n
        if n == 0:
            break
    counts["removed"] = removed
    explorer_warm_send()
    return counts
