"""Scorecards in real headless Chromium against a live server: the service page's panel loads
when scrolled to and names each check's reason; a scorecard's page draws its trend (uPlot) under
the strict CSP; the YAML editor shows file:line errors."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_scorecard_panel_trend_and_editor(sign_in, page, graph):
    from django.contrib.auth import get_user_model

    from catalog.services import service_create
    from graph.services import graph_sync
    from scorecards import services
    from scorecards.models import Scorecard, ScorecardSnapshot
    from teams.models import Org, Team

    sign_in()
    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    service_create(actor=root, team=team, slug="orders", name="Orders")
    graph_sync()
    services.scorecards_load(
        actor=None,
        text="slug: basics\nname: Basics\nlevels: [Bronze, Silver]\nchecks:\n"
        "  - {type: has_owner_oncall, level: Bronze}\n  - {type: seen_recently, level: Silver}\n",
        recompute=False,
    )
    services.recompute()
    card = Scorecard.objects.get(slug="basics")
    for days in (3, 2, 1):  # earlier days of history, as earlier runs would have left them
        ScorecardSnapshot.objects.create(
            scorecard=card,
            day=(timezone.now() - timedelta(days=days)).date(),
            scope="all",
            key="",
            counts=[0, 1, 0],
            computed_at=timezone.now(),
        )
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto("/services/orders/")
    page.locator("#scorecards-panel").scroll_into_view_if_needed()  # loaded when revealed
    panel = page.locator("#scorecards")
    expect(panel).to_contain_text("Team alpha has no on-call contact.", timeout=20_000)
    expect(panel).to_contain_text("Not seen in telemetry in 30 days (last seen never).")

    page.goto("/scorecards/basics/")
    trend = page.locator("#scorecard-trend")
    expect(trend.locator("canvas")).to_have_count(1, timeout=20_000)
    expect(trend.locator(".u-legend")).to_contain_text("Bronze")
    expect(trend.locator(".trend-status")).to_contain_text("4 days")

    page.goto("/scorecards/basics/edit/")
    page.fill("textarea[name=definition]", "slug: basics\nlevels: [A]\nchecks:\n  - type: nope\n")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#definition-errors")).to_contain_text(
        "definition:4: checks[0].type: Unknown check type 'nope'"
    )
    # The refused definition is answered 400 (Chromium logs the status itself); nothing else.
    assert [e for e in errors if "status of 400" not in e] == [] and page.external_requests == []
