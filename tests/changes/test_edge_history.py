"""Edge history and edge change events (issue 14): a real crawl of the simulated fleet writes
one sample per edge and window into the history store, an edge the fleet stops calling goes
stale and then disappears, and each of those is an event in the log, on GET /api/v1/events
and owed to a subscribed webhook. The roll-up keeps hours and prunes to the retention."""

import time

import pytest

from changes import services as changes
from changes.models import Delivery, EdgeHourly, EdgeSample, EdgeSeries, Event
from devtools import fleet
from graph import db
from graph import services as graph_services
from graph.signals import EdgeSample as Observed


def observed_edges() -> set[tuple[str, str]]:
    rows = db.read("MATCH (s:Service)-[:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t")
    return {(r["s"], r["t"]) for r in rows}


def _pairs(type_: str) -> list[tuple[str, str]]:
    return [(e.payload["src"], e.payload["dst"]) for e in Event.objects.filter(type=type_).order_by("id")]


@pytest.mark.django_db
def test_a_crawled_fleet_writes_history_and_an_edge_that_stops_is_stale_then_disappears(
    graph, run_fleet, root, api, settings
):
    running = run_fleet(8, seed=3)
    fleet.register(running.services, actor=root)
    graph_services.graph_sync()

    assert graph_services.crawl_inline().status == "succeeded"
    edges = observed_edges()
    assert edges == running.truth
    appeared = _pairs("edge.appeared")
    assert sorted(appeared) == sorted(edges)  # each new edge once, service and endpoint edges alike
    first = Event.objects.filter(type="edge.appeared").first()
    assert first.service_id is not None and first.subject["kind"] == "edge"

    time.sleep(1.1)  # a counter's rate needs a second between fetches
    assert graph_services.crawl_inline().status == "succeeded"
    assert len(_pairs("edge.appeared")) == len(appeared)  # nothing new the second time
    assert EdgeSeries.objects.count() == len(edges)
    with_rate = EdgeSample.objects.filter(rate__isnull=False)
    # Every edge has a rate from the second crawl (counters differenced), one sample per window.
    assert {(s.series.src, s.series.dst) for s in with_rate.select_related("series")} == edges
    assert all(s.rate > 0 and 0 <= s.error_rate <= 1 for s in with_rate)
    assert EdgeSample.objects.filter(p95_ms__isnull=False).exists()

    # The fleet stops one call: the edge ages like any other, and says so.
    caller = next(s for s in running.services if any(c["target"].startswith("fleet-") for c in s.calls))
    gone = next(c for c in caller.calls if c["target"].startswith("fleet-"))
    caller.calls.remove(gone)
    pair = (caller.slug, gone["target"])
    hook, _ = changes.webhook_create(
        actor=root, name="edges", url="http://127.0.0.1:9/hook", types=["edge.stale", "edge.disappeared"]
    )
    time.sleep(3.3)  # the stopped edge is older than the TTL; the others, seen again, are seconds younger
    settings.DISCOVERY_EDGE_TTL = 3
    run = graph_services.crawl_inline()
    assert run.status == "succeeded" and run.edges_stale == 1
    assert _pairs("edge.stale") == [pair] and _pairs("edge.disappeared") == []

    settings.DISCOVERY_EDGE_REMOVE_AFTER = 3
    run = graph_services.crawl_inline()
    assert run.edges_removed == 1
    assert _pairs("edge.disappeared") == [pair]
    assert observed_edges() == edges - {pair}
    assert Delivery.objects.filter(webhook=hook, event__type__in=["edge.stale", "edge.disappeared"]).count() == 2

    body = api(root).get("/api/v1/events", {"types": "edge.disappeared,edge.stale"}).json()
    assert [(e["type"], e["payload"]["src"], e["payload"]["dst"]) for e in body["results"]] == [
        ("edge.stale", *pair),
        ("edge.disappeared", *pair),
    ]


@pytest.mark.django_db
def test_edge_events_are_bounded_per_step(graph, world, settings):
    from catalog import services as catalog

    for slug in ("a", "b", "c", "d"):
        catalog.service_create(actor=world["member"], team=world["team"], slug=slug, name=slug)
    graph_services.graph_sync()
    settings.DISCOVERY_EDGE_EVENTS_MAX = 2
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge

    edges = [ObservedEdge("a", Target("service", key), 10, 0) for key in ("b", "c", "d")]
    stats = graph_services.edges_merge(
        [Observation(target="a", source="zipkin:t", ok=True, edges=edges, window_seconds=60)], crawl_id=1, now=1_000_000
    )
    assert stats["created"] == 3
    events = list(Event.objects.filter(type="edge.appeared"))
    assert len(events) == 2 and {e.payload["changed_in_step"] for e in events} == {3}
    assert (events[0].org_id, events[0].team_id) == (world["org"].pk, world["team"].pk)
    # a windowed observation is a rate at once: three samples, 10 calls a minute each
    assert sorted(EdgeSample.objects.values_list("rate", flat=True)) == [10.0, 10.0, 10.0]


@pytest.mark.django_db
def test_rollup_keeps_hours_and_prunes_to_the_retention(settings):
    settings.EDGE_HISTORY_RAW_HOURS = 48
    settings.EDGE_HISTORY_HOURLY_DAYS = 90
    hour = 3600
    now = 1_800_000_000 - 1_800_000_000 % hour + 600  # ten minutes into an hour
    h1 = now - 600 - hour  # the last complete hour
    old = now - 50 * hour  # beyond the raw retention
    changes.history_append(
        [
            Observed("a", "b", (h1 + 60) * 1000, 10.0, 0.0, 20.0),
            Observed("a", "b", (h1 + 360) * 1000, 30.0, 0.1, 50.0),
            Observed("a", "b", (now - 60) * 1000, 99.0, 0.5, 5.0),  # the current hour: not rolled yet
            Observed("old", "x", old * 1000, 1.0, 0.0, None),
        ]
    )
    assert EdgeSample.objects.count() == 4
    out = changes.history_rollup(now=now)
    rolled = EdgeHourly.objects.get(series__src="a", hour=h1)
    assert (rolled.rate, rolled.error_rate, rolled.p95_ms, rolled.samples) == (20.0, 0.075, 50.0, 2)
    assert not EdgeHourly.objects.filter(hour__gte=now - 600).exists()
    # the sample beyond 48 h is gone (it was never rolled: older than the raw retention when the roll-up first ran)
    assert out["pruned_samples"] == 1 and not EdgeSample.objects.filter(at=old).exists()
    assert not EdgeSeries.objects.filter(src="old").exists()
    # Running again changes nothing; hours older than 90 days go.
    changes.history_rollup(now=now)
    assert EdgeHourly.objects.count() == 1
    changes.history_rollup(now=now + 91 * 86400)
    assert EdgeHourly.objects.count() == 0 and EdgeSample.objects.count() == 0 and EdgeSeries.objects.count() == 0


@pytest.mark.django_db
def test_history_off_writes_nothing(settings):
    settings.EDGE_HISTORY = False
    assert changes.history_append([Observed("a", "b", 1_000_000, 1.0, 0.0, None)]) == 0
    assert EdgeSample.objects.count() == 0


# --- Reading it back: REST, GraphQL ---------------------------------------------------------------
@pytest.fixture
def shop(world):
    from catalog import services as catalog

    for slug in ("web", "orders", "ledger"):
        catalog.service_create(actor=world["member"], team=world["team"], slug=slug, name=slug)
    return world


def test_history_api_answers_each_window_with_deploy_markers(shop, api):
    from changes.models import Deploy

    now = int(time.time())
    hour = 3600
    samples = []
    for minutes_ago in range(0, 30 * 60, 5):  # 30 hours of 5-minute windows: web -> orders -> ledger
        at = (now - 30 - minutes_ago * 60) * 1000  # 30 s off the minute: clear of the window's edge
        samples += [Observed("web", "orders", at, 60.0, 0.01, 12.0), Observed("orders", "ledger", at, 30.0, 0.0, 4.0)]
    samples.append(Observed("orders", "db.internal:5432", now * 1000, 5.0, 0.0, None))
    changes.history_append(samples)
    changes.history_rollup(now=now)  # complete hours rolled up; the current hour only in samples
    sampled_hours = {(s.at_ms // 1000) // hour * hour * 1000 for s in samples if s.src == "web"}
    complete = {h for h in sampled_hours if h < now // hour * hour * 1000}  # not the current hour
    assert EdgeHourly.objects.filter(series__src="web").count() == len(complete) >= 29
    Deploy.objects.create(service=shop["team"].services.get(slug="orders"), client_id="d1", version="1.2.3")

    client = api(shop["reader"])
    day = client.get("/api/v1/services/orders/history", {"window": "24h"}).json()
    assert (day["window"], day["resolution_seconds"], day["truncated"]) == ("24h", 0, False)
    assert day["to"] - day["from"] == 86_400_000
    assert [(e["direction"], e["src"], e["dst"]) for e in day["edges"]] == [
        ("in", "web", "orders"),
        ("out", "orders", "ledger"),
        ("out", "orders", "db.internal:5432"),
    ]
    inbound = day["edges"][0]["points"]
    assert len(inbound) == 24 * 12 and inbound[0]["t"] < inbound[-1]["t"]
    assert inbound[-1] == {"t": (now - 30) * 1000, "calls_per_min": 60.0, "error_rate": 0.01, "p95_ms": 12.0}
    assert [d["version"] for d in day["deploys"]] == ["1.2.3"]

    last_hour = client.get("/api/v1/services/orders/history", {"window": "1h"}).json()
    assert len(last_hour["edges"][0]["points"]) == 12

    week = client.get("/api/v1/services/orders/history", {"window": "7d"}).json()
    assert week["resolution_seconds"] == 3600
    hours = [p["t"] for p in week["edges"][0]["points"]]
    assert hours == sorted(set(hours)) and all(t % 3_600_000 == 0 for t in hours)
    assert set(hours) == sampled_hours  # rolled-up hours plus the current one, summed from its samples
    assert {p["calls_per_min"] for p in week["edges"][0]["points"]} == {60.0}

    bad = client.get("/api/v1/services/orders/history", {"window": "2w"})
    assert bad.status_code == 400 and bad.json()["code"] == "window_invalid"
    missing = client.get("/api/v1/services/nope/history", {"window": "1h"})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api().get("/api/v1/services/orders/history").status_code == 401


def test_history_is_a_graphql_field_of_service(shop, client, settings):
    now = int(time.time())
    changes.history_append([Observed("web", "orders", now * 1000, 6.0, 0.5, 100.0)])
    settings.EDGE_HISTORY_MAX_EDGES = 1
    changes.history_append([Observed("shop", "orders", now * 1000, 1.0, 0.0, None)])
    query = """{ service(slug: "orders") { history(window: "1h") { window from to truncated
                 edges { direction src dst points { t callsPerMin errorRate p95Ms } } deploys { version } } } }"""
    client.force_login(shop["reader"])
    body = client.post("/graphql", {"query": query}, content_type="application/json").json()
    assert "errors" not in body, body
    history = body["data"]["service"]["history"]
    assert history["truncated"] is True and history["to"] - history["from"] == 3_600_000
    assert history["edges"] == [
        {
            "direction": "in",
            "src": "web",
            "dst": "orders",
            "points": [{"t": now * 1000, "callsPerMin": 6.0, "errorRate": 0.5, "p95Ms": 100.0}],
        }
    ]
    bad = client.post(
        "/graphql",
        {"query": '{ service(slug: "orders") { history(window: "1y") { window } } }'},
        content_type="application/json",
    )
    assert "window" in bad.json()["errors"][0]["message"]
