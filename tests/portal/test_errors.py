"""Errors and small things: branded 404 and 500 pages, the favicon, the skip link."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.views import defaults


def test_404_is_branded_with_navigation(world, client):
    client.force_login(world["reader"])
    response = client.get("/services/no-such-service/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<title>Not found · Switchboard</title>" in html and 'href="/services/">Find a service</a>' in html
    assert 'aria-label="Main"' in html and "/services/no-such-service/" in html
    anonymous = client.__class__().get("/no/such/page/")
    assert anonymous.status_code == 404 and b"Not found" in anonymous.content
    api = client.get("/api/v1/nothing-here/")
    assert api.status_code == 404 and api.json()["code"] == "not_found"  # the API keeps its JSON shape


@pytest.mark.unit
def test_500_renders_with_no_request_context_and_no_database():
    """No db fixture: pytest-django refuses any database access, so this fails if the page needs one."""
    request = RequestFactory().get("/boom/")
    response = defaults.server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and 'href="/services/">Services</a>' in html
    assert 'class="skip-link" href="#main"' in html and "favicon.svg" in html


def test_favicon_is_linked_and_served(world, client):
    client.force_login(world["reader"])
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html and '<main id="main"' in html
    svg = (Path(settings.BASE_DIR) / "static" / "favicon.svg").read_text()
    assert svg.startswith("<svg") and "</svg>" in svg


def test_favicon_ico_points_at_the_icon(client):
    """GraphiQL and Swagger UI have no icon link, so browsers ask for /favicon.ico."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
