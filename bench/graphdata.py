"""A synthetic graph in Neo4j: N services in teams of 8, E random call edges."""

import random

from graph import cypher, db
from graph.services import graph_init, graph_wipe


def build(n_services: int, n_edges: int, *, seed: int = 7) -> list[str]:
    graph_wipe()
    graph_init()
    slugs = [f"svc-{i:05d}" for i in range(n_services)]
    rows = [{"slug": s, "name": s, "tier": 1 + i % 4, "lifecycle": "production", "team": f"team-{i // 8:04d}",
             "org": f"org-{i // 800}"} for i, s in enumerate(slugs)]
    db.write_batches(cypher.PROJECT_SERVICES, rows, tag=1)
    edges = random_edges(slugs, n_edges, seed=seed)
    db.write_batches(cypher.MERGE_SERVICE_EDGES, edges, now=1, crawl_id=1)
    return slugs


def random_edges(slugs: list[str], n_edges: int, *, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    seen, edges = set(), []
    while len(edges) < n_edges:
        a, b = rng.sample(slugs, 2)
        if (a, b) in seen:
            continue
        seen.add((a, b))
        calls = float(rng.randint(1, 10_000))
        edges.append({"src": a, "dst": b, "source": "prometheus",
                      "props": {"calls": calls, "errors": 0.0, "rate_per_min": calls / 60, "error_rate": 0.0}})
    return edges
