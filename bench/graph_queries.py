"""Blast radius and 3-hop neighbourhood on 10k services and 50k edges: p95 over random
services, after a warm-up."""

import random

from bench.common import Row, latencies_ms, summary
from bench.graphdata import build
from graph import selectors

RUNS = 300


def run():
    yield from measure("layered")
    yield from measure("random", targets=False)


def measure(topology: str, targets: bool = True):
    slugs = build(10_000, 50_000, topology=topology)
    rng = random.Random(3)
    sample = [rng.choice(slugs) for _ in range(RUNS)]
    for s in sample[:100]:  # warm-up: plans cached, JIT compiled
        selectors.blast_radius(slug=s)
        selectors.dependencies(slug=s, direction="down", depth=3)
    it = iter(sample)
    radius = summary(latencies_ms(lambda: selectors.blast_radius(slug=next(it)), RUNS))
    it = iter(sample)
    hop3 = summary(latencies_ms(lambda: selectors.dependencies(slug=next(it), direction="down", depth=3), RUNS))
    it = iter(sample)
    hop3_up = summary(latencies_ms(lambda: selectors.dependencies(slug=next(it), direction="up", depth=3), RUNS))
    sizes = [selectors.blast_radius(slug=s)["affected_services"] for s in sample[:20]]
    label = f"({topology}, 10k svc, 50k edges)"

    def judged(value, limit):
        return (f"<= {limit} ms", value <= limit) if targets else ("worst case", None)

    yield Row(
        f"blast radius p95 {label}",
        radius["p95"],
        "ms",
        *judged(radius["p95"], 50),
        {**radius, "affected_services_median": sorted(sizes)[len(sizes) // 2]},
    )
    yield Row(f"3-hop dependencies p95 {label}", hop3["p95"], "ms", *judged(hop3["p95"], 20), hop3)
    yield Row(f"3-hop dependents p95 {label}", hop3_up["p95"], "ms", *judged(hop3_up["p95"], 20), hop3_up)
