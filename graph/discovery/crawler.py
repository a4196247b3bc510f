"""Observe a list of targets concurrently (bounded), each group of same-label targets one
source after the other in one slot; one failure never stops the rest."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from graph.discovery.fetch import make_session
from graph.discovery.matching import CatalogIndex
from graph.discovery.sources import FetchLimits, Observation, ObserveContext, Source, SourceTarget


async def _observe_all(groups, sources, index, limits, rules, on_result) -> list[Observation]:
    semaphore = asyncio.Semaphore(limits.concurrency)
    async with make_session(allowed=limits.allowed, concurrency=limits.concurrency) as session:
        ctx = ObserveContext(session=session, index=index, limits=limits, rules=rules)

        async def one(group: list[SourceTarget]) -> Observation:
            async with semaphore:
                # One after the other: a service's health check reuses its metrics fetch's connection.
                result = await sources[group[0].source].observe(group[0], ctx)
                result.observed_at_ms = result.observed_at_ms or int(time.time() * 1000)
                for target in group[1:]:
                    result.fold(await sources[target.source].observe(target, ctx))
            on_result(result)
            return result

        return list(await asyncio.gather(*(one(g) for g in groups)))


def observe(
    groups: list[list[SourceTarget]],
    sources: dict[str, Source],
    *,
    index: CatalogIndex,
    limits: FetchLimits,
    rules: list[dict],
    on_result=lambda r: None,
) -> list[Observation]:
    """One observation per group (targets sharing a label), in the groups' order."""
    work = _observe_all(groups, sources, index, limits, rules, on_result)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    # Called from code that already runs an event loop in this thread: use a thread of our own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()
