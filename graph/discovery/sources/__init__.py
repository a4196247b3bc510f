"""Discovery sources and their registry (``settings.DISCOVERY_SOURCES``, dotted class
paths, in the order a target's sources observe it). See base.py for the protocol."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from graph.discovery.sources.base import (
    FetchLimits,
    Observation,
    ObserveContext,
    ObservedEdge,
    Source,
    SourceTarget,
)

__all__ = [
    "FetchLimits",
    "Observation",
    "ObservedEdge",
    "ObserveContext",
    "Source",
    "SourceTarget",
    "registry",
    "get",
]


@cache
def _load(paths: tuple[str, ...]) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for path in paths:
        source = import_string(path)()
        if not isinstance(source, Source) or source.ages not in ("service", "evidence"):
            raise ImproperlyConfigured(
                f"DISCOVERY_SOURCES: {path} is not a discovery source (see graph/discovery/sources/base.py)"
            )
        if source.name in sources:
            raise ImproperlyConfigured(f"DISCOVERY_SOURCES: two sources are named {source.name!r}")
        sources[source.name] = source
    return sources


def registry() -> dict[str, Source]:
    """The registered sources by name, in registry order (one instance each per process)."""
    return _load(tuple(settings.DISCOVERY_SOURCES))


def get(name: str) -> Source:
    try:
        return registry()[name]
    except KeyError:
        raise ImproperlyConfigured(f"discovery source {name!r} is not in DISCOVERY_SOURCES") from None
