"""The event log (issue 14): every catalog change, key issued/rotated/revoked, deploy and failed
crawl is an event written in the change's own transaction, with a stable id, type, time,
subject and payload; ``GET /api/v1/events`` hands them out after a cursor, to the orgs a
user belongs to, and holds a long poll open until one arrives."""

import json
import threading
import time

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from catalog import services as catalog
from changes.models import Event
from core.errors import DomainError
from teams import services as teams


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def orders(world):
    return catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")


def test_catalog_changes_and_keys_are_events(world, orders):
    catalog.service_update(actor=world["member"], service=orders, description="takes orders")
    api = catalog.api_create(actor=world["member"], provider=orders, slug="orders-v1", name="Orders v1")
    key, secret = catalog.key_issue(actor=world["member"], api=api, consumer=orders, name="self")
    new_key, new_secret = catalog.key_rotate(actor=world["member"], key=key, overlap_seconds=60)
    catalog.key_revoke(actor=world["member"], key=new_key, reason="leaked")
    types = list(Event.objects.values_list("type", flat=True))
    assert types == ["service.created", "service.updated", "api.created", "key.issued", "key.rotated", "key.revoked"]
    updated = Event.objects.get(type="service.updated")
    assert updated.subject == {"kind": "service", "id": str(orders.pk), "name": "orders"}
    assert "description" in updated.payload["changed"] and "tier" not in updated.payload["changed"]
    assert updated.payload["after"]["description"] == "takes orders" and updated.payload["actor"] == "member"
    assert (updated.org_id, updated.team_id, updated.service_id) == (world["org"].pk, world["team"].pk, orders.pk)
    revoked = Event.objects.get(type="key.revoked")
    assert revoked.service_id == orders.pk and revoked.payload["after"]["revoked_reason"] == "leaked"
    dumped = json.dumps(list(Event.objects.values("payload")), default=str)
    for raw in (secret, new_secret):
        assert raw.split("_")[-1] not in dumped
    assert "secret_hash" not in dumped
    assert len({e.uid for e in Event.objects.all()}) == Event.objects.count()


def test_a_write_that_rolls_back_leaves_no_event(world, orders):
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        catalog.service_update(actor=world["member"], service=orders, description="never")
        raise RuntimeError
    with pytest.raises(DomainError):
        catalog.service_create(actor=world["reader"], team=world["team"], slug="nope", name="Nope")
    assert Event.objects.count() == before


def test_a_failed_crawl_is_an_event_for_superusers_only(world):
    from graph.models import CrawlRun
    from graph.services.crawls import crawl_finish

    run = CrawlRun.objects.create(trigger="manual", status="running", total=1, failed=1, error="Neo4j is down")
    crawl_finish(run.pk)
    event = Event.objects.get(type="crawl.failed")
    assert event.payload["error"] == "Neo4j is down" and event.org_id is None
    root_sees = _client(world["root"]).get("/api/v1/events?types=crawl.failed").json()["results"]
    assert [e["id"] for e in root_sees] == [event.public_id]
    assert _client(world["orgadmin"]).get("/api/v1/events?types=crawl.failed").json()["results"] == []


def test_polling_after_a_cursor_by_type_within_ones_orgs(world, orders):
    from teams.models import Org

    other_org = teams.org_create(actor=world["root"], slug="globex", name="Globex")
    assert Org.objects.count() == 2
    member = _client(world["member"])
    page = member.get("/api/v1/events").json()
    assert [e["type"] for e in page["results"]] == ["service.created"]
    cursor = page["next_cursor"]
    catalog.service_update(actor=world["member"], service=orders, tier=1)
    catalog.service_update(actor=world["member"], service=orders, description="x")
    teams.org_update(actor=world["root"], org=other_org, description="not yours")
    later = member.get(f"/api/v1/events?after={cursor}").json()
    assert [e["type"] for e in later["results"]] == ["service.updated", "service.updated"]
    assert int(later["next_cursor"]) > int(cursor)
    assert member.get(f"/api/v1/events?after={later['next_cursor']}").json() == {
        "results": [],
        "next_cursor": later["next_cursor"],
    }
    only = member.get("/api/v1/events?types=service.created&limit=1").json()["results"]
    assert [e["type"] for e in only] == ["service.created"]
    event = only[0]
    assert set(event) == {"id", "cursor", "type", "time", "subject", "payload", "org_id", "team_id", "service_id"}
    assert event["id"].startswith("evt_")
    # Someone outside the org (a lead of another org's team would be; a reader is on no team) sees none.
    assert _client(world["reader"]).get("/api/v1/events").json()["results"] == []
    assert all(e["org_id"] != other_org.pk for e in member.get("/api/v1/events?limit=500").json()["results"])
    assert any(e["org_id"] == other_org.pk for e in _client(world["root"]).get("/api/v1/events").json()["results"])
    assert APIClient().get("/api/v1/events").status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("after=abc", "cursor_invalid"),
        ("after=-1", "cursor_invalid"),
        ("after=99999999999999999999999", "cursor_invalid"),
        ("types=service.exploded", "unknown_event_type"),
        ("limit=0", "invalid"),
        ("limit=501", "invalid"),
        ("wait=26", "invalid"),
        ("wait=soon", "invalid"),
    ],
)
def test_bad_queries_are_clear_400s(world, query, code):
    response = _client(world["member"]).get(f"/api/v1/events?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and response.json()["detail"]


def test_a_long_poll_returns_the_event_that_arrives_while_it_waits(world, orders, transactional_db):
    member = _client(world["member"])
    cursor = member.get("/api/v1/events").json()["next_cursor"]

    def write_later():
        time.sleep(1.5)  # the poll below has found nothing by then and is waiting
        catalog.service_update(actor=world["member"], service=orders, description="while you waited")

    writer = threading.Thread(target=write_later)
    writer.start()
    got = member.get(f"/api/v1/events?after={cursor}&wait=20").json()
    writer.join(10)
    assert [e["type"] for e in got["results"]] == ["service.updated"]
    assert got["results"][0]["payload"]["after"]["description"] == "while you waited"


def test_long_polls_waiting_at_once_are_capped_per_user_and_overall(world, transactional_db, settings):
    """Found by probing: ten parallel long polls of one plain user held ten web threads for 25 s
    (/healthz took 23 s). Each wait now takes a slot in Redis, per user and overall."""
    from core.limiter import redis_client, redis_key

    settings.EVENTS_MAX_WAITERS_PER_USER, settings.EVENTS_MAX_WAITERS = 1, 2
    everyone = redis_key("events-wait:all")
    quiet = "/api/v1/events?types=webhook.disabled&wait=5"  # nothing of that type arrives: waits it all out

    def wait_for_slots(n):
        deadline = time.monotonic() + 10
        while redis_client().zcard(everyone) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert redis_client().zcard(everyone) == n

    answers = []
    first = threading.Thread(target=lambda: answers.append(_client(world["member"]).get(quiet).status_code))
    first.start()
    wait_for_slots(1)
    refused = _client(world["member"]).get(quiet)  # the member's one slot is taken
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_waits"
    assert refused["Retry-After"] == str(refused.json()["retry_after"])
    assert _client(world["member"]).get("/api/v1/events?types=webhook.disabled").status_code == 200  # no wait: no slot

    second = threading.Thread(target=lambda: answers.append(_client(world["lead"]).get(quiet).status_code))
    second.start()
    wait_for_slots(2)
    assert _client(world["reader"]).get(quiet).status_code == 429  # everyone's two slots are taken
    first.join(15)
    second.join(15)
    assert answers == [200, 200]
    assert redis_client().zcard(everyone) == 0  # given back
    assert _client(world["member"]).get("/api/v1/events?types=webhook.disabled&wait=1").status_code == 200
