"""Edge change events of one crawl step are written in one transaction with a bounded number
of queries (a crawl of a fresh 10,000-edge graph names DISCOVERY_EDGE_EVENTS_MAX of them), and
each still goes to exactly the subscriptions event_record would deliver it to."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes import services as changes
from changes.models import Delivery, Event, Webhook
from graph.signals import EdgePair


@pytest.mark.django_db
def test_a_steps_edge_events_take_a_bounded_number_of_queries_and_reach_the_right_webhooks(world):
    from catalog.services import service_create
    from teams.models import Org

    a = service_create(actor=world["root"], team=world["team"], slug="a", name="A", crawl_enabled=False)
    service_create(actor=world["root"], team=world["other_team"], slug="b", name="B", crawl_enabled=False)
    elsewhere = Org.objects.create(slug="elsewhere", name="Elsewhere")
    url = "http://10.0.0.9/hook"
    of_a = Webhook.objects.create(name="a", url=url, service=a, types=["edge.appeared"], secret="s")
    of_team = Webhook.objects.create(name="t", url=url, team=world["team"], types=["edge.stale"], secret="s")
    of_org = Webhook.objects.create(name="o", url=url, org=world["org"], types=["*"], secret="s")
    of_other = Webhook.objects.create(name="x", url=url, org=elsewhere, types=["*"], secret="s")
    everything = Webhook.objects.create(name="all", url=url, types=["edge.appeared"], secret="s")
    Webhook.objects.create(name="off", url=url, types=["*"], secret="s", enabled=False)
    pairs = [EdgePair("a" if i % 2 else "b", f"dst-{i}", "service") for i in range(60)] + [
        EdgePair("ghost", "dst", "endpoint")  # no such caller: no scope, only the all-scope hook
    ]
    with CaptureQueriesContext(connection) as ctx:
        assert changes.edge_events_record(change="appeared", pairs=pairs, total=61, at_ms=1_000) == 61
    assert len(ctx.captured_queries) <= 8, len(ctx.captured_queries)  # was 2-3 per event
    events = list(Event.objects.filter(type="edge.appeared").order_by("id"))
    assert [e.payload["src"] for e in events] == [p.src for p in pairs]
    assert events[1].service_id == a.pk and events[1].team_id == world["team"].pk
    assert events[-1].org_id is None

    def got(hook):
        return sorted(Delivery.objects.filter(webhook=hook).values_list("event__payload__dst", flat=True))

    assert got(of_a) == sorted(p.dst for p in pairs if p.src == "a")
    assert got(of_team) == []  # another type
    assert got(of_org) == sorted(p.dst for p in pairs if p.src != "ghost")
    assert got(of_other) == []
    assert got(everything) == sorted(p.dst for p in pairs)
    assert Delivery.objects.count() == 30 + 60 + 61
