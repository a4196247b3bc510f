"""The path-routed simulated fleet (devtools/fleet.py ``serve_paths``, bench/crawl_scale.py):
many services behind a few loopback ports, each under ``/s/<slug>``, callers naming callees by
slug or alias. A real crawl of it finds exactly the fleet's truth and fetches each target once.
Real HTTP listener, real Neo4j."""

import asyncio
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest

from devtools import fleet
from graph import db, services
from tests.conftest import FLEET_PORT_BASE

pytestmark = [pytest.mark.django_db]

PORT_BASE = FLEET_PORT_BASE + 960  # clear of the other fleets (0..299, 400.., 700.., 900)


class PathFleet:
    def __init__(self, topology):
        self.services, self.counts = topology, Counter()
        self.loop, self.ready = asyncio.new_event_loop(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        self.loop.run_until_complete(
            fleet.serve_paths(self.services, ready=self.ready.set, stop=self.stop_event, counts=self.counts)
        )

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "fleet did not start"
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def test_a_path_routed_fleet_is_crawled_exactly(graph, root):
    topology = fleet.topology(60, seed=5, port_base=PORT_BASE, shared_ports=2)
    assert {s.port for s in topology} == {PORT_BASE, PORT_BASE + 1}
    truth = {(e["source"], e["target"]) for e in fleet.ground_truth(topology)}
    # Callees named by slug as a host name or by alias, never by the shared address.
    labels = [c["label"] for s in topology for c in s.calls if c["kind"] == "service"]
    assert labels and not any(label.startswith("127.0.0.1") for label in labels)
    with PathFleet(topology) as running:
        one = topology[7]
        body = urllib.request.urlopen(f"{one.base_url()}/metrics", timeout=5).read().decode()
        assert body == fleet.exposition(one, 600.0)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT_BASE}/s/nobody/metrics", timeout=5)
        assert err.value.code == 404
        fleet.register(topology, actor=root)
        services.graph_sync()
        run = services.crawl_inline()
    assert (run.status, run.total, run.done, run.failed) == ("succeeded", 60, 60, 0)
    found = {
        (r["s"], r["t"])
        for r in db.read("MATCH (s:Service)-[:CALLS]->(t) RETURN s.slug AS s, coalesce(t.slug, t.key) AS t")
    }
    assert found == truth
    fetched = {path: n for path, n in running.counts.items() if path.endswith(b"/metrics")}
    assert fetched.pop(b"/s/nobody/metrics") == 1
    assert fetched.pop(f"{one.path}/metrics".encode()) == 2  # the direct read above, then the crawl
    assert fetched == {f"{s.path}/metrics".encode(): 1 for s in topology if s is not one}
