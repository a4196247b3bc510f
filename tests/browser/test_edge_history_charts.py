"""The service page's edge history charts (uPlot, vendored) in real headless Chromium against a
live server: drawn under the strict CSP (no refusals, nothing fetched from elsewhere), with axes
titled by unit, a legend naming each edge and the deploy count, for each window."""

import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_service_page_draws_history_charts_with_deploys(sign_in, page, graph):
    from django.contrib.auth import get_user_model

    from catalog.services import service_create
    from changes.models import Deploy
    from changes.services import history_append
    from graph.signals import EdgeSample
    from teams.models import Org, Team

    sign_in()
    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    orders = service_create(actor=root, team=team, slug="orders", name="Orders")
    for slug in ("web", "ledger"):
        service_create(actor=root, team=team, slug=slug, name=slug)
    now = int(time.time())
    samples = []
    for k in range(0, 12 * 24):
        at = (now - 30 - k * 300) * 1000
        samples += [
            EdgeSample("web", "orders", at, 60.0, 0.02, 15.0),
            EdgeSample("orders", "ledger", at, 20.0, 0.0, 3.0),
        ]
    history_append(samples)
    Deploy.objects.create(service=orders, client_id="d1", version="1.2.3")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto("/services/orders/")
    section = page.locator("#edge-history")
    expect(section.locator(".history-chart canvas")).to_have_count(6, timeout=20_000)  # 3 metrics x in/out
    expect(section.locator(".history-status")).to_contain_text("1 deploy(s) marked")
    expect(section).to_contain_text("Outbound (calls it makes)")
    expect(section).to_contain_text("Calls per minute (calls/min)")
    expect(section).to_contain_text("Errors (% of calls)")
    expect(section).to_contain_text("Latency (p95) (ms)")
    expect(section.locator(".u-legend").first).to_contain_text("→ ledger")
    expect(section.locator("[data-direction=in] .u-legend").first).to_contain_text("← web")
    assert section.locator("button[data-window='24h']").get_attribute("aria-pressed") == "true"

    with page.expect_response(lambda r: "window=7d" in r.url):
        section.locator("button[data-window='7d']").click()
    expect(section.locator(".history-chart canvas")).to_have_count(6)
    assert section.locator("button[data-window='7d']").get_attribute("aria-pressed") == "true"
    assert errors == [] and page.external_requests == []
