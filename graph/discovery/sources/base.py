"""The discovery source protocol and the shapes every source shares.

A source is one kind of evidence of who calls whom. For each run it lists its targets
(``targets``); for each target it returns one observation (``observe``). A pull source
fetches in ``observe`` (a service's /metrics, a tracing backend's dependency API). A push
source has its observations handed in: whatever it received since the last run (drained
from its buffer or read from the database) travels in its targets' ``params`` and
``observe`` only turns it into edges. Sources are listed in ``settings.DISCOVERY_SOURCES``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from graph.discovery.latency import Histogram
from graph.discovery.matching import CatalogIndex, Target


@dataclass(frozen=True)
class FetchLimits:
    allowed: list
    max_bytes: int
    timeout: float
    concurrency: int
    max_series: int


@dataclass(frozen=True)
class SourceTarget:
    """One thing a source observes in a run. JSON-serialisable (it travels in the chunk
    messages the workers receive): ``params`` holds plain values only."""

    source: str  # the registered source's name (CrawlResult.source)
    key: str  # the target within the source: a service slug, a tracing source's name (CrawlResult.target_key)
    # What the run shows and upserts by (CrawlResult.target, unique per run). Targets of
    # several sources with one label are observed together, one after the other, and give
    # one result (a service's metrics and health).
    label: str
    service_id: int | None = None  # the catalogued service the target is, if any
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SourceTarget:
        return cls(**data)


@dataclass(frozen=True)
class ObservedEdge:
    src: str
    target: Target
    calls: float
    errors: float
    # How long the calls took, where the evidence says (graph/discovery/latency.py):
    # cumulative like the counters, or windowed like them.
    latency: Histogram | None = None


@dataclass
class Observation:
    """What one target gave: edges, or the reason it gave none."""

    target: str  # the label
    source: str  # the evidence name edges carry: "prometheus", "zipkin:<name>", "gateway"
    service_slug: str | None = None
    ok: bool = False
    error: str = ""
    status_code: int | None = None
    latency_ms: float | None = None
    health: str = ""
    skipped: int = 0  # includes foreign_callers
    # Series naming a caller other than the crawled service, from a source that is not a
    # registered aggregator: skipped, so no one can forge another service's calls.
    foreign_callers: int = 0
    window_seconds: float | None = None  # None: counters are cumulative
    # When the evidence was fetched (epoch ms; the crawler sets it). Cumulative counters become
    # rates over the time between two fetches, not between two merges (which lag by a run's length).
    observed_at_ms: int | None = None
    edges: list[ObservedEdge] = field(default_factory=list)

    def fold(self, other: Observation) -> Observation:
        """Add a companion source's observation of the same target (health after metrics)."""
        if other.error and not self.error:
            self.error = other.error
        self.ok = self.ok and other.ok
        self.health = other.health or self.health
        self.skipped += other.skipped
        self.foreign_callers += other.foreign_callers
        self.edges.extend(other.edges)
        return self


@dataclass(frozen=True)
class ObserveContext:
    """What ``observe`` may use: the run's HTTP session (shared, bounded, allow-listed),
    the catalog index that names services, the limits and the metric rules."""

    session: Any
    index: CatalogIndex
    limits: FetchLimits
    rules: list[dict]


@runtime_checkable
class Source(Protocol):
    # The registry name, stored on every result. Keep it stable: edges and results carry it.
    name: str
    # How a successful observation ages edges at the end of the run: "service" ages every
    # edge of the target's service (the service reported all its own calls); "evidence"
    # ages the edges this source's evidence (the result's label) supports.
    ages: Literal["service", "evidence"]

    def targets(self) -> list[SourceTarget]:
        """What this source has for a run (synchronous; database reads go through selectors)."""

    async def observe(self, target: SourceTarget, ctx: ObserveContext) -> Observation:
        """One observation of one target. Never raises for a bad target: the reason goes in
        ``error`` (what a signed-in user may read: never a body's content)."""

    # Optional: ``def settle(self, target: SourceTarget) -> None``, called (synchronously, in
    # the worker) once the chunk holding ``target`` has been merged into the graph. A source
    # whose ``targets()`` takes data away (OTLP drains pushed buffers) deletes it only here,
    # so a failed graph write or a dead worker loses nothing. Must be idempotent: a chunk may
    # be delivered twice.


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


def body_facts(got) -> str:
    """What an error may say about a body: its media type (parameters dropped) and size.
    Never its content: crawl results are read by every signed-in user."""
    media = got.content_type.split(";", 1)[0].strip().lower()
    media = media if _MEDIA_TYPE.match(media) else ("no content type" if not media else "unrecognised content type")
    return f"{media}, {len(got.body)} bytes"
