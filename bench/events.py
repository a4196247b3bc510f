"""Events to a webhook receiver (issue 14's target: p95 <= 5 s from the change to the receiver
at 1,000 events per minute). A real Celery worker (concurrency 2) delivers to a real HTTP
receiver on loopback that verifies every signature; the load is catalog writes (a service
updated every 60 ms, each one event in its own transaction) for BENCH_EVENTS_SECONDS (60).
Latency: the receiver's clock at arrival minus the event's recorded time (same host)."""

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import Row, celery_worker, summary

RATE_PER_MIN = 1000
SECONDS = int(os.environ.get("BENCH_EVENTS_SECONDS", 60))
TARGET_S = 5.0


class _Receiver:
    def __init__(self):
        self.secret = ""
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.bad = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                from changes.delivery import SIGNATURE_HEADER, verify

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                ok = verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, ""))
                with receiver.lock:
                    if not ok:
                        receiver.bad += 1
                    else:
                        event_id = json.loads(body)["id"]
                        if event_id in receiver.arrivals:
                            receiver.duplicates += 1
                        else:
                            receiver.arrivals[event_id] = now
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _world():
    from django.contrib.auth import get_user_model

    from catalog import services as catalog
    from catalog.models import Service
    from changes import services as changes
    from changes.models import Webhook
    from teams.models import Org, Team

    root = get_user_model().objects.filter(
        username="bench-events"
    ).first() or get_user_model().objects.create_superuser("bench-events", "b@example.com", None)
    org, _ = Org.objects.get_or_create(slug="bench-events", defaults={"name": "Bench events"})
    team, _ = Team.objects.get_or_create(slug="bench-events", defaults={"org": org, "name": "Bench events"})
    service = Service.objects.filter(slug="bench-events-svc").first() or catalog.service_create(
        actor=root, team=team, slug="bench-events-svc", name="Bench events"
    )
    Webhook.objects.filter(team=team).delete()
    return root, team, service, changes


def run():
    from django.db.models import Count

    from catalog import services as catalog
    from changes.models import Delivery, Event

    receiver = _Receiver()
    root, team, service, changes = _world()
    webhook, receiver.secret = changes.webhook_create(
        actor=root, name="bench", url=receiver.url, types=["service.updated"], team=team
    )
    worker = celery_worker("bench-events", concurrency=2)
    try:
        from config.celery import app

        app.control.purge()
        deadline = time.time() + 60
        while not (app.control.ping(timeout=0.5) or []) and time.time() < deadline:
            pass
        first = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
        interval = 60.0 / RATE_PER_MIN
        total = SECONDS * RATE_PER_MIN // 60
        start = time.perf_counter()
        for n in range(total):
            catalog.service_update(actor=root, service=service, description=f"bench {n}")
            pause = start + (n + 1) * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        produced_s = time.perf_counter() - start
        events = dict(
            Event.objects.filter(id__gt=first, type="service.updated", team_id=team.pk).values_list(
                "uid", "occurred_at"
            )
        )
        wait_until = time.time() + 120
        while len(receiver.arrivals) < len(events) and time.time() < wait_until:
            time.sleep(0.2)
        latencies = []
        for uid, occurred in events.items():
            arrived = receiver.arrivals.get(f"evt_{uid.hex}")
            if arrived is not None:
                latencies.append(arrived - occurred.timestamp())
        stats = summary(latencies) if latencies else {"p95": float("nan")}
        missing = len(events) - len(latencies)
        statuses = dict(
            Delivery.objects.filter(webhook=webhook).values("status").annotate(n=Count("id")).values_list("status", "n")
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        receiver.server.shutdown()
    rate = len(events) / produced_s * 60
    detail = {**stats, "events": len(events), "missing": missing, "duplicates": receiver.duplicates}
    detail |= {"bad_signatures": receiver.bad, "rate_per_min": round(rate), "statuses": statuses}
    detail["when"] = datetime.now(UTC).isoformat()
    ok = missing == 0 and receiver.bad == 0 and stats["p95"] <= TARGET_S
    yield Row(f"webhook delivery p95 at {round(rate)} events/min", round(stats["p95"], 3), "s", "<= 5 s", ok, detail)
    yield Row(
        "webhook deliveries missing / duplicated",
        missing + receiver.duplicates,
        "",
        "= 0",
        missing + receiver.duplicates == 0,
    )
