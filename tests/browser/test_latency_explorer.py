"""Edge latency in the graph explorer, in real headless Chromium against a live server and
real Neo4j: the tooltip on hover, and the "colour by p95" toggle."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_edge_tooltip_shows_quantiles_and_the_toggle_colours_edges_by_p95(sign_in, page, graph):
    from django.contrib.auth import get_user_model

    from catalog.services import service_create
    from graph import services
    from graph.discovery.latency import Histogram
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge
    from teams.models import Org, Team

    sign_in()
    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    for slug in ("web", "orders", "search"):
        service_create(actor=root, team=team, slug=slug, name=slug)
    services.graph_sync()
    slow = Histogram((10.0, 100.0, 1000.0, 2000.0), (0.0, 0.0, 0.0, 10.0, 0.0))  # all between 1 and 2 s
    edges = [
        ObservedEdge("web", Target("service", "orders"), 10, 0, latency=slow),
        ObservedEdge("web", Target("service", "search"), 10, 0),  # no latency known
    ]
    services.edges_merge(
        [Observation(target="web", source="otlp", service_slug="web", ok=True, window_seconds=60, edges=edges)],
        crawl_id=1,
    )
    page.goto("/graph/?group=")  # every service, not grouped
    expect(page.locator("#graph-status")).to_contain_text("laid out in", timeout=20_000)
    point = page.evaluate(
        """() => { const cy = document.getElementById('cy')._cyreg.cy;
                   const e = cy.edges().filter(x => x.target().id() === 'orders')[0];
                   const p = e.renderedMidpoint(); const box = cy.container().getBoundingClientRect();
                   return {x: box.left + p.x, y: box.top + p.y}; }"""
    )
    page.mouse.move(point["x"], point["y"])
    tip = page.locator(".edge-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("web → orders")
    expect(tip).to_contain_text("p50 1500 ms · p95 1950 ms · p99 1990 ms")

    colour = """t => getComputedStyle(document.body) && document.getElementById('cy')._cyreg.cy.edges()
                   .filter(x => x.target().id() === t)[0].style('line-color')"""
    before = page.evaluate(colour, "orders")
    page.check("#colour-p95")
    assert page.evaluate(colour, "orders") == "rgb(230,40,40)" != before  # p95 ≥ 1 s: red
    assert page.evaluate(colour, "search") == "rgb(195,201,208)"  # unknown: light grey
    page.uncheck("#colour-p95")
    assert page.evaluate(colour, "orders") == before
