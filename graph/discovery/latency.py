"""Latency of calls: the one shape every source hands in (a histogram) and the quantiles
read from it. Pure: no I/O, no Django.

Every source gives the same thing: bucket counts against upper bounds in milliseconds. A
scraped exposition or a pushed cumulative metric gives counts since its process started
(``cumulative``: edge arithmetic differences them between runs, like call counters);
spans, delta metrics and a central query give counts within the observation's window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

# Bucket bounds (ms) for durations that arrive one by one (spans): OpenTelemetry's default
# explicit-bucket boundaries for HTTP durations, in milliseconds.
DEFAULT_BOUNDS_MS: tuple[float, ...] = (5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)
QUANTILES = (0.5, 0.95, 0.99)
# Most buckets one histogram may have (classic Prometheus histograms have a dozen or two;
# OpenTelemetry's default has 15): more is refused, so an edge never stores a huge list.
MAX_BUCKETS = 64


@dataclass(frozen=True)
class Histogram:
    bounds_ms: tuple[float, ...]  # finite upper bounds, ascending; a last bucket above them is implied
    counts: tuple[float, ...]  # per bucket (not cumulative across buckets): len(bounds_ms) + 1
    cumulative: bool = False  # counts since the reporter started (differenced between runs)

    def __post_init__(self):
        if len(self.counts) != len(self.bounds_ms) + 1:
            raise ValueError("a histogram has one more count than finite bounds")

    @property
    def total(self) -> float:
        return sum(self.counts)

    def minus(self, earlier: Histogram | None) -> Histogram:
        """The counts since ``earlier`` (same reporter, same bounds); a counter that went
        down is a restart, so the new counts are the delta. The result is windowed."""
        if earlier is None or earlier.bounds_ms != self.bounds_ms:
            return Histogram(self.bounds_ms, self.counts)
        if any(now < before for now, before in zip(self.counts, earlier.counts, strict=True)):
            return Histogram(self.bounds_ms, self.counts)
        return Histogram(self.bounds_ms, tuple(n - b for n, b in zip(self.counts, earlier.counts, strict=True)))

    def plus(self, other: Histogram) -> Histogram:
        if other.bounds_ms != self.bounds_ms:
            raise ValueError("histograms with different bounds do not add")
        return Histogram(
            self.bounds_ms, tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)), self.cumulative
        )


def histogram_from_values(values_ms, bounds_ms: tuple[float, ...] = DEFAULT_BOUNDS_MS) -> Histogram:
    """Bucket single durations (ms) as a windowed histogram (a value on a bound falls in it)."""
    import bisect

    counts = [0.0] * (len(bounds_ms) + 1)
    for v in values_ms:
        counts[bisect.bisect_left(bounds_ms, v)] += 1
    return Histogram(bounds_ms, tuple(counts))


def histogram_from_cumulative_buckets(
    buckets: dict[float, float], *, scale_to_ms: float = 1.0, cumulative: bool = True
) -> Histogram | None:
    """Prometheus/OTLP ``le`` buckets (cumulative across buckets, ``math.inf`` for +Inf) to a
    histogram; ``scale_to_ms`` converts the bounds (1000 for seconds). None when unusable:
    no +Inf bucket, a NaN or negative bound, a NaN, infinite or negative count, counts that
    fall as bounds rise, or more than ``MAX_BUCKETS`` buckets."""
    if math.inf not in buckets or len(buckets) > MAX_BUCKETS:
        return None
    if any(math.isnan(le) or le < 0 for le in buckets):
        return None
    les = sorted(buckets)
    running = [buckets[le] for le in les]
    if any(math.isnan(c) or math.isinf(c) or c < 0 for c in running) or any(b < a for a, b in pairwise(running)):
        return None
    # Rounded so 0.075 s reads as 75 ms, not 75.00000000000001.
    finite = tuple(round(le * scale_to_ms, 6) for le in les[:-1])
    counts = tuple(c - p for c, p in zip(running, [0.0, *running[:-1]], strict=True))
    return Histogram(finite, counts, cumulative)


def quantile(h: Histogram, q: float) -> float | None:
    """The q-quantile in ms, interpolated linearly within its bucket as Prometheus'
    ``histogram_quantile`` does: the lowest bucket starts at 0, and a quantile in the
    bucket above the last bound is that bound. None without observations."""
    total = h.total
    if total <= 0 or not 0 <= q <= 1:
        return None
    rank, seen = q * total, 0.0
    for i, count in enumerate(h.counts):
        if count > 0 and seen + count >= rank:
            if i == len(h.bounds_ms):
                return float(h.bounds_ms[-1]) if h.bounds_ms else None
            lower = h.bounds_ms[i - 1] if i else 0.0
            return lower + (h.bounds_ms[i] - lower) * ((rank - seen) / count)
        seen += count
    return float(h.bounds_ms[-1]) if h.bounds_ms else None


def quantiles_ms(h: Histogram | None) -> dict[str, float] | None:
    """``{"p50_ms", "p95_ms", "p99_ms"}`` rounded to 0.01 ms, or None without observations."""
    if h is None or h.total <= 0:
        return None
    out = {}
    for q in QUANTILES:
        value = quantile(h, q)
        if value is None:
            return None
        out[f"p{round(q * 100)}_ms"] = round(value, 2)
    return out
