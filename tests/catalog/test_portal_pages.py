"""Every portal page answers without a server error, for a reader and for anonymous
visitors (who are sent to sign in), with the graph up."""

import pytest

from catalog import services as catalog_services
from graph import services as graph_services


@pytest.fixture
def filled(world, graph):
    root = world["root"]
    svc = catalog_services.service_create(
        actor=root, team=world["team"], slug="orders", name="Orders", base_url="http://127.0.0.1:9"
    )
    api = catalog_services.api_create(
        actor=root,
        provider=svc,
        slug="orders-v1",
        name="O",
        kind="openapi",
        spec={
            "openapi": "3.0.3",
            "info": {"title": "O", "version": "1"},
            "paths": {"/o": {"get": {"responses": {"200": {"description": "ok"}}}}},
        },
    )
    web = catalog_services.service_create(actor=root, team=world["other_team"], slug="web", name="Web")
    key, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="k")
    graph_services.graph_sync()
    graph_services.crawl_inline()
    return {**world, "key": key}


PAGES = [
    "/",
    "/search/?q=ord",
    "/search/?q=",
    "/teams/",
    "/teams/new/",
    "/teams/alpha/",
    "/teams/alpha/edit/",
    "/orgs/acme/limits/",
    "/profile/",
    "/services/",
    "/services/?tier=9&lifecycle=x",
    "/services/new/",
    "/services/new/?alias=a.example:443&name=a",
    "/services/orders/",
    "/services/orders/edit/",
    "/services/orders/dependencies/?depth=3",
    "/services/orders/dependencies/?depth=99",
    "/services/orders/impact/",
    "/apis/",
    "/apis/new/",
    "/apis/orders-v1/",
    "/keys/",
    "/keys/issue/",
    "/keys/request/",
    "/graph/",
    "/graph/data.json",
    "/graph/data.json?team=alpha&tier=1",
    "/graph/panel/orders/",
    "/graph/panel/unknown.example:1/",
    "/discovery/",
    "/api/docs/",
    "/api/schema/",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_without_server_errors(filled, client, path):
    client.force_login(filled["reader"])
    response = client.get(path)
    assert response.status_code < 500, (path, response.status_code)
    anonymous = client.__class__().get(path)
    assert anonymous.status_code in (200, 302, 401, 403), (path, anonymous.status_code)


def test_run_and_key_pages(filled, client):
    client.force_login(filled["root"])
    from graph.models import CrawlRun

    run = CrawlRun.objects.get()
    for path in (
        f"/discovery/runs/{run.pk}/",
        f"/discovery/runs/{run.pk}/progress/",
        f"/keys/{filled['key'].pk}/revoke/",
        f"/keys/{filled['key'].pk}/rotate/",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/discovery/runs/999999/").status_code == 404
    bad = client.post("/teams/new/", {"org": filled["org"].pk, "slug": "Bad Slug!", "name": ""})
    assert bad.status_code == 400 and b"error" in bad.content


def test_crawl_now_button_only_for_users_who_may_start_a_crawl(world, graph, client):
    """A reader with no team sees no "Crawl now" button and is still refused if it posts;
    a team member, an org admin and a superuser see it."""
    from graph.models import CrawlRun

    client.force_login(world["reader"])
    page = client.get("/discovery/")
    assert page.status_code == 200
    assert b'id="crawl-now"' not in page.content and b"start crawls" in page.content
    refused = client.post("/discovery/crawl/", follow=True)
    assert refused.status_code == 200 and not CrawlRun.objects.exists()
    assert [m.level_tag for m in refused.context["messages"]] == ["error"]
    for name in ("member", "orgadmin", "root"):
        client.force_login(world[name])
        page = client.get("/discovery/")
        assert page.status_code == 200 and b'id="crawl-now"' in page.content, name
