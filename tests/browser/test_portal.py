"""The portal in real headless Chromium against a live server, real Neo4j, Redis and a
real Celery worker. Screenshots of failures land in test-artifacts/."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_sign_in_and_out(sign_in, page):
    sign_in()
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto("/services/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    assert page.external_requests == []


def test_create_a_team_fill_it_to_its_limit_and_see_the_refusal(sign_in, page, django_user_model):
    from teams.models import Org

    Org.objects.create(slug="acme", name="Acme", max_members_per_team=2)
    for name in ("ann", "bob", "cid"):
        django_user_model.objects.create_user(name, password="pw")
    sign_in()
    page.goto("/teams/new/")
    page.select_option("#id_org", label="acme")
    page.fill("#id_slug", "rockets")
    page.fill("#id_name", "Rockets")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Rockets")
    for name in ("ann", "bob"):
        page.fill("#id_username", name)
        page.click("#member-form button[type=submit]")
        expect(page.locator(".messages")).to_contain_text(f"{name} joined rockets")
    expect(page.locator("#member-form .warning")).to_contain_text("at its member limit (2)")
    page.fill("#id_username", "cid")
    page.click("#member-form button[type=submit]")
    expect(page.locator("#member-form .form-error")).to_contain_text("Team 'rockets' is at its limit of 2 members")
    from teams.models import Team

    assert Team.objects.get(slug="rockets").memberships.count() == 2


def test_register_a_service_with_inline_errors(sign_in, page):
    from teams.models import Org, Team

    Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    sign_in()
    page.goto("/services/new/")
    page.select_option("#id_team", label="alpha")
    page.fill("#id_slug", "billing")
    page.fill("#id_name", "Billing")
    page.fill("#id_base_url", "ftp://nope")
    page.click("main button[type=submit]")
    expect(page.locator(".field.has-error .error")).to_contain_text("Enter a valid URL")
    page.fill("#id_base_url", "http://127.0.0.1:9")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Billing")
    expect(page.locator(".messages")).to_contain_text("registered")


@pytest.mark.worker
def test_run_a_crawl_and_watch_progress_reach_100(sign_in, page, celery_workers, graph, run_fleet, settings):
    from devtools import fleet
    from graph import services

    settings.DISCOVERY_CHUNK_SIZE = 10
    sign_in()
    from django.contrib.auth import get_user_model

    running = run_fleet(40, seed=2)
    fleet.register(running.services, actor=get_user_model().objects.get(username="root"))
    services.graph_sync()
    celery_workers(1)
    page.goto("/discovery/")
    page.click("#crawl-now")
    expect(page.locator(".messages")).to_contain_text("queued")
    expect(page.locator(".run-progress .pct").first).to_have_text("100%", timeout=60_000)
    expect(page.locator(".run-progress .badge").first).to_have_text("succeeded")

    # A team page draws the team-to-team graph from the observed calls.
    page.goto("/teams/fleet-team-000/")
    page.wait_for_function(
        "() => !!(document.getElementById('team-graph') && document.getElementById('team-graph')._cyreg)"
    )
    assert page.evaluate("document.getElementById('team-graph')._cyreg.cy.nodes().length") >= 2

    # The explorer lays the crawled graph out; clicking a node loads its side panel.
    page.goto("/graph/?group=")  # every service, not grouped
    expect(page.locator("#graph-status")).to_contain_text("laid out in", timeout=20_000)
    caller = sorted(running.truth)[0][0]
    point = page.evaluate(
        """slug => { const cy = document.getElementById('cy')._cyreg.cy; const n = cy.getElementById(slug);
                     const p = n.renderedPosition(); const box = cy.container().getBoundingClientRect();
                     return {x: box.left + p.x, y: box.top + p.y}; }""",
        caller,
    )
    page.mouse.click(point["x"], point["y"])
    expect(page.locator("#side-panel h2")).to_have_text(caller)
    expect(page.locator("#side-panel")).to_contain_text("Calls")


def test_issue_a_key_see_it_once_and_revoke_it(sign_in, page):
    from django.contrib.auth import get_user_model

    from catalog.services import api_create, service_create
    from teams.models import Org, Team

    sign_in()
    root = get_user_model().objects.get(username="root")
    org = Org.objects.create(slug="acme", name="Acme")
    alpha = Team.objects.create(org=org, slug="alpha", name="Alpha")
    provider = service_create(actor=root, team=alpha, slug="orders", name="Orders")
    api_create(actor=root, provider=provider, slug="orders-v1", name="Orders v1", kind="other")
    service_create(actor=root, team=alpha, slug="web", name="Web")
    page.goto("/keys/issue/?api=orders-v1")
    page.select_option("#id_consumer", label="web")
    page.fill("#id_name", "prod")
    page.click("main button[type=submit]")
    secret = page.input_value("#secret")
    assert secret.startswith("swb_")
    page.wait_for_load_state()  # copy.js, at the page's end, listens only once it has run
    page.click("#copy-secret")
    expect(page.locator("#copy-secret")).to_have_text("Copied")
    page.goto("/keys/")
    assert secret not in page.content()
    page.click("a.danger:has-text('Revoke')")  # not the state filter's "revoked" option
    expect(page.locator("h2")).to_contain_text("What will break")
    page.fill("#id_reason", "test over")
    page.click("button.danger")
    expect(page.locator(".messages")).to_contain_text("revoked")
    expect(page.locator("table")).to_contain_text("revoked")


def test_hostile_names_render_as_text_everywhere(sign_in, page, graph):
    from django.contrib.auth import get_user_model

    from catalog.services import service_create
    from graph.services import graph_sync
    from teams.models import Org, Team

    sign_in()
    evil = "<img src=x onerror=alert(1)>"
    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(
        org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name=evil, oncall_contact=evil
    )
    service_create(actor=root, team=team, slug="evil", name=evil, description=evil)
    graph_sync()
    for path in ("/services/", "/services/evil/", "/teams/", "/teams/alpha/"):
        page.goto(path)
        expect(page.locator("body")).to_contain_text(evil)
        assert page.locator("img[src=x]").count() == 0
    page.fill("#global-search", "evil")
    expect(page.locator("#search-results")).to_contain_text(evil)
    page.goto("/graph/")
    expect(page.locator("#graph-status")).to_contain_text("laid out in", timeout=20_000)
    assert page.dialogs == [] and page.locator("img[src=x]").count() == 0
