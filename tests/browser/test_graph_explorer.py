"""The graph you can read (issue 16), in Debian's Chromium against a live server and real Neo4j:
the aggregated view, expanding a team, an edge's numbers, a shared URL, the back button, Find
(and "not found"), a path to a filtered-out service, the list view. Console errors and failed
requests are collected and must be none; screenshots land in test-artifacts/ for the README."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, record_failed_requests

pytestmark = pytest.mark.browser

CY = "document.getElementById('cy')._cyreg.cy"
IDS = f"() => {CY}.nodes().map(n => n.id()).sort()"


@pytest.fixture
def watched(page):
    problems = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    record_failed_requests(page, problems)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.problems = problems
    return page


@pytest.fixture
def fleet(graph, django_user_model):
    from catalog.services import service_create
    from graph import services
    from graph.discovery.latency import histogram_from_values
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge
    from teams.models import Org, Team

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    acme = Org.objects.create(slug="acme", name="Acme")
    alpha = Team.objects.create(org=acme, slug="alpha", name="Alpha")
    beta = Team.objects.create(org=acme, slug="beta", name="Beta")
    gamma = Team.objects.create(org=Org.objects.create(slug="globex", name="Globex"), slug="gamma", name="Gamma")
    for slug, team, tier in [
        ("web", alpha, 2),
        ("orders", alpha, 1),
        ("lonely", alpha, 3),
        ("payments", beta, 1),
        ("ledger", beta, 3),
        ("bank", gamma, 4),
    ]:
        service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier)
    services.graph_sync()

    def obs(src, *edges):
        o = Observation(target=src, source="otlp", service_slug=src, ok=True, window_seconds=60)
        for dst, calls, errors in edges:
            o.edges.append(
                ObservedEdge(src, Target("service", dst), calls, errors, latency=histogram_from_values([80] * 20))
            )
        return o

    services.edges_merge(
        [
            obs("web", ("orders", 10, 0), ("payments", 30, 3)),
            obs("orders", ("payments", 10, 5)),
            obs("payments", ("ledger", 8, 0)),
            obs("ledger", ("bank", 20, 1)),
        ],
        crawl_id=1,
    )


def point(page, expr):
    return page.evaluate(
        f"""() => {{ const cy = {CY}; const p = {expr};
                   const box = cy.container().getBoundingClientRect(); return {{x: box.left + p.x, y: box.top + p.y}}; }}"""
    )


def test_aggregated_view_expand_edge_numbers_share_back_find_and_path(fleet, sign_in, watched):
    page = watched
    sign_in("root", "pw")
    status = page.locator("#graph-status")
    page.goto("/graph/")
    expect(status).to_contain_text("2 nodes, 1 edges; laid out in", timeout=20_000)
    assert page.evaluate(IDS) == ["org:acme", "org:globex"]
    expect(page.locator(".graph-legend")).to_contain_text("stale")

    # The team filter offers only the chosen org's teams.
    page.select_option("#filter-org", "globex")
    teams = "() => [...document.querySelectorAll('#filter-team option')].filter(o => !o.hidden).map(o => o.value)"
    assert page.evaluate(teams) == ["", "gamma"]
    page.select_option("#filter-org", "")

    page.select_option("#group", "team")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("3 nodes, 2 edges; laid out in", timeout=20_000)
    assert "group=team" in page.url
    gamma_before = page.evaluate(f"() => {CY}.getElementById('team:gamma').position()")
    page.evaluate("() => { window.__graphLayoutMs = -1; }")

    # Expand team alpha with a click: its services appear inside it, the rest keep their places.
    at = point(page, "cy.getElementById('team:alpha').renderedPosition()")
    page.mouse.click(at["x"], at["y"])
    expect(status).to_contain_text("6 nodes, 4 edges; updated in", timeout=20_000)
    assert page.evaluate(IDS) == ["lonely", "orders", "team:alpha", "team:beta", "team:gamma", "web"]
    assert "expand=alpha" in page.url
    assert page.evaluate(f"() => {CY}.getElementById('web').parent().id()") == "team:alpha"
    # No layout of the whole graph ran again; a node in the group's way moved along one axis only.
    assert page.evaluate("() => window.__graphLayoutMs") == -1
    gamma_after = page.evaluate(f"() => {CY}.getElementById('team:gamma').position()")
    assert gamma_after["x"] == gamma_before["x"] or gamma_after["y"] == gamma_before["y"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graph-explorer-team-expanded.png"))

    # Follow an edge to its numbers: hover it.
    at = point(
        page,
        """(() => { const e = cy.getElementById('e:web>team:beta'), a = e.renderedSourceEndpoint(),
                    b = e.renderedTargetEndpoint(); return {x: a.x + 0.7 * (b.x - a.x), y: a.y + 0.7 * (b.y - a.y)}; })()""",
    )
    page.mouse.move(at["x"], at["y"])
    tip = page.locator("#cy-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("web → team:beta")
    expect(tip).to_contain_text("30.0 calls/min · 10.0% errors")
    expect(tip).to_contain_text("sources: otlp")
    page.screenshot(path=str(ARTIFACTS / "graph-explorer-edge-numbers.png"))

    # Share the URL: a fresh page opening it shows the same view.
    shared = page.url
    other = page.context.new_page()
    other.on("pageerror", lambda e: page.problems.append(f"pageerror: {e}"))
    other.goto(shared)
    expect(other.locator("#graph-status")).to_contain_text("6 nodes, 4 edges; laid out in", timeout=20_000)
    assert other.evaluate(IDS) == page.evaluate(IDS)
    assert other.locator("#group").input_value() == "team"
    other.close()

    # Back: the teams before the expansion.
    page.go_back()
    expect(status).to_contain_text("3 nodes, 2 edges", timeout=20_000)
    assert "expand" not in page.url

    # Find by name opens its neighbourhood; an unknown name says so.
    page.fill("#find", "Paym")  # suggestions as one types
    expect(page.locator("#find-suggestions option[value=payments]")).to_have_count(1)
    page.fill("#find", "Payments")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("4 nodes, 4 edges; laid out in", timeout=20_000)
    assert "focus=payments" in page.url
    assert page.evaluate(IDS) == ["ledger", "orders", "payments", "web"]
    page.fill("#find", "no-such-service")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("Not found: no service named or slugged “no-such-service”.")

    # A path to a service the filters hide gives a message; without the filter it is drawn.
    page.fill("#find", "")
    page.fill("input[name=from]", "web")
    page.fill("input[name=to]", "Bank")
    page.select_option("select[name=tier]", "1")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("web is hidden by the filter tier 1: clear it to find a path.", timeout=20_000)
    page.select_option("select[name=tier]", "")
    page.click("#graph-filters button[type=submit]")
    expect(status).to_contain_text("Path: web → payments → ledger → bank", timeout=20_000)
    sizes = page.evaluate(f"() => {CY}.nodes().map(n => n.width())")
    assert min(sizes) >= 14  # highlighted, not shrunk
    page.screenshot(path=str(ARTIFACTS / "graph-explorer-path.png"))
    assert page.problems == []


def _list_view_of_team_beta(page, sign_in):
    """Signed in, the teams view with beta expanded, its list view opened by keyboard."""
    sign_in("root", "pw")
    page.goto("/graph/?group=team&expand=beta")
    expect(page.locator("#graph-status")).to_contain_text("5 nodes, 3 edges", timeout=20_000)
    page.focus("#graph-list-toggle")
    page.keyboard.press("Enter")
    expect(page.locator("#graph-list-edges tr")).to_have_count(3)


def test_list_view_by_keyboard(fleet, sign_in, watched):
    page = watched
    _list_view_of_team_beta(page, sign_in)
    expect(page.locator("#graph-list-nodes")).to_contain_text("Collapse")
    page.locator("#graph-list-edges tr", has_text="ledger → team:gamma").focus()
    expect(page.locator("#cy-tip")).to_contain_text("20.0 calls/min · 5.0% errors")
    page.locator("#graph-list-nodes tr", has_text="payments").get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#graph-status")).to_contain_text("laid out in", timeout=20_000)
    assert "focus=payments" in page.url
    page.screenshot(path=str(ARTIFACTS / "graph-explorer-list.png"), full_page=True)
    assert page.problems == []


def test_service_page_neighbourhood_includes_other_teams(fleet, sign_in, watched):
    page = watched
    sign_in("root", "pw")
    page.goto("/services/ledger/")
    mini = "document.getElementById('neighbourhood')"
    page.wait_for_function(f"() => !!({mini}._cyreg && {mini}._cyreg.cy.nodes().length)", timeout=20_000)
    assert page.evaluate(f"() => {mini}._cyreg.cy.nodes().map(n => n.id()).sort()") == ["bank", "ledger", "payments"]
    assert page.problems == []


def test_tab_reaches_every_edge_row_with_its_numbers(fleet, sign_in, watched):
    """Keyboard users focus an edge (issue 16): Tab alone moves from the list toggle to the edge
    rows, each row shows calls/min, error %, p95, last seen and sources, and focusing one shows the
    same numbers in the canvas's tooltip."""
    page = watched
    _list_view_of_team_beta(page, sign_in)
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        edge = page.evaluate("() => document.activeElement.dataset.edge || null")
        if edge:
            reached.append(edge)
        if len(reached) == 3:
            break
    assert sorted(reached) == ["e:ledger>team:gamma", "e:payments>ledger", "e:team:alpha>payments"]
    row = page.locator("#graph-list-edges tr[data-edge='e:payments>ledger']")
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "payments → ledger"
    assert cells[1] == "8.0"  # calls/min
    assert cells[2] == "0.0%"  # errors
    assert cells[3].endswith(" ms") and cells[3] != "– ms"  # p95
    assert cells[4].endswith("ago")  # last seen
    assert cells[5] == "otlp"  # sources
    expect(page.locator("#cy-tip")).to_contain_text("calls/min")  # the last row focused shows its numbers
    assert page.problems == []
