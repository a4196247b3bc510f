"""The graph explorer grouped by system (issue 12), in real headless Chromium against a live
server and real Neo4j: the "Group by system" toggle, and a click expanding a system."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CY = "document.getElementById('cy')._cyreg.cy"


def test_group_by_system_then_click_a_system_to_show_its_services(sign_in, page, graph):
    from django.contrib.auth import get_user_model

    from catalog.services import owned_create, service_create
    from graph import services
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge
    from teams.models import Org, Team

    sign_in()
    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    shop = owned_create("system", actor=root, team=team, slug="shop", name="Shop")
    money = owned_create("system", actor=root, team=team, slug="money", name="Money")
    for slug, system in [("web", shop), ("orders", shop), ("payments", money), ("ledger", money), ("search", None)]:
        service_create(actor=root, team=team, slug=slug, name=slug, system=system)
    services.graph_sync()
    calls = {"web": ["orders", "payments", "search"], "orders": ["ledger"], "payments": ["ledger"]}
    services.edges_merge(
        [
            Observation(
                target=src,
                source="otlp",
                service_slug=src,
                ok=True,
                window_seconds=60,
                edges=[ObservedEdge(src, Target("service", dst), 6, 0) for dst in dsts],
            )
            for src, dsts in calls.items()
        ],
        crawl_id=1,
    )
    page.goto("/graph/?group=")
    status = page.locator("#graph-status")
    expect(status).to_contain_text("5 nodes, 5 edges; laid out in", timeout=20_000)

    page.select_option("#group", "system")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("3 nodes, 2 edges; laid out in", timeout=20_000)
    ids = f"() => {CY}.nodes().map(n => n.id()).sort()"
    assert page.evaluate(ids) == ["search", "system:money", "system:shop"]
    tip = page.evaluate(f"() => {CY}.edges().filter(e => e.target().id() === 'system:money')[0].data('tip')")
    assert "system:shop → system:money" in tip and "2 call edges" in tip and "12.0 calls/min" in tip

    point = page.evaluate(
        f"""() => {{ const cy = {CY}; const p = cy.getElementById('system:money').renderedPosition();
                   const box = cy.container().getBoundingClientRect(); return {{x: box.left + p.x, y: box.top + p.y}}; }}"""
    )
    page.mouse.click(point["x"], point["y"])
    expect(status).to_contain_text("5 nodes, 4 edges; updated in", timeout=20_000)
    assert page.evaluate(ids) == ["ledger", "payments", "search", "system:money", "system:shop"]

    page.select_option("#group", "")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("5 nodes, 5 edges; laid out in", timeout=20_000)
