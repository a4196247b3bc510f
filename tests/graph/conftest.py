"""A real Prometheus server (scripts/prometheus, Debian's 2.42) scraping a simulated fleet
and its service-graph collector (devtools/fleet_collector.py), for the central source."""

import asyncio
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from devtools import fleet as fleet_module
from devtools import fleet_collector
from graph.discovery.latency import histogram_from_values
from graph.discovery.matching import Target
from graph.discovery.sources import Observation, ObservedEdge
from tests.conftest import FLEET_PORT_BASE

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_PORT = FLEET_PORT_BASE + 980
COLLECTOR_PORT = FLEET_PORT_BASE + 981
CENTRAL_FLEET_BASE = FLEET_PORT_BASE + 400  # clear of run_fleet's (0..299) and the hostile ones
CENTRAL_FLEET_SIZE = 30
CENTRAL_WINDOW = 20  # seconds: each query's increase(...[20s])
# How closely a rate read from Prometheus matches the fleet's truth. Prometheus stamps a sample
# when its scrape starts and the fleet counts when it answers: with two test suites on two cores
# answers came up to ~0.2 s late, 1 % of the window. (On a quiet machine they agree within 1 %.)
CENTRAL_RATE_TOLERANCE = 0.02
SCALE = 1000  # call rates x1000: a window's increase is exact to well under 1% with integer counters


def windowed(src, *edges):
    """An OTLP-like observation of ``src``: one minute's calls (rate per minute = calls), with latency where given."""
    obs = Observation(target=src, source="otlp", service_slug=src, ok=True, window_seconds=60)
    for dst, calls, errors, *latency in edges:
        kind = "endpoint" if ":" in dst else "service"
        hist = histogram_from_values(latency[0]) if latency else None
        obs.edges.append(ObservedEdge(src, Target(kind, dst), calls, errors, latency=hist))
    return obs


def _script(action: str, home: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PROMETHEUS_PORT": str(PROMETHEUS_PORT),
        "PROMETHEUS_HOME_DIR": str(home),
        "PROMETHEUS_SCRAPE_INTERVAL": "1s",
    }
    return subprocess.run(
        [str(ROOT / "scripts" / "prometheus"), action], env=env, capture_output=True, text=True, timeout=90
    )


def prom_query(promql: str) -> list:
    url = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    import json

    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)["data"]["result"]


@pytest.fixture(scope="session")
def prometheus():
    """Start a Prometheus of our own (own config and data directory under var/), once per session."""
    home = ROOT / "var" / f"test-prometheus-{PROMETHEUS_PORT}"
    started = _script("start", home)
    assert started.returncode == 0, started.stdout + started.stderr
    yield {"url": f"http://127.0.0.1:{PROMETHEUS_PORT}", "targets": home / "targets"}
    _script("stop", home)


class CentralFleet:
    """The fleet's services and the collector, served from one thread; Prometheus scrapes both."""

    def __init__(self, services):
        self.services = services
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop_event = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        count = [0]

        def one_ready():
            count[0] += 1
            if count[0] == 2:
                self.ready.set()

        self.loop.run_until_complete(
            asyncio.gather(
                fleet_module.serve(self.services, ready=one_ready, stop=self.stop_event),
                fleet_collector.serve(self.services, COLLECTOR_PORT, ready=one_ready, stop=self.stop_event),
            )
        )

    def start(self):
        self.thread.start()
        assert self.ready.wait(30), "central fleet did not start"
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    @property
    def truth(self):
        return {(e["source"], e["target"]) for e in fleet_module.ground_truth(self.services)}


@pytest.fixture(scope="session")
def central_fleet(prometheus):
    """A 30-service fleet (rates x1000) and its collector, scraped every second by the real
    Prometheus until it holds more than one window of samples for every series."""
    services = fleet_collector.scaled(
        fleet_module.topology(CENTRAL_FLEET_SIZE, seed=5, port_base=CENTRAL_FLEET_BASE), SCALE
    )
    running = CentralFleet(services).start()
    target_file = prometheus["targets"] / "central-fleet.json"
    fleet_collector.write_targets(services, str(target_file), collector=f"127.0.0.1:{COLLECTOR_PORT}")
    deadline = time.time() + 60
    while time.time() < deadline:
        up = prom_query('count(up{job=~"fleet-.*|otel-collector"} == 1)')
        if up and int(float(up[0]["value"][1])) == CENTRAL_FLEET_SIZE + 1:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("Prometheus did not scrape the fleet and the collector within 60 s")
    time.sleep(CENTRAL_WINDOW + 3)  # a whole window of samples behind every series
    yield running
    target_file.unlink(missing_ok=True)
    running.stop()
