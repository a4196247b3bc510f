"""Shared fixtures. Tests run against the real Neo4j, Redis and (where marked) real
Celery workers; nothing of those is mocked."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from devtools import fleet as fleet_module

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The fleets and listeners of the tests are on loopback, which the production default
# allow-list (RFC 1918 only) leaves out: the tests allow it explicitly, as `make run` does.
TEST_ALLOWED_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"


@pytest.fixture(autouse=True)
def _discovery_allows_loopback(settings):
    import ipaddress

    settings.DISCOVERY_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in TEST_ALLOWED_NETWORKS.split(",")]


# Fixtures that need a server or a database; a test marked `unit` may use none of them.
SERVER_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "live_server",
    "graph",
    "celery_workers",
    "web_processes",
    "run_fleet",
    "hostile_fleet",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("unit") is None:
            continue
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used or item.get_closest_marker("django_db"):
            raise pytest.UsageError(f"{item.nodeid} is marked unit but needs a server: {sorted(used) or 'django_db'}")


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Every test but a `unit` one starts with an empty Redis cache and empty gateway caches."""
    if request.node.get_closest_marker("unit"):
        yield
        return
    from django.core.cache import cache

    from catalog import gateway

    cache.clear()
    from core.limiter import forget_blocks

    for state in (gateway._local, gateway._usage, gateway._blocked):  # per-process gateway caches
        state.clear()
    forget_blocks()  # every failed-attempt limiter's blocks (gateway, OTLP receiver)
    yield


@pytest.fixture
def graph():
    """A wiped Neo4j with constraints, for tests that read or write the graph."""
    from graph import services

    services.graph_wipe()
    services.graph_init()
    yield
    services.graph_wipe()


@pytest.fixture
def eager():
    """Run tasks sent on commit in-process (for projection tests that are not about Celery)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def make_user(db):
    def make(username, **extra):
        return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def api():
    def client(user=None):
        c = APIClient()
        if user is not None:
            c.force_authenticate(user)
        return c

    return client


@pytest.fixture
def world(db, make_user):
    """An org with one team, a lead, a member, an org admin, a reader and a superuser."""
    from teams.models import Membership, Org, Team

    users = {name: make_user(name) for name in ("lead", "member", "orgadmin", "reader", "other")}
    users["root"] = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    org = Org.objects.create(slug="acme", name="Acme")
    org.admins.add(users["orgadmin"])
    team = Team.objects.create(org=org, slug="alpha", name="Alpha", oncall_contact="alpha@oncall")
    other = Team.objects.create(org=org, slug="beta", name="Beta")
    Membership.objects.create(team=team, user=users["lead"], role="lead")
    Membership.objects.create(team=team, user=users["member"], role="member")
    Membership.objects.create(team=other, user=users["other"], role="lead")
    return {"org": org, "team": team, "other_team": other, **users}


def _worker_env() -> dict:
    from django.db import connection

    env = dict(os.environ)
    db_settings = connection.settings_dict
    if db_settings["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db_settings['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db_settings['USER']}:{db_settings['PASSWORD']}@{db_settings['HOST'] or '127.0.0.1'}:"
            f"{db_settings['PORT'] or 5432}/{db_settings['NAME']}"
        )
    # The workers must share this process's Redis database and cache prefix (locks, progress).
    env["REDIS_URL"] = settings.REDIS_URL
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["SWITCHBOARD_CACHE_PREFIX"] = settings.CACHES["default"]["KEY_PREFIX"]
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    env["DISCOVERY_ALLOWED_NETWORKS"] = ",".join(str(n) for n in settings.DISCOVERY_ALLOWED_NETWORKS)
    env["LOG_LEVEL"] = "WARNING"
    return env


@pytest.fixture
def celery_workers(transactional_db):
    """Start real Celery worker processes against Redis and the test database."""
    from config.celery import app

    procs: list[subprocess.Popen] = []
    app.control.purge()

    def start(
        count: int = 1, concurrency: int = 2, names: list[str] | None = None, **extra_env
    ) -> list[subprocess.Popen]:
        """``names``: the workers' node names (``-n``), one per worker; by default unique test names."""
        log_dir = ROOT / "var"
        log_dir.mkdir(exist_ok=True)
        for i in range(count):
            name = names[i] if names else f"test{len(procs)}-{os.getpid()}@%h"
            log = open(log_dir / f"test-worker-{FLEET_PORT_BASE}-{len(procs)}.log", "w")  # noqa: SIM115 (the worker writes it until torn down)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "-n",
                        name,
                        "--concurrency",
                        str(concurrency),
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env={**_worker_env(), **extra_env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.time() + 120
        while time.time() < deadline:
            replies = app.control.ping(timeout=0.5) or []
            if len(replies) >= sum(p.poll() is None for p in procs):
                return procs
        raise RuntimeError("Celery workers did not answer within 120 s; see var/test-worker-*.log")

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    app.control.purge()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 120) -> None:
    # Generous: on a loaded machine (two CI suites sharing 2 cores) gunicorn takes long to boot.
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def web_processes(transactional_db):
    """Start real gunicorn web processes on the test database; returns their base URLs."""
    procs: list[subprocess.Popen] = []

    def start(count: int = 1, workers: int = 1, **extra_env) -> list[str]:
        urls = []
        for _ in range(count):
            port = free_port()
            log = open(ROOT / "var" / f"test-web-{port}.log", "w")  # noqa: SIM115 (gunicorn writes it until torn down)
            procs.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "gunicorn"),
                        "-c",
                        "config/gunicorn.py",  # the production settings (gthread), bind and workers overridden
                        "config.wsgi",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        str(workers),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env={**_worker_env(), **extra_env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_http(url + "/gateway/verify")
        return urls

    yield start
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(timeout=20)


# --- Simulated live services ------------------------------------------------------
# TEST_PORT_BASE lets two test runs on one machine use separate port ranges.
FLEET_PORT_BASE = int(os.environ.get("TEST_PORT_BASE", 21000))
HOSTILE_PORT_BASE = FLEET_PORT_BASE + 700


class RunningFleet:
    def __init__(self, services, hostile_base):
        self.services = services
        self.hostile_base = hostile_base
        self.hits = Counter()  # requests answered, by (slug, path)
        self.loop = asyncio.new_event_loop()
        self.stop_event = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        self.loop.run_until_complete(
            fleet_module.serve(
                self.services,
                hostile_base=self.hostile_base,
                ready=self.ready.set,
                stop=self.stop_event,
                hits=self.hits,
            )
        )

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


def pytest_report_header(config):
    return [f"database: {settings.DATABASES['default']['ENGINE']}", f"neo4j: {settings.NEO4J_URI}"]
