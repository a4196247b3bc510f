"""Blast radius and 3-hop neighbourhood on 10k services and 50k edges: p95 over random
services, after a warm-up. Targets (issue 17): blast radius <= 25 ms on the layered graph and
<= 80 ms on uniformly random edges (the worst case counts), 3-hop either way <= 10 ms on both."""

import os
import random
import time

from bench.common import Row, latencies_ms, summary
from bench.graphdata import build
from graph import selectors

RUNS = 300


LIMITS = {"layered": {"radius": 25, "hop3": 10}, "random": {"radius": 80, "hop3": 10}}


def run():
    yield from measure("layered")
    yield from measure("random")


def measure(topology: str):
    slugs = build(10_000, 50_000, topology=topology)
    rng = random.Random(3)
    sample = [rng.choice(slugs) for _ in range(RUNS)]
    for s in sample[:100]:  # warm-up: plans cached, JIT compiled
        selectors.blast_radius(slug=s)
        selectors.dependencies(slug=s, direction="down", depth=3)
    it = iter(sample)
    cpu = time.process_time()
    radius = summary(latencies_ms(lambda: selectors.blast_radius(slug=next(it)), RUNS))
    # The machine is shared: this process's CPU per query and the load average say how much of
    # the wall time was ours.
    radius["client_cpu_ms"] = round((time.process_time() - cpu) * 1000 / RUNS, 2)
    radius["load_average"] = os.getloadavg()[0]
    it = iter(sample)
    hop3 = summary(latencies_ms(lambda: selectors.dependencies(slug=next(it), direction="down", depth=3), RUNS))
    it = iter(sample)
    hop3_up = summary(latencies_ms(lambda: selectors.dependencies(slug=next(it), direction="up", depth=3), RUNS))
    sizes = [selectors.blast_radius(slug=s)["affected_services"] for s in sample[:20]]
    label = f"({topology}, 10k svc, 50k edges)"

    limits = LIMITS[topology]

    def judged(value, limit):
        return f"<= {limit} ms", value <= limit

    yield Row(
        f"blast radius p95 {label}",
        radius["p95"],
        "ms",
        *judged(radius["p95"], limits["radius"]),
        {**radius, "affected_services_median": sorted(sizes)[len(sizes) // 2]},
    )
    yield Row(f"3-hop dependencies p95 {label}", hop3["p95"], "ms", *judged(hop3["p95"], limits["hop3"]), hop3)
    yield Row(f"3-hop dependents p95 {label}", hop3_up["p95"], "ms", *judged(hop3_up["p95"], limits["hop3"]), hop3_up)
