"""core.redis: the cache backend hands out one redis client per connection pool, and that
client talks to the live Redis the cache uses (same database, same key prefix)."""

import threading

from django.core.cache import cache

from core import redis as core_redis


def test_one_client_per_pool_shared_by_the_cache_and_direct_access():
    first = core_redis.client()
    assert core_redis.client() is first
    assert cache._cache.get_client(write=True) is first
    cache.set("redis-client-probe", 41)
    assert first.incr(core_redis.key("redis-client-probe")) == 42
    assert cache.get("redis-client-probe") == 42


def test_the_shared_client_serves_threads_at_once():
    """A redis.Redis is thread-safe (each command borrows a pooled connection): threads that
    share it each read back what they wrote."""
    shared = core_redis.client()
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                name = core_redis.key(f"redis-thread-{n}")
                shared.set(name, f"{n}:{i}")
                assert shared.get(name) == f"{n}:{i}".encode()
        except Exception as exc:  # reported below: an assertion in a thread does not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
