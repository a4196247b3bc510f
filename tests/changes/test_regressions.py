"""Regression detection and the deploy gate (issue 14).

The fleet test runs the whole path on real components: a simulated fleet crawled by discovery
into Neo4j and the edge history, deploys recorded by a pipeline with a deploy key, a real
Celery worker detecting the regression the history append asks for, and the gate answered over
REST. The threshold tests feed the history store directly (same write path as a crawl)."""

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from catalog import services as catalog
from changes import regressions
from changes import services as changes
from changes.models import Deploy, Event, Regression
from devtools import fleet
from graph import services as graph_services
from graph.signals import EdgeSample as Observed

WINDOW = 6  # seconds before and after a deploy that are compared (the default is 15 minutes)


def _bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _deploy(client, service: str, deploy_id: str, version: str):
    body = {"service": service, "deploy_id": deploy_id, "version": version, "status": "succeeded"}
    response = client.post("/api/v1/deploys/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def _crawl_until(deadline: float, at_least: int = 3) -> None:
    """Crawl about every second, at least ``at_least`` times and until ``deadline`` (epoch
    seconds) has passed (a loaded machine crawls slower: the count keeps the windows full)."""
    crawls = 0
    while True:
        assert graph_services.crawl_inline().status == "succeeded"
        crawls += 1
        if time.time() > deadline and crawls >= at_least:
            return
        time.sleep(1.1)


def _wait_for(check, timeout: float = 90):
    """Until ``check()`` is truthy (a wait for the worker, not an assertion on time)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    return check()


def test_a_deploy_that_fails_more_is_flagged_and_the_gate_says_fail(
    graph, run_fleet, root, api, settings, celery_workers
):
    env = {"REGRESSION_WINDOW_SECONDS": str(WINDOW), "REGRESSION_MIN_CALLS": "3"}
    settings.REGRESSION_WINDOW_SECONDS, settings.REGRESSION_MIN_CALLS = WINDOW, 3
    celery_workers(1, concurrency=1, **env)
    running = run_fleet(8, seed=3)
    for svc in running.services:  # no errors to start with: the only change is the bad deploy's
        for call in svc.calls:
            call["error_share"] = 0
    fleet.register(running.services, actor=root)
    graph_services.graph_sync()
    target = "fleet-0004"  # called by fleet-0001, -0002 and -0007 (290 calls/min), calls three others
    callers = [s for s in running.services if any(c["target"] == target for c in s.calls)]
    assert len(callers) == 3
    from catalog.models import Service

    service = Service.objects.get(slug=target)
    _, secret = changes.deploy_key_issue(actor=root, service=service, name="pipeline")
    pipeline = _bearer(secret)
    _, quiet_secret = changes.deploy_key_issue(actor=root, service=Service.objects.get(slug="fleet-0000"), name="ci")

    _crawl_until(0)  # counters, then two windows with rates: the "before"

    good = _deploy(pipeline, target, "run-1", "1.0.0")
    quiet = _deploy(_bearer(quiet_secret), "fleet-0000", "run-q", "0.1.0")  # calls nothing, called by none
    early = pipeline.get(f"/api/v1/deploys/{good['id']}/verdict").json()
    assert early["verdict"] == "wait" and [r["code"] for r in early["reasons"]] == ["window_open"]
    _crawl_until(time.time() + WINDOW + 1.5)

    verdict = pipeline.get(f"/api/v1/deploys/{good['id']}/verdict")
    assert verdict.status_code == 200, verdict.content
    body = verdict.json()
    assert body["verdict"] == "pass", body
    assert body["reasons"][0]["code"] == "no_regression" and body["edges_compared"] >= 1
    quiet_verdict = api(root).get(f"/api/v1/deploys/{quiet['id']}/verdict").json()
    assert quiet_verdict["verdict"] == "wait" and quiet_verdict["reasons"][0]["code"] == "not_enough_traffic"
    # A deploy key answers for its own service's deploys only.
    other = _bearer(quiet_secret).get(f"/api/v1/deploys/{good['id']}/verdict")
    assert other.status_code == 403 and other.json()["code"] == "permission_denied"

    bad = _deploy(pipeline, target, "run-2", "1.1.0")
    for caller in callers:  # version 1.1.0 answers half of its calls with 500
        fleet.set_error_share(caller, target, 0.5)
    _crawl_until(time.time() + WINDOW + 1.5)

    flagged = _wait_for(lambda: list(Regression.objects.filter(deploy_id=bad["id"])))
    assert flagged, "the worker flagged no regression"
    assert {r.metric for r in flagged} == {"error_rate"}
    assert {(r.src, r.dst, r.direction) for r in flagged} <= {(c.slug, target, "in") for c in callers}
    busiest = next(r for r in flagged if r.src == "fleet-0007")
    assert busiest.before == 0 and 0.3 <= busiest.after <= 0.7 and busiest.calls_after >= 3
    assert not Regression.objects.filter(deploy_id=good["id"]).exists()
    events = Event.objects.filter(type="regression.detected")
    assert events.count() == len(flagged)  # once each, however many crawls came after
    event = events.get(payload__src="fleet-0007")
    assert (event.payload["deploy"], event.payload["version"], event.service_id) == (bad["id"], "1.1.0", service.pk)

    failing = pipeline.get(f"/api/v1/deploys/{bad['id']}/verdict").json()
    assert failing["verdict"] == "fail"
    assert any(
        r["code"] == "regression" and r["detail"].startswith("fleet-0007 -> fleet-0004: error rate 0.00% ->")
        for r in failing["reasons"]
    ), failing
    # The good deploy stays good: its window ended before the bad one.
    assert pipeline.get(f"/api/v1/deploys/{good['id']}/verdict").json()["verdict"] == "pass"

    # What changed around the service: its edges, the regression and both deploys, not fleet-0000's.
    found = api(root).get(f"/api/v1/services/{target}/changes", {"since": "1h"}).json()
    assert {(e["change"], e["src"], e["dst"]) for e in found["edges"]} >= {
        ("appeared", c.slug, target) for c in callers
    }
    assert {r["deploy"] for r in found["regressions"]} == {bad["id"]}
    assert [d["version"] for d in found["deploys"]] == ["1.1.0", "1.0.0"]


# --- Thresholds, on the history store's write path --------------------------------------------------
@pytest.fixture
def shop(world, settings):
    settings.REGRESSION_WINDOW_SECONDS = 600
    settings.REGRESSION_MIN_CALLS = 100
    for slug in ("web", "orders", "ledger"):
        catalog.service_create(actor=world["member"], team=world["team"], slug=slug, name=slug)
    return world


def _history(now: int, deployed: int, *, before: tuple, after: tuple, edge=("web", "orders")) -> None:
    """Samples a minute apart for 20 minutes before the deploy and until ``now``: (calls/min,
    error rate, p95) before and after."""
    samples = []
    for t in range(deployed - 1200, now + 1, 60):
        rate, err, p95 = before if t <= deployed else after
        samples.append(Observed(*edge, t * 1000, rate, err, p95))
    changes.history_append(samples)


def _deploy_at(world, slug: str, at: int, version: str = "2.0.0") -> Deploy:
    from catalog.models import Service

    return Deploy.objects.create(
        service=Service.objects.get(slug=slug),
        client_id=f"d-{version}-{at}",
        version=version,
        finished_at=datetime.fromtimestamp(at, tz=UTC),
    )


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        ((60.0, 0.01, 20.0), (60.0, 0.10, 20.0), {"error_rate"}),  # +9 points, 10x
        ((60.0, 0.01, 20.0), (60.0, 0.01, 200.0), {"p95_ms"}),  # +180 ms, 10x
        ((60.0, 0.001, 20.0), (60.0, 0.01, 20.0), set()),  # 10x, but +0.9 points only
        ((60.0, 0.30, 300.0), (60.0, 0.33, 360.0), set()),  # +3 points, +60 ms, but only 1.1x and 1.2x
        ((3.0, 0.01, 20.0), (3.0, 0.50, 900.0), set()),  # too few calls to judge (60 in each window)
    ],
)
def test_a_rise_is_flagged_beyond_an_absolute_and_a_relative_threshold_with_enough_calls(shop, before, after, flagged):
    now = int(time.time())
    deployed = now - 660  # the window after the deploy has elapsed
    deploy = _deploy_at(shop, "orders", deployed)
    _history(now, deployed, before=before, after=after)
    assert regressions.regressions_detect() == len(flagged)
    assert {r.metric for r in Regression.objects.filter(deploy=deploy)} == flagged
    assert Event.objects.filter(type="regression.detected").count() == len(flagged)
    assert regressions.regressions_detect() == 0  # once
    verdict = regressions.deploy_verdict(deploy=deploy)
    if flagged:
        assert verdict.verdict == "fail" and {r.code for r in verdict.reasons} == {"regression"}
    elif before[0] < 100 / 10:
        assert verdict.verdict == "wait" and verdict.reasons[0].code == "not_enough_traffic"
    else:
        assert verdict.verdict == "pass" and verdict.edges_compared == 1


def test_a_sample_in_the_deploys_own_second_counts_in_neither_window(shop):
    """Samples and deploys are timed to the second: a sample taken in the deploy's second, after
    it, already carries the new version's errors and is not part of the window before it."""
    now = int(time.time())
    deployed = now - 660
    deploy = _deploy_at(shop, "orders", deployed)
    samples = [Observed("web", "orders", t * 1000, 60.0, 0.0, 10.0) for t in range(deployed - 600, deployed, 60)]
    samples.append(Observed("web", "orders", deployed * 1000 + 900, 60.0, 0.5, 10.0))  # 0.9 s after the deploy
    samples += [Observed("web", "orders", t * 1000, 60.0, 0.5, 10.0) for t in range(deployed + 60, now + 1, 60)]
    changes.history_append(samples)
    assert regressions.regressions_detect() == 1
    (r,) = Regression.objects.filter(deploy=deploy)
    assert (r.metric, r.before, r.after) == ("error_rate", 0.0, 0.5)


def test_the_gate_fails_early_and_blames_the_latest_deploy(shop):
    now = int(time.time())
    first = _deploy_at(shop, "orders", now - 900, "1.0.0")
    second = _deploy_at(shop, "orders", now - 240, "1.1.0")  # the errors start with this one
    _history(now, now - 240, before=(60.0, 0.0, 10.0), after=(60.0, 0.2, 10.0))
    _history(now, now - 240, before=(30.0, 0.0, 5.0), after=(30.0, 0.0, 5.0), edge=("orders", "ledger"))
    regressions.regressions_detect()
    assert not Regression.objects.filter(deploy=first).exists()
    (r,) = Regression.objects.filter(deploy=second)
    assert (r.src, r.dst, r.direction, r.metric, r.before, r.after) == ("web", "orders", "in", "error_rate", 0.0, 0.2)
    # The window is still open, but a regression is reason enough.
    verdict = regressions.deploy_verdict(deploy=second)
    assert verdict.verdict == "fail" and verdict.edges_total == 2
    assert regressions.deploy_verdict(deploy=first).verdict == "pass"


def test_a_failed_or_unfinished_deploy_is_judged_by_its_status(shop):
    now = int(time.time())
    rolled = _deploy_at(shop, "ledger", now - 900)
    rolled.status = "rolled_back"
    rolled.save()
    assert regressions.deploy_verdict(deploy=rolled).verdict == "fail"
    started = _deploy_at(shop, "web", now - 900, "3.0.0")
    Deploy.objects.filter(pk=started.pk).update(status="started", finished_at=None)
    started.refresh_from_db()
    verdict = regressions.deploy_verdict(deploy=started)
    assert (verdict.verdict, verdict.reasons[0].code) == ("wait", "deploy_status")


def test_the_verdict_api_answers_readers_and_refuses_strangers(shop, api):
    deploy = _deploy_at(shop, "orders", int(time.time()) - 60)
    body = api(shop["reader"]).get(f"/api/v1/deploys/{deploy.pk}/verdict").json()
    assert body["verdict"] == "wait" and body["reasons"][0]["code"] == "window_open"
    assert body["deploy"] == deploy.pk and body["service"] == "orders"
    assert api().get(f"/api/v1/deploys/{deploy.pk}/verdict").status_code == 401
    assert _bearer("swb_bogus").get(f"/api/v1/deploys/{deploy.pk}/verdict").status_code == 401
    missing = api(shop["reader"]).get("/api/v1/deploys/99999/verdict")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api(shop["reader"]).get("/api/v1/deploys/x/verdict").status_code == 404


def test_detection_is_queued_only_while_a_deploy_is_recent(shop, settings):
    from core.redis import client, key

    client().delete(key(regressions.PENDING_KEY))
    assert regressions.regressions_schedule() is False  # no deploy at all
    old = _deploy_at(shop, "orders", int(time.time()) - 3600)
    Deploy.objects.filter(pk=old.pk).update(created_at=datetime.now(tz=UTC) - timedelta(hours=1))
    assert regressions.regressions_schedule() is False
    _deploy_at(shop, "web", int(time.time()))
    assert regressions.regressions_schedule() is True
    assert regressions.regressions_schedule() is False  # one queued at a time
    regressions.regressions_detect()  # the task clears the flag before it reads
    assert regressions.regressions_schedule() is True


def test_slo_burn_since_the_deploy_fails_the_gate_without_a_regression(shop):
    from catalog.models import Service

    orders = Service.objects.get(slug="orders")
    catalog.api_create(
        actor=shop["root"], provider=orders, slug="orders-v1", name="Orders v1", slo_availability=Decimal("99.9")
    )
    now = int(time.time())
    deploy = _deploy_at(shop, "orders", now - 660)
    # 1 % errors after the deploy: +1 point is under the regression threshold, but 10x a 99.9 % budget
    _history(now, now - 660, before=(60.0, 0.0, 10.0), after=(60.0, 0.01, 10.0))
    assert regressions.regressions_detect() == 0
    verdict = regressions.deploy_verdict(deploy=deploy)
    assert verdict.verdict == "fail" and [r.code for r in verdict.reasons] == ["slo_burn"]
    assert "orders-v1" in verdict.reasons[0].detail and "burn rate 10.0x" in verdict.reasons[0].detail
