"""Issue 16's journeys in Debian's Chromium against a live server, real Neo4j and Redis: find a
service by name with tier "any", the numbers of its edges, revoke a key seeing its impact, a
panel that fails shows a retry, and the main pages at 390 px wide. Console errors and failed
requests are collected and must be none (unless the test causes one on purpose)."""

import pytest
from playwright.sync_api import expect

from catalog import services as catalog_services
from graph import services as graph_services
from graph.discovery.latency import Histogram
from tests.browser.conftest import ARTIFACTS, record_failed_requests
from tests.portal.test_numbers import API_SPEC, observe

pytestmark = pytest.mark.browser


@pytest.fixture
def watched(page, live_server):
    """The page's console errors and failed requests (no answer, or an answer of 400 and up)."""
    problems = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    record_failed_requests(page, problems)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.problems = problems
    return page


@pytest.fixture
def fleet(graph, django_user_model):
    from teams.models import Membership, Org, Team

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    org = Org.objects.create(slug="acme", name="Acme")
    alpha = Team.objects.create(org=org, slug="alpha", name="Alpha", oncall_contact="alpha@oncall")
    beta = Team.objects.create(org=org, slug="beta", name="Beta")
    Membership.objects.create(team=alpha, user=root, role="lead")
    made = {}
    for slug, team, tier in (("checkout", alpha, 1), ("payments", alpha, 2), ("ledger", beta, 3), ("search", beta, 4)):
        made[slug] = catalog_services.service_create(actor=root, team=team, slug=slug, name=slug.title(), tier=tier)
    graph_services.graph_sync()
    spans = Histogram((10.0, 100.0, 1000.0), (0.0, 60.0, 0.0, 0.0))
    graph_services.edges_merge(
        [
            observe("checkout", [("payments", 600, 30, spans), ("ledger", 120, 0, None)]),
            observe("payments", [("checkout", 60, 0, None)]),
        ],
        crawl_id=1,
    )
    return {"root": root, **made}


def test_find_a_service_by_name_with_tier_any_and_read_its_edge_numbers(sign_in, watched, fleet):
    page = sign_in(username="root", password="pw")
    page.goto("/services/")
    expect(page.locator("select[name=tier]")).to_have_value("")
    page.fill("form.filters input[name=q]", "ledg")
    # Ledger is tier 3: before the "any" choice, typing sent tier=1 and it vanished.
    expect(page.locator("#service-count")).to_contain_text("1 of 4 services")
    expect(page.locator("#service-rows")).to_contain_text("Ledger")
    page.fill("form.filters input[name=q]", "che")
    # Leaving the field fires its change event (one more search): let it answer before navigating
    # away, or Chromium aborts it and the journey reports a failed request.
    page.keyboard.press("Tab")
    expect(page.locator("#service-count")).to_contain_text("1 of 4 services")
    page.wait_for_load_state("networkidle")
    page.click("#service-rows >> text=Checkout")
    expect(page.locator("h1")).to_contain_text("Checkout")
    out = page.locator("#outbound-calls")
    row = out.locator("tr[data-peer=payments]")
    expect(row).to_contain_text("600.0")
    expect(row).to_contain_text("5.0%")
    expect(row.locator("td.p95")).to_have_text("95.5 ms")
    expect(row.locator(".badge.cycle")).to_be_visible()
    expect(out.locator("tr[data-peer=ledger] .badge.cycle")).to_have_count(0)
    expect(page.locator("#inbound-calls tr[data-peer=payments]")).to_contain_text("60.0")
    # Sorting by calls/min, then the other way.
    out.locator("button.sort", has_text="Calls/min").click()
    assert out.locator("tbody tr").first.get_attribute("data-peer") == "ledger"
    out.locator("button.sort", has_text="Calls/min").click()
    assert out.locator("tbody tr").first.get_attribute("data-peer") == "payments"
    assert out.locator("th").nth(1).get_attribute("aria-sort") == "descending"
    assert page.problems == []


def test_revoke_a_key_seeing_its_impact(sign_in, watched, fleet):
    root = fleet["root"]
    api = catalog_services.api_create(
        actor=root, provider=fleet["payments"], slug="payments-v1", name="Payments", kind="openapi", spec=API_SPEC
    )
    key, _ = catalog_services.key_issue(actor=root, api=api, consumer=fleet["checkout"], name="checkout-prod")
    catalog_services.key_issue(actor=root, api=api, consumer=fleet["checkout"], name="checkout-canary")
    page = sign_in(username="root", password="pw")
    page.goto("/keys/")
    page.fill("form.filters input[name=q]", "checkout-prod")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#key-count")).to_have_text("1 key")
    page.click(f"#key-{key.pk} >> text=Revoke")
    expect(page.locator("#impact-usage")).to_contain_text("Never used")
    expect(page.locator("#impact-others")).to_contain_text("1 other active key")
    expect(page.locator("main")).to_contain_text("these calls will be refused")  # checkout -> payments is observed
    page.fill("#id_reason", "rotated")
    page.click("button.danger")
    expect(page.locator(".messages")).to_contain_text(f"Key {key.key_id} revoked")
    page.goto("/keys/?state=revoked")
    expect(page.locator(f"#key-{key.pk}")).to_contain_text("revoked")
    assert page.problems == []


def test_a_panel_that_fails_to_load_says_so_and_retries(sign_in, watched, fleet):
    from catalog.models import Service

    page = sign_in(username="root", password="pw")
    page.goto("/services/search/")
    expect(page.locator("#outbound-calls")).to_contain_text("Nothing observed")
    # The service is renamed away under the open page: its panels now answer 404.
    Service.objects.filter(slug="search").update(slug="search-old")
    page.select_option("#depth", "2")
    error = page.locator("#deps .panel-error")
    expect(error).to_contain_text("not found (404)")
    expect(page.locator("#deps")).not_to_contain_text("Loading")
    Service.objects.filter(slug="search-old").update(slug="search")
    error.locator("button.retry").click()
    expect(page.locator("#deps h3").first).to_contain_text("depth 2")
    expect(page.locator("#deps .panel-error")).to_have_count(0)
    # The only problems are the one 404 this test caused (and Chromium's and htmx's reports of it).
    unexpected = [p for p in page.problems if "/services/search/dependencies/" not in p and "404" not in p]
    assert unexpected == [] and any("HTTP 404" in p for p in page.problems), page.problems


PHONE_PAGES = [
    "/",
    "/services/",
    "/services/checkout/",
    "/apis/",
    "/keys/",
    "/teams/",
    "/teams/alpha/",
    "/graph/",
    "/discovery/",
    "/edges/?state=erroring",
    "/services/new/",
    "/profile/",
    "/no-such-page/",
]


def test_main_pages_fit_390_px_without_sideways_scrolling(browser, live_server, fleet):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}") if m.type == "error" and "404 (Not Found)" not in m.text else None
        ),
    )
    record_failed_requests(page, problems)
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 and "/no-such-page/" not in r.url else None
        ),
    )
    try:
        page.goto("/accounts/login/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.fill("#id_username", "root")
        page.fill("#id_password", "pw")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Sign out")
        wide = {}
        for path in PHONE_PAGES:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[path] = width
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"390px{path.replace('/', '_')}.png"), full_page=True)
        assert wide == {}
        # The skip link is the first thing a keyboard reaches and moves focus to the content.
        page.goto("/services/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        assert problems == []
    finally:
        context.close()


def test_a_refused_form_focuses_its_first_error(sign_in, watched, fleet):
    page = sign_in(username="root", password="pw")
    page.goto("/services/new/")
    page.select_option("#id_team", label="alpha")
    page.fill("#id_name", "Nameless")
    page.click("main button[type=submit]")
    expect(page.locator(".field.has-error").first).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "id_slug"
    assert [p for p in page.problems if "HTTP 400" not in p and "400 (Bad Request)" not in p] == []


def test_service_form_says_a_team_is_full_before_sending(sign_in, watched, fleet):
    from teams.models import Team

    Team.objects.filter(slug="beta").update(max_services=2)  # ledger and search
    page = sign_in(username="root", password="pw")
    page.goto("/services/new/")
    page.select_option("#id_team", label="alpha")
    expect(page.locator("#team-full")).to_have_count(0)
    page.select_option("#id_team", label="beta")
    expect(page.locator("#team-full")).to_contain_text("at its limit of 2 services")
    expect(page.locator("#team-full")).to_contain_text("Ask an admin of org acme to raise the team's limit")
    page.select_option("#id_team", label="alpha")
    expect(page.locator("#team-full")).to_have_count(0)
    assert page.problems == []
