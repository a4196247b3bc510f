"""Numbers where people look: the service page's edge table, the dashboard's fleet health,
the services list and the key list (Django client, real Neo4j and Redis)."""

import re

import pytest

from catalog import services as catalog_services
from graph import services as graph_services
from graph.discovery.latency import Histogram
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge


def observe(src, edges, *, window=60):
    """One windowed observation from ``src``: ``edges`` is [(dst, calls, errors, latency histogram or None)]."""
    return Observation(
        target=src,
        source="otlp",
        service_slug=src,
        ok=True,
        window_seconds=window,
        edges=[
            ObservedEdge(src, Target("service", dst) if "." not in dst else Target("endpoint", dst), c, e, latency=h)
            for dst, c, e, h in edges
        ],
    )


@pytest.fixture
def ring(world, graph):
    """a -> b -> a (a cycle), a -> c (not), with rates, errors and latency on a -> c."""
    for slug in ("a", "b", "c"):
        catalog_services.service_create(actor=world["root"], team=world["team"], slug=slug, name=slug.upper())
    graph_services.graph_sync()
    spans = Histogram((10.0, 100.0, 1000.0), (0.0, 0.0, 60.0, 0.0))
    graph_services.edges_merge(
        [observe("a", [("b", 120, 0, None), ("c", 600, 30, spans)]), observe("b", [("a", 60, 0, None)])],
        crawl_id=1,
    )
    return world


def rows(html, table_id):
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr data-peer="([^"]+)">.*?</tr>', table, re.S)}


def test_service_page_edge_table_has_numbers_last_seen_and_cycle_badges(ring, client):
    client.force_login(ring["reader"])
    html = client.get("/services/a/dependencies/?depth=1").content.decode()
    out = rows(html, "outbound-calls")
    assert set(out) == {"b", "c"}
    assert "badge cycle" in out["b"] and "badge cycle" not in out["c"]
    # 600 calls, 30 errors in a 60 s window: 600/min, 5.0 %; all 60 spans in (100, 1000] ms: p95 955 ms.
    assert ">600.0<" in out["c"] and ">5.0%<" in out["c"] and "955.0 ms" in out["c"]
    assert re.search(r'<time datetime="[^"]+"[^>]*>0\xa0minutes ago</time>', out["c"]), out["c"]
    assert 'data-type="number">Calls/min' in html and 'class="calls sortable"' in html
    inbound = rows(html, "inbound-calls")
    assert set(inbound) == {"b"} and "badge cycle" in inbound["b"]
    html_c = client.get("/services/c/dependencies/?depth=1").content.decode()
    assert "badge cycle" not in rows(html_c, "inbound-calls")["a"]


def test_service_page_shell_runs_no_graph_query(ring, client):
    """The edge table lives in the htmx panel: the page shell is unchanged (benchmarked)."""
    client.force_login(ring["reader"])
    html = client.get("/services/a/").content.decode()
    assert "outbound-calls" not in html and 'hx-get="/services/a/dependencies/"' in html
