"""Direct Redis access for the few things the cache API cannot express (atomic
compare-and-set locks, hashes). Same server, database and key prefix as the cache."""

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import WatchError


class _ReusingClient(RedisCacheClient):
    """Django's client builds a new ``redis.Redis`` for every cache call, and each one fills a
    table of ~170 response callbacks: half the Python work of a gateway check with a quota
    (bench/README.md, "Gateway quotas"). One ``redis.Redis`` per connection pool is enough:
    it is thread-safe and, like its pool, safe across fork."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        redis = self._clients.get(index)
        if redis is None:
            redis = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return redis


class RedisCache(DjangoRedisCache):
    """Django's Redis cache backend (settings.CACHES) with one client per pool."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient


def client():
    return cache._cache.get_client(write=True)  # the cache's own connection pool


def key(name: str) -> str:
    return cache.make_key(name)


def compare_and_set(name: str, expected: str | None, value: str | None, *, ttl: int | None = None) -> bool:
    """Set (or delete, for ``value=None``) ``name`` only if it still holds ``expected``."""
    redis = client()
    full = key(name)
    with redis.pipeline() as pipe:
        try:
            pipe.watch(full)
            current = pipe.get(full)
            if (current.decode() if current is not None else None) != expected:
                return False
            pipe.multi()
            if value is None:
                pipe.delete(full)
            else:
                pipe.set(full, value, ex=ttl)
            pipe.execute()
            return True
        except WatchError:
            return False
