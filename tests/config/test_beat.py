"""One beat per installation (config/beat.py): two real `celery beat` processes on the same
database and Redis; only the lease holder sends, and the standby takes over when it dies."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.conftest import FLEET_PORT_BASE, ROOT, _worker_env

pytestmark = [pytest.mark.worker]


def _sent(broker: redis.Redis, queue: str) -> list[int]:
    """The pids of the beat processes that sent the queued messages, oldest first."""
    messages = [json.loads(m) for m in reversed(broker.lrange(queue, 0, -1))]  # LPUSH: newest first
    return [int(m["headers"]["origin"].split("@")[0].removeprefix("gen")) for m in messages]


def _wait(condition, what: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def test_two_beats_send_each_tick_once_and_the_standby_takes_over(transactional_db, settings):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    queue = f"beat-test-{os.getpid()}"
    PeriodicTask.objects.update(enabled=False)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(name="beat-test-tick", task="tests.beat.tick", interval=every_second, queue=queue)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(queue)
    procs = []
    try:
        for i in range(2):
            log = open(ROOT / "var" / f"test-beat-{FLEET_PORT_BASE}-{i}.log", "w")  # noqa: SIM115 (beat writes it until torn down)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING", "--pidfile="],
                    cwd=ROOT,
                    env={**_worker_env(), "BEAT_LOCK_SECONDS": "3"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        pids = {p.pid: p for p in procs}
        # Both beats are up and ticking; every tick was sent once, by one of them.
        first = _wait(lambda: (s := _sent(broker, queue)) and len(s) >= 6 and s, "six ticks sent")
        assert len(set(first)) == 1 and first[0] in pids, first
        leader = pids[first[0]]
        assert all(p.poll() is None for p in procs)  # the other one is still running: it stands by

        # The leader dies without a word; the standby takes over when the lease lapses.
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(10)
        (standby,) = [p for p in procs if p is not leader]
        after = _wait(lambda: (s := _sent(broker, queue)) and s.count(standby.pid) >= 3 and s, "the standby sending")
        assert set(after) == {leader.pid, standby.pid}
        # Never both: every tick of the old leader precedes every tick of the new one.
        cut = after.index(standby.pid)
        assert set(after[:cut]) == {leader.pid} and set(after[cut:]) == {standby.pid}, after
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        broker.delete(queue)
