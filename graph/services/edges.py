"""Edge arithmetic: observations become CALLS edges (counters into rates), and edges age."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings

from graph import cypher, db, signals
from graph.discovery.latency import Histogram, quantiles_ms
from graph.discovery.sources import Observation, ObservedEdge

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


def _announce(signal, **kwargs) -> None:
    """Tell the layers above (changes: history, events); their failure never fails a crawl,
    whose graph write has already happened."""
    for receiver, result in signal.send_robust(sender="graph", **kwargs):
        if isinstance(result, Exception):
            logger.error("%s receiver %s failed: %r", kwargs.get("change", "edges_observed"), receiver, result)


def _samples(rows: list[dict], now: int) -> list[signals.EdgeSample]:
    """One sample per edge of this merge (where several sources saw it, the one with the most
    calls per minute, as in the dedup of telemetry), for those with a rate or a latency."""
    best: dict[tuple[str, str], signals.EdgeSample] = {}
    for row in rows:
        props = row["props"]
        rate, p95 = props.get("rate_per_min"), props.get("p95_ms")
        if rate is None and p95 is None:
            continue  # a first scrape of a counter: no window yet
        sample = signals.EdgeSample(
            row["src"],
            row["dst"],
            row.get("at") or now,
            rate,
            props.get("error_rate") if rate is not None else None,
            p95,
            props.get("p99_ms") if p95 is not None else None,
        )
        key = (row["src"], row["dst"])
        if key not in best or (rate or 0.0) > (best[key].rate_per_min or 0.0):
            best[key] = sample
    return list(best.values())


def _pairs(rows: list[dict]) -> list[signals.EdgePair]:
    return [signals.EdgePair(p["src"], p["dst"], p["kind"]) for p in rows]


def _stored_histogram(prev: dict | None, source: str) -> Histogram | None:
    """The cumulative histogram ``source`` reported in the previous run, kept on the edge as
    ``h:<source>`` (per-bucket counts) and ``hb:<source>`` (finite bounds, ms)."""
    if not prev or f"h:{source}" not in prev or f"hb:{source}" not in prev:
        return None
    try:
        return Histogram(tuple(prev[f"hb:{source}"]), tuple(prev[f"h:{source}"]), True)
    except (TypeError, ValueError):
        return None


def _latency_props(edge: ObservedEdge, source: str, prev: dict | None) -> dict:
    """p50/p95/p99 (ms) of the calls in this observation's window. A cumulative histogram is
    differenced against the counts the same source left on the edge last run (counts that
    fell are a restart: the new counts are the window; other bounds: the new counts too)
    and its counts are kept for the next run; a windowed one is read as it is. No
    observations in the window: the quantiles are left as they were (never 0)."""
    h = edge.latency
    if h is None:
        return {}
    props = {}
    window = h
    if h.cumulative:
        props[f"h:{source}"] = [float(c) for c in h.counts]
        props[f"hb:{source}"] = [float(b) for b in h.bounds_ms]
        window = h.minus(_stored_histogram(prev, source))
    props.update(quantiles_ms(window) or {})
    return props


def _edge_props(edge: ObservedEdge, source: str, window: float | None, prev: dict | None, now: int) -> dict:
    """Turn one observation into edge properties. Cumulative counters become rates from the
    delta to the previous crawl (a smaller value is a restart: the new value is the delta);
    windowed counts (tracing) are rates over their window."""
    props = {f"c:{source}": edge.calls, f"e:{source}": edge.errors, f"t:{source}": now}
    rate = error_rate = None
    if window:
        rate = edge.calls / window * 60.0
        error_rate = edge.errors / edge.calls if edge.calls else 0.0
    elif prev and f"c:{source}" in prev and prev.get(f"t:{source}"):
        dt = (now - prev[f"t:{source}"]) / 1000.0
        last_calls, last_errors = prev[f"c:{source}"], prev.get(f"e:{source}", 0.0)
        reset = edge.calls < last_calls or edge.errors < last_errors
        d_calls = edge.calls if reset else edge.calls - last_calls
        d_errors = edge.errors if reset else edge.errors - last_errors
        if dt >= 1.0:
            rate = d_calls / dt * 60.0
            error_rate = d_errors / d_calls if d_calls else 0.0
    else:
        error_rate = edge.errors / edge.calls if edge.calls else 0.0
    props["calls"], props["errors"] = edge.calls, edge.errors
    if rate is not None:
        props["rate_per_min"] = round(rate, 4)
    if error_rate is not None:
        props["error_rate"] = round(error_rate, 4)
    props.update(_latency_props(edge, source, prev))
    return props


def edges_merge(results: Iterable[Observation], *, crawl_id: int, now: int | None = None) -> dict:
    """Merge observed edges into Neo4j in batches; returns counts of merged and new edges."""
    now = now or now_ms()
    results = [r for r in results if r.ok and r.edges]
    # What the edge held before matters only to cumulative evidence (counters and histograms
    # differenced between runs); windowed observations (tracing, a central query) skip the read.
    pairs = [
        {"src": e.src, "dst": e.target.key, "source": r.source}
        for r in results
        for e in r.edges
        if not r.window_seconds or (e.latency is not None and e.latency.cumulative)
    ]
    previous: dict[tuple[str, str, str], dict] = {}
    for batch in db.chunks(pairs, db.BATCH_SIZE):
        for row in db.read(cypher.EDGE_STATE, pairs=batch):
            source = row["source"]
            previous[(row["src"], row["dst"], source)] = {
                f"{name}:{source}": row[name] for name in ("c", "e", "t", "h", "hb") if row[name] is not None
            }
    service_rows, endpoint_rows = [], []
    for r in results:
        for e in r.edges:
            row = {
                "src": e.src,
                "dst": e.target.key,
                "source": r.source,
                "at": r.observed_at_ms or now,
                "props": _edge_props(
                    e,
                    r.source,
                    r.window_seconds,
                    previous.get((e.src, e.target.key, r.source)),
                    r.observed_at_ms or now,
                ),
            }
            if e.target.kind == "service":
                service_rows.append(row)
            else:
                endpoint_rows.append({**row, "host": e.target.host, "port": e.target.port, "kind": e.target.kind})
    stats = {"merged": 0, "created": 0}
    report_max = settings.DISCOVERY_EDGE_EVENTS_MAX
    created: list[dict] = []
    for query, rows in ((cypher.MERGE_SERVICE_EDGES, service_rows), (cypher.MERGE_ENDPOINT_EDGES, endpoint_rows)):
        for out in db.write_batches(query, rows, now=now, crawl_id=crawl_id, report_max=report_max):
            stats["merged"] += out["merged"]
            stats["created"] += out["created"]
            created.extend(out["created_pairs"][: max(0, report_max - len(created))])
    samples = _samples(service_rows + endpoint_rows, now)
    if samples:
        _announce(signals.edges_observed, samples=samples)
    if stats["created"]:
        _announce(signals.edges_changed, change="appeared", pairs=_pairs(created), total=stats["created"], at_ms=now)
    return stats


def edges_age(*, ok_services: list[str], ok_sources: list[str], now: int | None = None) -> dict:
    """Mark stale, then remove, edges unseen for long, among those whose evidence was
    fetched successfully (``ok_services``: every edge of these callers; ``ok_sources``:
    edges these evidence names support)."""
    now = now or now_ms()
    report_max = settings.DISCOVERY_EDGE_EVENTS_MAX
    stale = db.write(
        cypher.MARK_STALE,
        stale_before=now - settings.DISCOVERY_EDGE_TTL * 1000,
        ok_services=ok_services,
        ok_sources=ok_sources,
        report_max=report_max,
    )[0]
    removed = db.write(
        cypher.REMOVE_EXPIRED,
        remove_before=now - settings.DISCOVERY_EDGE_REMOVE_AFTER * 1000,
        ok_services=ok_services,
        ok_sources=ok_sources,
        report_max=report_max,
    )[0]
    db.write(cypher.REMOVE_ORPHAN_ENDPOINTS)
    if stale["stale"]:
        _announce(signals.edges_changed, change="stale", pairs=_pairs(stale["pairs"]), total=stale["stale"], at_ms=now)
    if removed["removed"]:
        _announce(
            signals.edges_changed,
            change="disappeared",
            pairs=_pairs(removed["pairs"]),
            total=removed["removed"],
            at_ms=now,
        )
    return {"stale": stale["stale"], "removed": removed["removed"]}
