"""Celery beat that runs once per installation, however many beat processes are started.

django-celery-beat's scheduler reads the schedule from the database; two beat processes on it
would both send every periodic task. This scheduler sends only while it holds a lease in Redis
(``SET NX`` with a lifetime of ``BEAT_LOCK_SECONDS``, renewed on every tick by compare-and-set).
Any other beat process stands by, asking again every few seconds, and takes over within one
lease of the holder dying, so a second beat on another host is a hot standby rather than a
duplicate. With Redis unreachable no beat sends (nor could it: Redis is the broker)."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import RedisError

from core.redis import client as redis_client
from core.redis import compare_and_set
from core.redis import key as redis_key

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = "beat:leader"


class SingleBeatScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.lease_token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        super().__init__(*args, **kwargs)

    @property
    def lease_seconds(self) -> int:
        return settings.BEAT_LOCK_SECONDS

    def _hold_lease(self) -> bool:
        """Take the lease if it is free, renew it if it is ours; False if another beat holds it."""
        try:
            if compare_and_set(BEAT_LOCK_KEY, self.lease_token, self.lease_token, ttl=self.lease_seconds):
                return True
            return bool(redis_client().set(redis_key(BEAT_LOCK_KEY), self.lease_token, nx=True, ex=self.lease_seconds))
        except RedisError as exc:
            logger.warning("beat: Redis unreachable (%s); not sending", type(exc).__name__)
            return False

    def tick(self, *args, **kwargs):
        leading = self._hold_lease()
        if leading != self.leading:
            logger.warning("beat %s: %s", self.lease_token, "leading" if leading else "standing by")
            if leading:
                # Read the schedule (and the last runs the previous leader saved) afresh.
                self._initial_read, self._heap = True, None
            self.leading = leading
        poll = max(1.0, self.lease_seconds / 3)
        if not leading:
            return poll
        return min(super().tick(*args, **kwargs), poll)

    def close(self):
        if self.leading:
            try:
                compare_and_set(BEAT_LOCK_KEY, self.lease_token, None)  # hand over at once
            except RedisError:
                pass
        super().close()
