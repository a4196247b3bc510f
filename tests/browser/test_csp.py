"""The Content-Security-Policy is on and nothing the portal, Swagger UI or GraphiQL needs is
refused by it (Chromium reports every refusal as a console error); the sign-in throttle's
message reaches the page."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _watch(page):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_portal_swagger_and_graphiql_load_without_csp_violations(sign_in, page, graph):
    from catalog.services import api_create, service_create
    from graph.services import graph_sync
    from teams.models import Org, Team

    sign_in()
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.get(username="root")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    svc = service_create(actor=root, team=team, slug="orders", name="Orders")
    api_create(actor=root, provider=svc, slug="orders-v1", name="Orders v1")
    service_create(actor=root, team=team, slug="web", name="Web")
    graph_sync()
    errors = _watch(page)

    response = page.goto("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    with page.expect_response(lambda r: "/dependencies/" in r.url):
        page.goto("/services/orders/")
    page.wait_for_function("() => !!document.getElementById('neighbourhood')._cyreg")  # a function: CSP forbids eval
    page.goto("/teams/alpha/")
    page.goto("/graph/")
    expect(page.locator("#graph-status")).to_contain_text("laid out in", timeout=20_000)
    page.goto("/keys/issue/?api=orders-v1")
    page.fill("#global-search", "ord")
    expect(page.locator("#search-results")).to_contain_text("orders")

    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Switchboard API", timeout=20_000)
    expect(page.locator(".opblock").first).to_be_visible()

    page.goto("/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible(timeout=20_000)
    page.wait_for_timeout(500)  # let GraphiQL fetch the schema (introspection)

    refusals = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
    assert refusals == [], refusals
    assert errors == [], errors
    assert page.external_requests == []


def test_the_sign_in_page_shows_the_throttle_message(page, settings, django_user_model):
    settings.AXES_FAILURE_LIMIT = 2
    django_user_model.objects.create_user("ann", password="right-password")
    page.goto("/accounts/login/")
    for password in ("wrong", "wrong", "right-password"):
        page.fill("#id_username", "ann")
        page.fill("#id_password", password)
        page.click("button[type=submit]")
    expect(page.locator("#login-throttled")).to_contain_text("Too many failed sign-in attempts")
    expect(page.locator("text=Sign out")).to_have_count(0)
