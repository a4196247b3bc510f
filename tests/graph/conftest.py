import asyncio
import threading

import pytest

from graph import fleet as fleet_module

FLEET_PORT_BASE = 21000
HOSTILE_PORT_BASE = 21700


class RunningFleet:
    def __init__(self, services, hostile_base):
        self.services = services
        self.hostile_base = hostile_base
        self.loop = asyncio.new_event_loop()
        self.stop_event = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        self.loop.run_until_complete(fleet_module.serve(self.services, hostile_base=self.hostile_base,
                                                        ready=self.ready.set, stop=self.stop_event))

    def start(self):
        self.thread.start()
        assert self.ready.wait(30), "fleet did not start"
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    @property
    def truth(self):
        return {(e["source"], e["target"]) for e in fleet_module.ground_truth(self.services)}


@pytest.fixture
def run_fleet():
    running = []

    def start(n, *, seed=1, hostile=False):
        services = fleet_module.topology(n, seed=seed, port_base=FLEET_PORT_BASE)
        f = RunningFleet(services, HOSTILE_PORT_BASE if hostile else None).start()
        running.append(f)
        return f

    yield start
    for f in running:
        f.stop()


@pytest.fixture(scope="module")
def hostile_fleet():
    """Misbehaving servers (plus one normal service), shared by a module's tests."""
    f = RunningFleet(fleet_module.topology(1, port_base=FLEET_PORT_BASE + 900), HOSTILE_PORT_BASE).start()
    yield f
    f.stop()


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")
