"""Webhooks (issue 14) against a real receiver on loopback and real Celery workers: signed
deliveries, retried with back-off while the receiver fails, in order per subscription and
each accepted once; dead-lettered, disabled and its owners told when it keeps failing;
redelivered on request; a worker killed mid-delivery redelivers; SSRF-checked URLs."""

import os
import signal
import time

import pytest
from rest_framework.test import APIClient

from catalog import services as catalog
from changes import services as changes
from changes.models import Delivery, DeliveryAttempt, Event, Webhook
from core.models import AuditEvent

FAST_RETRIES = {"WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_RETRY_MAX_SECONDS": "1", "WEBHOOK_TIMEOUT": "5"}


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _subscribe(world, receiver, **body):
    response = _client(world["member"]).post(
        "/api/v1/webhooks/",
        {"name": "ops", "url": receiver.url, "types": ["*"], "team": "alpha", **body},
        format="json",
    )
    assert response.status_code == 201, response.content
    receiver.secret = response.json()["secret"]
    return Webhook.objects.get(pk=response.json()["id"])


def _wait(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_deliveries_survive_a_failing_receiver_and_arrive_once_in_order(world, receiver, celery_workers):
    celery_workers(1, concurrency=2, **FAST_RETRIES)
    hook = _subscribe(world, receiver)
    receiver.fail_next = 4  # the receiver answers 500 for a while, then comes back
    orders = catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    for n in range(8):
        catalog.service_update(actor=world["member"], service=orders, description=f"v{n}")
    expected = list(
        Event.objects.filter(team_id=world["team"].pk, id__gt=0).order_by("id").values_list("uid", flat=True)
    )
    assert len(expected) == 9
    got = receiver.wait_for(9)
    state = list(Delivery.objects.filter(webhook=hook).values_list("status", "attempts", "last_error"))
    assert [e["id"] for e in got] == [f"evt_{u.hex}" for u in expected], (
        state,
        receiver.requests,
    )  # all, once, in order
    assert receiver.bad_signatures == 0
    assert [s for s, _ in receiver.requests].count(500) == 4
    assert len({e["_delivery"] for e in got}) == 9
    assert _wait(lambda: set(Delivery.objects.filter(webhook=hook).values_list("status", flat=True)) == {"succeeded"})
    log = list(
        DeliveryAttempt.objects.filter(delivery__webhook=hook).order_by("id").values_list("status_code", flat=True)
    )
    assert log[:4] == [500, 500, 500, 500] and log.count(200) == 9
    # The delivery log over REST, with status codes.
    page = _client(world["lead"]).get(f"/api/v1/webhooks/{hook.pk}/deliveries/").json()["results"]
    first = min(page, key=lambda d: d["id"])
    assert [a["status_code"] for a in first["attempt_log"]] == [500, 500, 500, 500, 200]
    assert "secret" not in _client(world["lead"]).get(f"/api/v1/webhooks/{hook.pk}/").json()


def test_a_subscription_that_keeps_failing_is_disabled_then_recovers(world, receiver, celery_workers):
    celery_workers(1, concurrency=2, WEBHOOK_MAX_ATTEMPTS="3", **FAST_RETRIES)
    hook = _subscribe(world, receiver)
    receiver.always_fail = True
    orders = catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    catalog.service_update(actor=world["member"], service=orders, description="second")
    assert _wait(lambda: not Webhook.objects.get(pk=hook.pk).enabled)
    dead = Delivery.objects.get(webhook=hook, status="dead")
    assert dead.attempts == 3 and dead.last_status_code == 500
    waiting = Delivery.objects.get(webhook=hook, status="pending")  # kept, not dropped
    assert waiting.event_id > dead.event_id
    # The owners are told: an event in the subscription's own scope, and the audit trail.
    told = Event.objects.get(type="webhook.disabled")
    assert told.team_id == world["team"].pk and "failed 3 times" in told.payload["reason"]
    assert AuditEvent.objects.filter(action="webhook.disable", object_id=str(hook.pk)).exists()
    assert not Delivery.objects.filter(event=told).exists()  # a disabled subscription gets no new deliveries

    receiver.always_fail = False
    lead = _client(world["lead"])
    assert lead.post(f"/api/v1/webhooks/{hook.pk}/enable/").status_code == 200
    assert [e["id"] for e in receiver.wait_for(1)] == [Event.objects.get(pk=waiting.event_id).public_id]
    again = lead.post(f"/api/v1/webhooks/{hook.pk}/deliveries/{dead.pk}/redeliver/")
    assert again.status_code == 200, again.content
    got = receiver.wait_for(2)
    assert got[1]["id"] == Event.objects.get(pk=dead.event_id).public_id
    assert _wait(lambda: Delivery.objects.get(pk=dead.pk).status == "succeeded")
    assert AuditEvent.objects.filter(action="webhook.redeliver").count() == 1
    # Someone else's delivery is not found through this subscription.
    assert (
        _client(world["other"]).post(f"/api/v1/webhooks/{hook.pk}/deliveries/{dead.pk}/redeliver/").status_code == 404
    )


def test_a_worker_killed_mid_delivery_redelivers(world, receiver, celery_workers):
    first = celery_workers(1, concurrency=1, WEBHOOK_TIMEOUT="3")[0]
    hook = _subscribe(world, receiver)
    receiver.hang_seconds = 30  # the first request hangs: the worker is inside the delivery
    catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    assert receiver.seen_request.wait(30)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert Delivery.objects.get(webhook=hook).status == "pending"
    celery_workers(1, concurrency=1, WEBHOOK_TIMEOUT="3")
    # The beat sweeper kicks it again once the dead worker's lock has expired.
    assert _wait(lambda: changes.webhook_sweep() >= 0 and len(receiver.accepted) == 1, timeout=60)
    assert _wait(lambda: Delivery.objects.get(webhook=hook).status == "succeeded")
    assert receiver.accepted[0]["type"] == "service.created"
    assert receiver.accepted[0]["_delivery"] == str(Delivery.objects.get(webhook=hook).uid)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://169.254.169.254/latest/meta-data", "webhook_url_refused"),  # cloud metadata
        ("http://8.8.8.8/hook", "webhook_url_refused"),  # outside the allow-list
        ("ftp://10.0.0.1/hook", "webhook_url_refused"),
        ("http://user:pw@10.0.0.1/hook", "webhook_url_refused"),
        ("http://no-such-host.invalid/hook", "webhook_url_refused"),
        ("file:///etc/passwd", "webhook_url_refused"),
    ],
)
def test_webhook_urls_follow_the_crawlers_ssrf_rules(world, url, code):
    response = _client(world["member"]).post(
        "/api/v1/webhooks/", {"name": "x", "url": url, "types": ["*"], "team": "alpha"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and "url" in response.json()["detail"]
    assert not Webhook.objects.exists()


def test_delivery_refuses_an_address_the_allow_list_dropped(world, receiver, settings):
    hook = _subscribe(world, receiver)
    orders = catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    import ipaddress

    settings.DISCOVERY_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    changes.webhook_drain(hook.pk)
    item = Delivery.objects.get(webhook=hook)
    assert item.status == "pending" and item.last_status_code is None and item.last_error.startswith("refused")
    assert receiver.requests == []
    assert orders


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"types": ["service.exploded"]}, "unknown_event_type"),
        ({"types": []}, "invalid"),
        ({"types": "service.created"}, "invalid"),
        ({"team": "alpha", "service": "orders"}, "invalid"),
        ({"name": "n" * 101}, "invalid"),
        ({"url": "http://10.0.0.1/" + "a" * 600}, "invalid"),
    ],
)
def test_bad_subscriptions_are_clear_400s(world, body, code):
    catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    data = {"name": "x", "url": "http://10.0.0.1/hook", "types": ["*"], "team": "alpha", **body}
    response = _client(world["member"]).post("/api/v1/webhooks/", data, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Webhook.objects.exists()


def test_the_portal_delivery_log_and_its_redeliver_button(world, client):
    hook = Webhook.objects.create(name="ops", url="http://10.0.0.1/hook", team=world["team"], types=["*"], secret="s")
    catalog.service_create(actor=world["member"], team=world["team"], slug="orders", name="Orders")
    item = Delivery.objects.get(webhook=hook)
    Delivery.objects.filter(pk=item.pk).update(status="dead", attempts=15, last_status_code=503)
    client.force_login(world["lead"])
    page = client.get("/webhooks/").content.decode()
    assert "ops" in page and "HTTP 503" in page and "Redeliver" in page and "service.created" in page
    response = client.post(f"/webhooks/deliveries/{item.pk}/redeliver/")
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("pending", 0)
    assert AuditEvent.objects.filter(action="webhook.redeliver", actor=world["lead"]).count() == 1
    client.force_login(world["other"])  # lead of another team: not theirs
    assert "ops" not in client.get("/webhooks/").content.decode()
    assert client.post(f"/webhooks/deliveries/{item.pk}/redeliver/").status_code == 404
    assert AuditEvent.objects.filter(action="webhook.redeliver").count() == 1
