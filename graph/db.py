"""The one Neo4j driver of this process, and the only module that imports ``neo4j``
besides tests and benchmarks. Writes run in a managed (retry-safe) transaction through
``execute_query`` with an explicit database; reads run as auto-commit queries, retried here
(a read is idempotent), which saves the COMMIT round trip."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator

import neo4j
from django.conf import settings
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired, TransientError
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable as DomainUnavailable
from core.redis import client as redis_client
from core.redis import key as redis_key
from graph import cypher

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_driver: neo4j.Driver | None = None
BATCH_SIZE = 5000  # rows per write transaction; keeps each well inside Neo4j's transaction memory


class GraphUnavailable(DomainUnavailable):
    code = "graph_unavailable"


def driver() -> neo4j.Driver:
    global _driver
    if _driver is None:
        with _lock:
            if _driver is None:
                _driver = GraphDatabase.driver(
                    settings.NEO4J_URI,
                    auth=(settings.NEO4J_USER, settings.NEO4J_PASSWORD),
                    connection_timeout=3,
                    connection_acquisition_timeout=5,
                    max_transaction_retry_time=2,  # a down server is reported quickly, not after minutes
                    max_connection_pool_size=50,
                )
    return _driver


def close() -> None:
    global _driver
    with _lock:
        if _driver is not None:
            _driver.close()
            _driver = None


RETRY_SECONDS = 2  # as the driver's max_transaction_retry_time: a down server is reported quickly


def read(query: str, **params) -> list[dict]:
    """One auto-commit query (RUN and PULL in one round trip; a managed transaction adds its
    COMMIT as a second: at 10k services a 3-hop read took 7.6 ms instead of 9.3 at the median,
    23 instead of 32 at p95 on the loaded machine). Retried on the errors the driver retries
    for ``execute_query`` until RETRY_SECONDS have passed."""
    deadline = time.monotonic() + RETRY_SECONDS
    pause = 0.05
    while True:
        try:
            with driver().session(database=settings.NEO4J_DATABASE, default_access_mode=neo4j.READ_ACCESS) as session:
                result = session.run(query, params)
                keys = result.keys()
                return [dict(zip(keys, r, strict=True)) for r in result]
        except (ServiceUnavailable, SessionExpired, TransientError, OSError) as exc:
            if time.monotonic() + pause > deadline:
                if isinstance(exc, TransientError):
                    raise
                raise GraphUnavailable(f"The graph database is unavailable: {type(exc).__name__}.") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        except AuthError as exc:
            raise GraphUnavailable(f"The graph database is unavailable: {type(exc).__name__}.") from exc
        except DriverError as exc:
            raise GraphUnavailable(f"The graph database driver failed: {type(exc).__name__}.") from exc


def write(query: str, **params) -> list[dict]:
    """One managed (retry-safe) write transaction."""
    try:
        records, _, keys = driver().execute_query(
            query, params, database_=settings.NEO4J_DATABASE, routing_=RoutingControl.WRITE
        )
    except (ServiceUnavailable, SessionExpired, AuthError, OSError) as exc:
        raise GraphUnavailable(f"The graph database is unavailable: {type(exc).__name__}.") from exc
    except DriverError as exc:
        raise GraphUnavailable(f"The graph database driver failed: {type(exc).__name__}.") from exc
    finally:  # also when the commit's outcome is unknown: a needless new version costs one read
        _written(query)
    # Statements return values, never nodes, relationships or paths, so a record is its values
    # as they are: Record.data() walks every nested list and map again to convert graph types
    # (6 of the 16 ms of client CPU of a 1,200-service blast radius).
    return [dict(zip(keys, r, strict=True)) for r in records]


# Every write sets a new random version in Redis; a read kept in the cache (the explorer's
# views, the cycles) is keyed by it, so nothing read before a write is served after it. Random,
# not a counter: a counter that Redis lost (a flush, a restart, an eviction) would count up to
# old values again and serve what was cached under them.
VERSION_KEY = "graph:version"
TEAMS_VERSION_KEY = "graph:teams-version"  # set anew by the writes of cypher.TEAM_WRITES only


def version(name: str = VERSION_KEY) -> str | None:
    """The graph's current version (or the teams' one, TEAMS_VERSION_KEY), or None when Redis
    cannot be asked (then nothing is served from the cache)."""
    try:
        redis = redis_client()
        key = redis_key(name)
        current = redis.get(key)
        if current is None:  # never written, or lost: a new one
            redis.set(key, uuid.uuid4().hex, nx=True)
            current = redis.get(key)
        return current.decode() if current is not None else None
    except RedisError:
        return None


def _written(query: str) -> None:
    try:
        versions = {redis_key(VERSION_KEY): uuid.uuid4().hex}
        if query in cypher.TEAM_WRITES:
            versions[redis_key(TEAMS_VERSION_KEY)] = uuid.uuid4().hex
        redis_client().mset(versions)
    except RedisError as exc:  # cached reads then last until their TTL (graph.selectors)
        logger.warning("graph version not changed after a write (Redis: %s)", type(exc).__name__)


def read_collected(query: str, columns: tuple[str, ...], **params) -> list[dict]:
    """A read that returns its rows as one list (``RETURN collect([...]) AS rows``, the values in
    the order of ``columns``): the driver decodes one record instead of one per row, which for
    thousands of rows is most of the time (6,000 explorer edges: 65 ms instead of 200)."""
    return [dict(zip(columns, row, strict=True)) for row in read(query, **params)[0]["rows"]]


def chunks(rows: list, size: int = BATCH_SIZE) -> Iterator[list]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def write_batches(query: str, rows: Iterable[dict], *, size: int = BATCH_SIZE, **params) -> list[dict]:
    """``UNWIND $rows`` writes, one transaction per batch of ``size`` rows."""
    out: list[dict] = []
    for batch in chunks(list(rows), size):
        out.extend(write(query, rows=batch, **params))
    return out


def server_version() -> str:
    try:
        info = driver().get_server_info()
    except (Neo4jError, DriverError, OSError) as exc:
        raise GraphUnavailable(f"The graph database is unavailable: {type(exc).__name__}.") from exc
    return info.agent
