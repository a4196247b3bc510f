"""Direct Redis access for the few things the cache API cannot express (atomic
compare-and-set locks, hashes). Same server, database and key prefix as the cache."""

from django.core.cache import cache
from redis.exceptions import WatchError


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
