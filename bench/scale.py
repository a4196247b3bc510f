"""50,000 services / 250,000 edges / 6,000 teams (issue 17), beside the same measures at
10,000 services in the same run:

- full ``graph_sync`` (catalog to Neo4j) of the whole catalog;
- blast radius and 3-hop dependencies p95 on the layered graph (bench/graphdata.py);
- the service page p95 (in-process test client, as bench/pages.py);
- the SQL queries of the REST list, the GraphQL list and the service page: the same count at
  50k as at 10k (a list's cost must not grow with the catalog).

Catalog rows are bulk-inserted (the service layer is benchmarked by bench/catalog.py) under
slugs of their own (``xl-``), in 60 orgs whose limits allow them, and deleted at the end, so
the other benchmarks sharing var/bench.sqlite3 see the catalog they built.

The 50,000-target crawl with one and two Celery workers is bench/crawl_scale.py (it builds
its catalog with ``_grow``)."""

import itertools
import json
import random
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.common import Row, latencies_ms, summary
from bench.graphdata import layered_edges
from catalog.models import Service
from graph import cypher, db, selectors
from graph.services import graph_init, graph_sync, graph_wipe
from teams.models import Org, Team

SIZES = (10_000, 50_000)
EDGES_PER_SERVICE = 5
TEAMS_PER_50K = 6_000
ORGS = 60
PREFIX = "xl-"
RUNS = 200
GRAPHQL = """{ services(first: %d) { edges { node { slug name team { slug oncallContact }
  dependencies(depth: 2) { slug distance team } } } } }"""


SLUG_FORMAT = PREFIX + "svc-{i:05d}"


def _slug(i: int) -> str:
    return SLUG_FORMAT.format(i=i)


def _grow(n: int, fields=None) -> list[str]:
    """Make the ``xl-`` catalog ``n`` services (8.3 a team, as 50,000 over 6,000 teams);
    ``fields(i)``, when given, adds to service i's fields (bench/crawl_scale.py: base URL, aliases)."""
    teams_needed = max(1, n * TEAMS_PER_50K // SIZES[-1])
    orgs = [
        Org.objects.get_or_create(
            slug=f"{PREFIX}org-{o:02d}",
            defaults={"name": f"XL org {o}", "max_services_per_team": 50},
        )[0]
        for o in range(ORGS)
    ]
    have_teams = Team.objects.filter(slug__startswith=PREFIX).count()
    Team.objects.bulk_create(
        [
            Team(org=orgs[t % ORGS], slug=f"{PREFIX}team-{t:04d}", name=f"XL team {t}", oncall_contact=f"oc{t}@e.x")
            for t in range(have_teams, teams_needed)
        ],
        batch_size=2000,
    )
    teams = list(Team.objects.filter(slug__startswith=PREFIX).order_by("slug"))
    have = Service.objects.filter(slug__startswith=PREFIX).count()
    Service.objects.bulk_create(
        [
            Service(
                team=teams[i * teams_needed // n],
                slug=_slug(i),
                name=f"XL service {i}",
                tier=1 + i % 4,
                **(fields(i) if fields else {}),
            )
            for i in range(have, n)
        ],
        batch_size=2000,
    )
    return [_slug(i) for i in range(n)]


def _cleanup() -> None:
    Service.objects.filter(slug__startswith=PREFIX).delete()
    Team.objects.filter(slug__startswith=PREFIX).delete()
    Org.objects.filter(slug__startswith=PREFIX).delete()


def _measure(n: int, client: Client) -> dict:
    slugs = _grow(n)
    graph_wipe()
    graph_init()
    start = time.perf_counter()
    synced = graph_sync()
    sync_s = time.perf_counter() - start
    start = time.perf_counter()
    db.write_batches(
        cypher.MERGE_SERVICE_EDGES,
        layered_edges(slugs, n * EDGES_PER_SERVICE),
        now=1,
        crawl_id=1,
        report_max=0,
    )
    edges_s = time.perf_counter() - start
    rng = random.Random(11)
    sample = [rng.choice(slugs) for _ in range(RUNS)]
    for s in sample[:50]:  # warm-up: plans cached
        selectors.blast_radius(slug=s)
    it = iter(sample)
    radius = summary(latencies_ms(lambda: selectors.blast_radius(slug=next(it)), RUNS))
    it = iter(sample)
    hop3 = summary(latencies_ms(lambda: selectors.dependencies(slug=next(it), direction="down", depth=3), RUNS))

    def get(path):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    it = itertools.cycle(sample)
    for _ in range(5):
        get(f"/services/{next(it)}/")
    page = summary(latencies_ms(lambda: get(f"/services/{next(it)}/"), 100))

    def queries(fn) -> int:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    def gql(first):
        def call():
            body = json.dumps({"query": GRAPHQL % first})
            response = client.post("/graphql", body, content_type="application/json")
            assert response.status_code == 200 and "errors" not in response.json(), response.content[:300]

        return call

    counts = {
        "rest_100": queries(lambda: get("/api/v1/services/?page_size=100")),
        "graphql_100": queries(gql(100)),
        "service_page": queries(lambda: get(f"/services/{sample[0]}/")),
    }
    return {
        "sync_s": sync_s,
        "synced": synced,
        "edges_s": edges_s,
        "radius": radius,
        "hop3": hop3,
        "page": page,
        "counts": counts,
    }


def run():
    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "b@e.x", "bench"
    )
    client = Client()
    client.force_login(user)
    _cleanup()
    try:
        small, big = (_measure(n, client) for n in SIZES)
    finally:
        _cleanup()
    label = "50k svc, 250k edges"
    yield Row(
        f"graph_sync, whole catalog ({label})",
        round(big["sync_s"], 2),
        "s",
        "<= 60 s",
        big["sync_s"] <= 60,
        {"counts": big["synced"], "at_10k_s": round(small["sync_s"], 2)},
    )
    yield Row(f"edges written ({label}, batched)", round(big["edges_s"], 2), "s", "", None, {})
    yield Row(
        f"blast radius p95 ({label}, layered)",
        big["radius"]["p95"],
        "ms",
        "<= 100 ms",
        big["radius"]["p95"] <= 100,
        {"50k": big["radius"], "10k": small["radius"]},
    )
    yield Row(
        f"3-hop dependencies p95 ({label})",
        big["hop3"]["p95"],
        "ms",
        "",
        None,
        {"50k": big["hop3"], "10k": small["hop3"]},
    )
    yield Row(
        f"service page p95 ({label})",
        big["page"]["p95"],
        "ms",
        "<= 150 ms",
        big["page"]["p95"] <= 150,
        {"50k": big["page"], "10k": small["page"]},
    )
    for key, what in (
        ("rest_100", "REST list of 100"),
        ("graphql_100", "GraphQL list of 100"),
        ("service_page", "service page"),
    ):
        extra = big["counts"][key] - small["counts"][key]
        yield Row(
            f"{what}: SQL queries at 50k minus at 10k",
            extra,
            "queries",
            "= 0",
            extra == 0,
            {"10k": small["counts"][key], "50k": big["counts"][key]},
        )
