"""Neo4j ingest of 100k call edges: batched UNWIND writes versus one query per edge
(the naive way is measured on a sample and compared per edge)."""

import time

from bench.common import Row
from bench.graphdata import random_edges
from graph import cypher, db
from graph.services import graph_init, graph_wipe

N_SERVICES, N_EDGES, NAIVE_SAMPLE = 10_000, 100_000, 2_000


def run():
    graph_wipe()
    graph_init()
    slugs = [f"svc-{i:05d}" for i in range(N_SERVICES)]
    db.write_batches(
        cypher.PROJECT_SERVICES,
        [{"slug": s, "name": s, "tier": 1, "lifecycle": "production", "team": "t", "org": "o"} for s in slugs],
        tag=1,
    )
    edges = random_edges(slugs, N_EDGES + NAIVE_SAMPLE)
    batched, naive = edges[:N_EDGES], edges[N_EDGES:]

    start = time.perf_counter()
    db.write_batches(cypher.MERGE_SERVICE_EDGES, batched, now=1, crawl_id=1, report_max=0)
    batched_s = time.perf_counter() - start

    start = time.perf_counter()
    for e in naive:
        db.write(
            cypher.MERGE_ONE_SERVICE_EDGE, src=e["src"], dst=e["dst"], now=1, calls=e["props"]["calls"], errors=0.0
        )
    naive_s = time.perf_counter() - start
    count = db.read("MATCH ()-[r:CALLS]->() RETURN count(r) AS n")[0]["n"]
    assert count == N_EDGES + NAIVE_SAMPLE, count
    per_edge_batched = batched_s / N_EDGES
    per_edge_naive = naive_s / NAIVE_SAMPLE
    speedup = per_edge_naive / per_edge_batched
    yield Row(
        "graph ingest 100k edges, batched",
        round(batched_s, 3),
        "s",
        "<= 5 s",
        batched_s <= 5,
        {"edges_per_s": round(N_EDGES / batched_s)},
    )
    yield Row(
        "graph ingest, one query per edge (2k sample)",
        round(per_edge_naive * 1000, 3),
        "ms/edge",
        "",
        None,
        {
            "sample": NAIVE_SAMPLE,
            "seconds": round(naive_s, 3),
            "extrapolated_100k_s": round(per_edge_naive * N_EDGES, 1),
        },
    )
    yield Row("graph ingest speed-up, batched vs per edge", round(speedup, 1), "x", ">= 20x", speedup >= 20)
