"""What the graph announces to the layers above it, which graph never imports (changes listens).

- ``edges_observed``: sent by ``edges_merge`` once a batch of observations is in Neo4j, with
  ``samples``: a list of ``EdgeSample`` (one per edge and merge: what that window showed).
- ``edges_changed``: sent by ``edges_merge`` (``change="appeared"``) and ``edges_age``
  (``"stale"``, ``"disappeared"``) with ``pairs`` (at most ``DISCOVERY_EDGE_EVENTS_MAX`` of
  them, as ``EdgePair``) and ``total`` (how many edges changed, which may be more).

Receivers run in the sender's process after the graph write; an exception in one is logged
by the sender and never fails the crawl."""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

edges_observed = Signal()
edges_changed = Signal()


@dataclass(frozen=True, slots=True)
class EdgeSample:
    """One edge's window: calls per minute, error rate (0..1) and p95/p99 latency (ms) where known."""

    src: str
    dst: str
    at_ms: int
    rate_per_min: float | None
    error_rate: float | None
    p95_ms: float | None
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class EdgePair:
    """A caller (service slug) and what it calls (a service slug or an endpoint key); ``kind``:
    ``service`` or ``endpoint``."""

    src: str
    dst: str
    kind: str = "service"
