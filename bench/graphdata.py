"""Synthetic graphs in Neo4j for the query benchmarks.

``layered``: what service meshes look like: ten layers (edge, BFF, domain, ..., data
stores), calls go one or two layers down, mostly within the caller's domain, and a tenth
to any service of the next layer (shared platform services). ``random``: uniformly random
edges, the worst case, where almost everything depends on almost everything."""

import random

from graph import cypher, db
from graph.services import graph_init, graph_wipe

LAYERS, DOMAINS = 10, 20


def build(
    n_services: int, n_edges: int, *, topology: str = "layered", seed: int = 7, system_size: int | None = None
) -> list[str]:
    """``system_size``: put every run of that many services in one system (``sys-NNN``), else none."""
    graph_wipe()
    graph_init()
    slugs = [f"svc-{i:05d}" for i in range(n_services)]
    rows = [
        {
            "slug": s,
            "name": s,
            "tier": 1 + i % 4,
            "lifecycle": "production",
            "team": f"team-{i // 8:04d}",
            "org": f"org-{i // 800}",
            "system": f"sys-{i // system_size:03d}" if system_size else None,
        }
        for i, s in enumerate(slugs)
    ]
    db.write_batches(cypher.PROJECT_SERVICES, rows, tag=1)
    make = layered_edges if topology == "layered" else random_edges
    db.write_batches(cypher.MERGE_SERVICE_EDGES, make(slugs, n_edges, seed=seed), now=1, crawl_id=1, report_max=0)
    return slugs


def _edge(a: str, b: str, rng) -> dict:
    calls = float(rng.randint(1, 10_000))
    return {
        "src": a,
        "dst": b,
        "source": "prometheus",
        "props": {"calls": calls, "errors": 0.0, "rate_per_min": calls / 60, "error_rate": 0.0},
    }


def random_edges(slugs: list[str], n_edges: int, *, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    seen, edges = set(), []
    while len(edges) < n_edges:
        a, b = rng.sample(slugs, 2)
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append(_edge(a, b, rng))
    return edges


def layered_edges(slugs: list[str], n_edges: int, *, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    per_layer = len(slugs) // LAYERS
    per_domain = per_layer // DOMAINS

    def pick(layer: int, domain: int) -> str:
        if rng.random() < 0.1:
            return slugs[layer * per_layer + rng.randrange(per_layer)]
        return slugs[layer * per_layer + domain * per_domain + rng.randrange(per_domain)]

    seen, edges = set(), []
    while len(edges) < n_edges:
        i = rng.randrange(per_layer * (LAYERS - 1))
        layer, offset = divmod(i, per_layer)
        target_layer = min(LAYERS - 1, layer + (1 if rng.random() < 0.8 else 2))
        a, b = slugs[i], pick(target_layer, offset // per_domain)
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append(_edge(a, b, rng))
    return edges
