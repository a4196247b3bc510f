"""Numbers where people look: the service page's edge table, the dashboard's fleet health,
the services list and the key list (Django client, real Neo4j and Redis)."""

import re

import pytest

from catalog import services as catalog_services
from graph import services as graph_services
from graph.discovery.latency import Histogram
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge


def observe(src, edges, *, window=60):
    """One windowed observation from ``src``: ``edges`` is [(dst, calls, errors, latency histogram or None)]."""
    return Observation(
        target=src,
        source="otlp",
        service_slug=src,
        ok=True,
        window_seconds=window,
        edges=[
            ObservedEdge(src, Target("service", dst) if "." not in dst else Target("endpoint", dst), c, e, latency=h)
            for dst, c, e, h in edges
        ],
    )


@pytest.fixture
def ring(world, graph):
    """a -> b -> a (a cycle), a -> c (not), with rates, errors and latency on a -> c."""
    for slug in ("a", "b", "c"):
        catalog_services.service_create(actor=world["root"], team=world["team"], slug=slug, name=slug.upper())
    graph_services.graph_sync()
    spans = Histogram((10.0, 100.0, 1000.0), (0.0, 0.0, 60.0, 0.0))
    graph_services.edges_merge(
        [observe("a", [("b", 120, 0, None), ("c", 600, 30, spans)]), observe("b", [("a", 60, 0, None)])],
        crawl_id=1,
    )
    return world


def rows(html, table_id):
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr data-peer="([^"]+)">.*?</tr>', table, re.S)}


def test_service_page_edge_table_has_numbers_last_seen_and_cycle_badges(ring, client):
    client.force_login(ring["reader"])
    html = client.get("/services/a/dependencies/?depth=1").content.decode()
    out = rows(html, "outbound-calls")
    assert set(out) == {"b", "c"}
    assert "badge cycle" in out["b"] and "badge cycle" not in out["c"]
    # 600 calls, 30 errors in a 60 s window: 600/min, 5.0 %; all 60 spans in (100, 1000] ms: p95 955 ms.
    assert ">600.0<" in out["c"] and ">5.0%<" in out["c"] and "955.0 ms" in out["c"]
    assert re.search(r'<time datetime="[^"]+"[^>]*>0\xa0minutes ago</time>', out["c"]), out["c"]
    assert 'data-type="number">Calls/min' in html and 'class="calls sortable"' in html
    inbound = rows(html, "inbound-calls")
    assert set(inbound) == {"b"} and "badge cycle" in inbound["b"]
    html_c = client.get("/services/c/dependencies/?depth=1").content.decode()
    assert "badge cycle" not in rows(html_c, "inbound-calls")["a"]


def test_service_page_shell_runs_no_graph_query(ring, client):
    """The edge table lives in the htmx panel: the page shell is unchanged (benchmarked)."""
    client.force_login(ring["reader"])
    html = client.get("/services/a/").content.decode()
    assert "outbound-calls" not in html and 'hx-get="/services/a/dependencies/"' in html


API_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "A", "version": "1"},
    "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


def test_dashboard_fleet_health_numbers_link_to_where_they_are_acted_on(ring, client, settings):
    from teams.models import Team

    root = ring["root"]
    # A stale edge (b -> c last seen two TTLs ago, aged now) and an unknown endpoint (c -> x.example:443).
    old = graph_services.now_ms() - 2 * settings.DISCOVERY_EDGE_TTL * 1000
    graph_services.edges_merge([observe("b", [("c", 10, 0, None)])], crawl_id=2, now=old)
    graph_services.edges_age(ok_services=["b"], ok_sources=[])
    graph_services.edges_merge([observe("c", [("x.example:443", 10, 0, None)])], crawl_id=3)
    # Beta (other's team) at its service limit; a key request to alpha's API, which member may approve.
    Team.objects.filter(slug="beta").update(max_services=1)
    web = catalog_services.service_create(actor=root, team=ring["other_team"], slug="web", name="Web")
    api = catalog_services.api_create(
        actor=root, provider=ring["team"].services.get(slug="a"), slug="a-v1", name="A", kind="openapi", spec=API_SPEC
    )
    catalog_services.key_request(actor=ring["other"], api=api, consumer=web, name="please")
    run = graph_services.crawl_inline()

    client.force_login(ring["member"])
    html = client.get("/").content.decode()
    health = re.search(r'<section class="card" id="fleet-health".*?</section>', html, re.S).group(0)

    def item(name):
        return re.search(rf'<li id="health-{name}">(.*?)</li>', health, re.S).group(1)

    assert 'href="/edges/?state=erroring"><b>1</b> edges erroring' in item("erroring")  # a -> c at 5 %
    assert 'href="/edges/?state=stale"><b>1</b> stale edges' in item("stale")
    assert 'href="/discovery/#unknown-endpoints"><b>1</b> unknown endpoints' in item("endpoints")
    assert 'href="/teams/?at_limit=1"><b>1</b> team at its limits' in item("limits")
    assert 'href="/keys/#awaiting"><b>1</b> key request awaiting your approval' in item("keys")
    assert f'href="/discovery/runs/{run.pk}/">Last crawl #{run.pk}' in item("crawl") and "ago</time>" in item("crawl")
    # The request is not the consumer team's to approve.
    client.force_login(ring["other"])
    assert "<b>0</b> key requests awaiting" in client.get("/").content.decode()

    client.force_login(ring["reader"])
    erroring = client.get("/edges/?state=erroring").content.decode()
    assert 'data-edge="a>c"' in erroring and 'data-edge="a>b"' not in erroring and ">5.0%<" in erroring
    stale = client.get("/edges/?state=stale").content.decode()
    assert 'data-edge="b>c"' in stale and 'data-edge="a>c"' not in stale
    bad = client.get("/edges/?state=everything")
    assert bad.status_code == 400 and b"state must be" in bad.content
    at_limit = client.get("/teams/?at_limit=1").content.decode()
    assert 'href="/teams/beta/"' in at_limit and 'href="/teams/alpha/"' not in at_limit
    assert b'id="unknown-endpoints"' in client.get("/discovery/").content


def test_services_list_tier_any_by_default_so_search_keeps_every_tier(world, client):
    """Typing in search submitted the whole form, whose Tier select had no empty choice: tier=1
    went with every search and a tier-3 service could not be found by name."""
    from catalog.models import Service

    for slug, tier in (("payments", 1), ("payroll", 3)):
        catalog_services.service_create(
            actor=world["root"], team=world["team"], slug=slug, name=slug.title(), tier=tier
        )
    client.force_login(world["reader"])
    page = client.get("/services/").content.decode()
    tier_select = re.search(r'<select name="tier"[^>]*>(.*?)</select>', page, re.S).group(1)
    first = re.search(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', tier_select)
    assert first.groups() == ("", "any") and "selected" not in tier_select.replace(first.group(0), "")
    # What the form sends when someone types "pay" and touches nothing else.
    found = client.get("/services/?q=pay&tier=&lifecycle=&o=", HTTP_HX_REQUEST="true").content.decode()
    assert "payments" in found and "payroll" in found and "2 of 2 services" in found
    assert Service.objects.count() == 2
    only3 = client.get("/services/?q=pay&tier=3", HTTP_HX_REQUEST="true").content.decode()
    assert "payroll" in only3 and "payments" not in only3 and "1 of 2 services" in only3
    bad = client.get("/services/?tier=9")
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()


def test_services_list_sorts_shows_owner_and_pages(world, client):
    from teams.models import Org

    Org.objects.filter(pk=world["org"].pk).update(max_services_per_team=100)
    for i in range(105):
        catalog_services.service_create(
            actor=world["root"],
            team=world["team" if i % 2 else "other_team"],
            slug=f"s{i:03d}",
            name=f"S{i:03d}",
            tier=1 + i % 4,
        )
    client.force_login(world["reader"])
    first = client.get("/services/").content.decode()
    assert "105 of 105 services, page 1 of 2" in first and 'rel="next"' in first
    assert '<td class="owner"><a href="/teams/alpha/">Alpha</a> <small>acme · on call alpha@oncall</small>' in first
    second = client.get("/services/?page=2").content.decode()
    assert second.count('<td class="owner">') == 5 and "S104" in second
    by_tier = client.get("/services/?o=-tier").content.decode()
    tiers = re.findall(r'<span class="badge tier(\d)">', by_tier)
    assert tiers == sorted(tiers, reverse=True) and tiers[0] == "4"
    by_owner = client.get("/services/?o=owner").content.decode()
    owners = re.findall(r'<td class="owner"><a href="/teams/([a-z]+)/">', by_owner)
    assert owners[:52] == ["alpha"] * 52 and owners[52] == "beta"


def test_key_list_searches_filters_pages_and_queues_requests_for_approvers(world, client):
    root = world["root"]
    a = catalog_services.service_create(actor=root, team=world["team"], slug="prov", name="Prov")
    web = catalog_services.service_create(actor=root, team=world["other_team"], slug="web", name="Web")
    api = catalog_services.api_create(actor=root, provider=a, slug="prov-v1", name="P", kind="openapi", spec=API_SPEC)
    for i in range(55):
        catalog_services.key_issue(actor=root, api=api, consumer=web, name=f"batch-{i:02d}")
    needle, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="needle")
    catalog_services.key_revoke(actor=root, key=needle, reason="leaked")
    asked = catalog_services.key_request(actor=world["other"], api=api, consumer=web, name="please")

    client.force_login(world["member"])
    page = client.get("/keys/").content.decode()
    assert "57 keys, page 1 of 2" in page
    queue = re.search(r'<section class="card" id="awaiting".*?</section>', page, re.S).group(0)
    assert f'id="awaiting-{asked.pk}"' in queue and f"/keys/{asked.pk}/approve/" in queue
    found = client.get("/keys/?q=needl").content.decode()
    assert "1 key<" in found and f'id="key-{needle.pk}"' in found
    revoked = client.get("/keys/?state=revoked").content.decode()
    assert "1 key<" in revoked and f'id="key-{needle.pk}"' in revoked
    pending = client.get("/keys/?state=pending").content.decode()
    assert f'id="key-{asked.pk}"' in pending and "1 key<" in pending
    second = client.get("/keys/?state=active&page=2").content.decode()
    assert "55 keys, page 2 of 2" in second and 'href="?state=active&amp;page=1"' in second
    # The consumer's team asked; it cannot approve, so no queue.
    client.force_login(world["other"])
    assert 'id="awaiting" class="muted"' in client.get("/keys/").content.decode()


def test_revoke_page_counts_other_active_keys_and_says_never_used(world, client):
    from catalog.models import ApiKey

    root = world["root"]
    prov = catalog_services.service_create(actor=root, team=world["team"], slug="prov", name="Prov")
    web = catalog_services.service_create(actor=root, team=world["other_team"], slug="web", name="Web")
    api = catalog_services.api_create(
        actor=root, provider=prov, slug="prov-v1", name="P", kind="openapi", spec=API_SPEC
    )
    used, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="used")
    ApiKey.objects.filter(pk=used.pk).update(usage_count=12)
    spare, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="spare")
    gone, _ = catalog_services.key_issue(actor=root, api=api, consumer=web, name="gone")
    catalog_services.key_revoke(actor=root, key=gone, reason="old")  # revoked: not counted
    other_api = catalog_services.api_create(
        actor=root, provider=prov, slug="prov-v2", name="P2", kind="openapi", spec=API_SPEC
    )
    catalog_services.key_issue(actor=root, api=other_api, consumer=web, name="elsewhere")  # other API: not counted

    client.force_login(world["member"])
    page = client.get(f"/keys/{spare.pk}/revoke/").content.decode()
    assert "<b>Never used</b>" in page and "<b>1 other active key</b> for prov-v1, which keeps working" in page
    page = client.get(f"/keys/{used.pk}/revoke/").content.decode()
    assert "Never used" not in page and "12 verified calls" in page and "<b>1 other active key</b>" in page
    client.post(f"/keys/{spare.pk}/revoke/", {"reason": "rotated away"})
    page = client.get(f"/keys/{used.pk}/revoke/").content.decode()
    assert "only active key</b> for prov-v1" in page
    # REST's revoke answer carries the same impact.
    answer = client.post(f"/api/v1/keys/{used.pk}/revoke/", {"reason": "done"}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["impact"]["other_active_keys"] == 0 and answer.json()["impact"]["never_used"] is False
