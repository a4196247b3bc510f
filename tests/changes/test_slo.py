"""SLOs (issue 14): an API's compliance, error budget and burn rate over 1 h, 24 h and 28 d from its
provider's inbound edge history, fed through the path a crawl takes (graph.signals.edges_observed,
or edges_merge itself with Neo4j), with the clock passed in; multi-window burn-rate alerts raised
once by the Celery task the append kicks, and cleared; key.expiring once per key; limit.reached on
the write that reaches a limit; crawl.failed from a real crawl that fails."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import services as catalog
from changes import selectors
from changes import services as changes
from changes.models import EdgeHourly, EdgeSample, Event, SloAlert
from core.errors import DomainError
from graph import signals
from graph.signals import EdgeSample as Observed


def _setup(world, *, target="99.000", p99=300):
    member = world["member"]
    orders = catalog.service_create(actor=member, team=world["team"], slug="orders", name="Orders")
    for slug in ("web", "mobile"):
        catalog.service_create(actor=member, team=world["team"], slug=slug, name=slug)
    api = catalog.api_create(
        actor=member, provider=orders, slug="orders-v1", name="Orders v1", slo_availability=target, slo_p99_ms=p99
    )
    return orders, api


def _append(samples):
    """What edges_merge does once its Neo4j write is done."""
    for _, result in signals.edges_observed.send_robust(sender="graph", samples=samples):
        assert not isinstance(result, Exception), result


def _window(status, name):
    return next(w for w in status.windows if w.window == name)


@pytest.mark.django_db
def test_compliance_budget_and_burn_for_a_known_input(world, api, settings):
    settings.EDGE_HISTORY_RAW_HOURS = 48
    _, orders_api = _setup(world)
    now = int(time.time())
    ms = 1000
    # The last hour: 12 five-minute windows per caller. web: 100 calls/min, 2 % errors, p99 250 ms
    # (within 300); mobile: 50 calls/min, no errors, p99 400 ms (over).
    recent = []
    for k in range(12):
        at = (now - 300 * k) * ms
        recent += [
            Observed("web", "orders", at, 100.0, 0.02, 120.0, 250.0),
            Observed("mobile", "orders", at, 50.0, 0.0, 90.0, 400.0),
        ]
    # One window an hour for the 22 hours before, no errors, no latency.
    older = []
    for h in range(2, 24):
        at = (now - h * 3600) * ms
        older += [Observed("web", "orders", at, 100.0, 0.0, None), Observed("mobile", "orders", at, 50.0, 0.0, None)]
    # Three days ago (past the raw retention: it survives as hourly roll-ups): an hour of 50 % errors
    # from web, p99 1 s.
    incident = [
        Observed("web", "orders", (now - 72 * 3600 - 300 * k) * ms, 100.0, 0.5, 800.0, 1000.0) for k in range(12)
    ]
    _append(incident)
    _append(older)
    _append(recent)
    changes.history_rollup(now=now - 70 * 3600)  # the beat, two hours after the incident
    changes.history_rollup(now=now)  # and now: the incident's samples are past the raw retention
    assert EdgeHourly.objects.filter(p99_ms=1000.0).exists()  # the roll-up keeps the worst p99
    assert not EdgeSample.objects.filter(at__lt=now - 48 * 3600).exists()  # the incident is hours only

    status = selectors.slo_status(api=orders_api, now=now)
    assert (status.service, status.scope, status.availability_target, status.p99_target_ms) == (
        "orders",
        "service",
        99.0,
        300,
    )
    one = _window(status, "1h")
    # calls: 12·100 + 12·50 = 1800, errors 12·100·0.02 = 24 -> 1.333 % errors against a 1 % budget
    assert one.samples == 24 and one.calls_per_min == 150.0
    assert one.availability == pytest.approx(1 - 24 / 1800, abs=1e-6)
    assert one.availability_met is False
    assert one.burn_rate == pytest.approx(1.3333, abs=1e-4)
    assert one.error_budget_remaining == pytest.approx(-0.3333, abs=1e-4)
    assert one.p99_worst_ms == 400.0
    assert one.latency_good_ratio == pytest.approx(1200 / 1800, abs=1e-6) and one.latency_met is False
    assert one.compliant is False

    day = _window(status, "24h")
    # + 22 hours of 150 calls/min without errors: 24 / 5100
    assert day.samples == 68 and day.calls_per_min == 150.0
    assert day.availability == pytest.approx(1 - 24 / 5100, abs=1e-6) and day.availability_met is True
    assert day.burn_rate == pytest.approx(0.4706, abs=1e-4)
    assert day.error_budget_remaining == pytest.approx(0.5294, abs=1e-4)
    assert day.latency_good_ratio == pytest.approx(1200 / 1800, abs=1e-6)  # the older windows had no p99

    month = _window(status, "28d")
    # + the incident's hourly roll-ups (12 windows of 100 calls/min at 50 %): 624 / 6300
    assert month.samples == 80
    assert month.availability == pytest.approx(1 - 624 / 6300, abs=1e-6)
    assert month.burn_rate == pytest.approx(9.9048, abs=1e-4)
    assert month.p99_worst_ms == 1000.0
    assert month.latency_good_ratio == pytest.approx(1200 / 3000, abs=1e-6)
    assert not status.firing and all(not r.firing for r in status.rules)

    # Since 30 minutes ago: 6 windows per caller at 24/1800 -> 1.33x: burning, for the deploy verdict.
    burning = selectors.slo_burn_since(service="orders", since=now - 1800 + 1, now=now)
    assert [(b.api, b.burn_rate) for b in burning] == [("orders-v1", pytest.approx(1.3333, abs=1e-4))]
    assert selectors.slo_burn_since(service="orders", since=now - 20 * 3600, now=now - 3 * 3600) == []

    # The same answer in REST, GraphQL and on the pages (evaluated on the clock, a moment later).
    reader = world["reader"]
    body = api(reader).get("/api/v1/apis/orders-v1/slo").json()
    assert body["api"] == "orders-v1" and body["scope"] == "service"
    rest_hour = next(w for w in body["windows"] if w["window"] == "1h")
    assert rest_hour["burn_rate"] == pytest.approx(1.3333, abs=1e-4) and rest_hour["compliant"] is False
    assert api(reader).get("/api/v1/apis/nope/slo").status_code == 404
    assert api().get("/api/v1/apis/orders-v1/slo").status_code == 401
    from django.test import Client

    client = Client()
    client.force_login(reader)
    query = '{ api(slug: "orders-v1") { slo { scope windows { window burnRate availabilityMet } } } }'
    gql = client.post("/graphql", {"query": query}, content_type="application/json").json()
    windows = {w["window"]: w for w in gql["data"]["api"]["slo"]["windows"]}
    assert windows["24h"]["burnRate"] == pytest.approx(0.4706, abs=1e-4) and windows["24h"]["availabilityMet"]
    page = client.get("/services/orders/slo/").content.decode()
    assert "orders-v1" in page and "98.667 %" in page and "1.33×" in page
    assert "slo-panel" in client.get("/services/orders/").content.decode()  # loaded by htmx, not rendered inline
    assert client.get("/services/nope/slo/").status_code == 404
    assert "98.667 %" in client.get("/apis/orders-v1/slo/").content.decode()


@pytest.mark.django_db
def test_a_fast_burn_alerts_once_and_recovers(world):
    _, orders_api = _setup(world, target="99.900")  # a budget of 0.1 %
    now = 1_900_000_000
    ms = 1000
    # Windows of 5 minutes over the last hour at 2 % errors: a burn of 20x over 1 h and 5 min.
    _append([Observed("web", "orders", (now - 300 * k) * ms, 600.0, 0.02, None) for k in range(12)])

    assert changes.slo_evaluate(now=now - 3600) == {"evaluated": 1, "alerts": 0, "recovered": 0}  # before it
    assert changes.slo_evaluate(now=now) == {"evaluated": 1, "alerts": 1, "recovered": 0}
    alert = Event.objects.get(type="slo.burn_alert")
    assert alert.payload["rule"] == "14.4x/1h" and alert.payload["long_burn_rate"] == pytest.approx(20.0)
    assert (alert.service_id, alert.team_id, alert.org_id) == (
        orders_api.provider_id,
        world["team"].pk,
        world["org"].pk,
    )
    assert alert.subject == {"kind": "api", "id": "orders-v1", "name": "Orders v1"}

    # Still burning five minutes later: no second alert.
    _append([Observed("web", "orders", (now + 300) * ms, 600.0, 0.02, None)])
    assert changes.slo_evaluate(now=now + 300)["alerts"] == 0
    assert Event.objects.filter(type="slo.burn_alert").count() == 1

    # The errors stop. Ten minutes on, the 30-minute window still burns over 6x (the slow rule):
    # still firing, still one alert. Half an hour on both short windows are clear: recovered, while
    # the long windows still show the burn.
    _append([Observed("web", "orders", (now + t) * ms, 600.0, 0.0, None) for t in (600, 900, 1200, 1500, 1800)])
    assert changes.slo_evaluate(now=now + 600) == {"evaluated": 1, "alerts": 0, "recovered": 0}
    assert changes.slo_evaluate(now=now + 1800) == {"evaluated": 1, "alerts": 0, "recovered": 1}
    recovered = Event.objects.get(type="slo.recovered")
    assert recovered.payload["short_burn_rate"] < recovered.payload["factor"] < recovered.payload["long_burn_rate"]
    assert changes.slo_evaluate(now=now + 2100)["recovered"] == 0
    assert SloAlert.objects.get(api=orders_api).firing is False
    assert Event.objects.filter(type__in=["slo.burn_alert", "slo.recovered"]).count() == 2


@pytest.mark.django_db
def test_the_slow_rule_and_its_setting(world, settings):
    _setup(world, target="99.900")
    now = 1_900_000_000
    # 0.7 % errors for six hours (7x): under 14.4x, over 6x over 6 h and 30 min.
    _append([Observed("web", "orders", (now - 300 * k) * 1000, 600.0, 0.007, None) for k in range(72)])
    assert changes.slo_evaluate(now=now)["alerts"] == 1
    assert Event.objects.get(type="slo.burn_alert").payload["rule"] == "6x/6h"
    settings.SLO_BURN_RULES = "8:6h:30m"  # a stricter factor: no longer firing
    assert changes.slo_evaluate(now=now)["recovered"] == 1
    settings.SLO_BURN_RULES = "8:30m:6h"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        changes.slo_evaluate(now=now)


@pytest.mark.django_db(transaction=True)
def test_the_append_kicks_a_celery_evaluation_that_raises_the_alert(world, graph, celery_workers):
    """Through a crawl's own path: edges_merge (Neo4j) announces the samples, changes appends
    them and sends slo_evaluate_task, which a real worker runs on the clock."""
    import importlib

    from config.celery import app
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge
    from graph.services import edges_merge, graph_sync

    # The beat entries the migration writes name tasks the workers know.
    schedule = importlib.import_module("changes.migrations.0004_slo_alerts_notices_p99").SCHEDULE
    app.loader.import_default_modules()
    assert [(name, task in app.tasks) for name, task, _ in schedule] == [
        ("slo-evaluate", True),
        ("key-expiry-warn", True),
    ]
    _setup(world, target="99.900")
    graph_sync()
    celery_workers(1, concurrency=1)
    now_ms = int(time.time() * 1000)
    for k in range(11, -1, -1):  # an hour of 5-minute windows, 3,000 calls with 60 errors each (20x)
        at = now_ms - 300_000 * k
        edge = ObservedEdge("web", Target("service", "orders"), 3000, 60)
        obs = Observation(target="web", source="zipkin:t", ok=True, edges=[edge], window_seconds=300, observed_at_ms=at)
        edges_merge([obs], crawl_id=1, now=at)
    assert EdgeSample.objects.filter(series__dst="orders").count() == 12
    deadline = time.time() + 60
    while time.time() < deadline and not Event.objects.filter(type="slo.burn_alert").exists():
        time.sleep(0.2)  # a wait for the worker, not an assertion on time
    alert = Event.objects.get(type="slo.burn_alert")
    assert alert.payload["api"] == "orders-v1" and alert.payload["short_burn_rate"] == pytest.approx(20.0)


@pytest.mark.django_db
def test_key_expiring_is_announced_once_per_key(world):
    from changes.tasks import key_expiry_warn_task

    member = world["member"]
    orders, orders_api = _setup(world)
    web = orders.team.services.get(slug="web")
    now = timezone.now()
    soon, _ = catalog.key_issue(
        actor=member, api=orders_api, consumer=web, name="soon", expires_at=now + timedelta(days=3)
    )
    later, _ = catalog.key_issue(
        actor=member, api=orders_api, consumer=web, name="later", expires_at=now + timedelta(days=30)
    )
    catalog.key_issue(actor=member, api=orders_api, consumer=web, name="forever")
    gone, _ = catalog.key_issue(
        actor=member, api=orders_api, consumer=web, name="gone", expires_at=now + timedelta(days=2)
    )
    catalog.key_revoke(actor=member, key=gone, reason="not needed")
    old, _ = catalog.key_issue(
        actor=member, api=orders_api, consumer=web, name="old", expires_at=now + timedelta(days=60)
    )
    catalog.key_rotate(actor=member, key=old, overlap_seconds=3600)  # the old one now expires in an hour, on purpose

    assert key_expiry_warn_task() == 1
    assert key_expiry_warn_task() == 0  # once
    event = Event.objects.get(type="key.expiring")
    assert event.payload["key_id"] == soon.key_id and event.payload["consumer"] == "web"
    assert (event.service_id, event.team_id) == (orders.pk, world["team"].pk)

    # 25 days on, the 30-day key is within the warning; the first is expired and not announced again.
    assert changes.key_expiry_warn(now=now + timedelta(days=25)) == 1
    assert [e.payload["key_id"] for e in Event.objects.filter(type="key.expiring")] == [soon.key_id, later.key_id]

    # A new expiry is a new announcement.
    catalog.key_expiry_set(actor=member, key=soon, expires_at=now + timedelta(days=5))
    assert changes.key_expiry_warn(now=now) == 1


@pytest.mark.django_db
def test_limit_reached_on_the_crossing_only(world, settings):
    from teams import services as teams

    team, member = world["team"], world["member"]
    team.max_services = 2
    team.save()

    def reached(noun):
        return [e for e in Event.objects.filter(type="limit.reached") if e.payload["limit"] == noun]

    catalog.service_create(actor=member, team=team, slug="s1", name="s1")
    assert reached("services") == []
    s2 = catalog.service_create(actor=member, team=team, slug="s2", name="s2")
    [event] = reached("services")
    assert event.payload == {"limit": "services", "max": 2, "current": 2, "action": "service.create", "by": "s2"}
    assert (event.team_id, event.org_id, event.subject["name"]) == (team.pk, world["org"].pk, "alpha")
    with pytest.raises(DomainError):
        catalog.service_create(actor=member, team=team, slug="s3", name="s3")
    assert len(reached("services")) == 1  # a refused write announces nothing
    catalog.service_delete(actor=member, service=s2)
    assert len(reached("services")) == 1
    catalog.service_create(actor=member, team=team, slug="s4", name="s4")
    assert len(reached("services")) == 2  # below the limit, then at it again: a second crossing

    # Members (the team has a lead and a member) and systems (a setting).
    team.max_members = 3
    team.save()
    teams.member_add(actor=world["lead"], team=team, user=world["reader"])
    assert reached("members")[0].payload["current"] == 3
    settings.CATALOG_MAX_SYSTEMS_PER_TEAM = 1
    catalog.owned_create("system", actor=member, team=team, slug="sys", name="Sys")
    assert reached("systems")[0].payload["max"] == 1


@pytest.mark.django_db
def test_a_crawl_that_fails_is_a_crawl_failed_event(world, graph):
    from catalog.services import service_update
    from graph.services import crawl_inline, graph_sync
    from tests.conftest import free_port

    orders, _ = _setup(world)
    service_update(actor=world["member"], service=orders, base_url=f"http://127.0.0.1:{free_port()}")  # nothing listens
    graph_sync()
    run = crawl_inline()
    assert run.status == "failed"
    event = Event.objects.get(type="crawl.failed")
    assert event.subject["id"] == str(run.pk) and event.payload["failed"] == run.failed == run.total
