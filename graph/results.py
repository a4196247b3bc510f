"""The shapes of graph reads, written once.

``graph/selectors.py`` returns these (plain dicts, typed here); the REST serializers in
``graph/api/serializers.py`` and the graphene types in ``graph/graphql/types.py`` describe
the same fields. ``mismatches`` compares a serializer and a graphene type with a result
type field by field (name, JSON type, nullability, nesting); ``RESULT_TYPES`` lists every
pair, and a test asserts there is no mismatch, so the three cannot drift apart again.

Times are epoch milliseconds (integers: a GraphQL ``Int`` is 32-bit, so they are
``BigInt`` there).
"""

from __future__ import annotations

import types
import typing
from typing import Literal, NotRequired, TypedDict, Union


class Dependency(TypedDict):
    kind: Literal["service", "endpoint"]
    slug: str
    name: str
    team: str | None
    tier: int | None
    distance: int


class AffectedService(TypedDict):
    slug: str
    tier: int | None


class AffectedTeam(TypedDict):
    team: str
    team_name: str
    oncall: str
    chat: str
    worst_tier: int | None
    services: list[AffectedService]


class BlastRadius(TypedDict):
    service: str
    affected_services: int
    teams: list[AffectedTeam]


class Drift(TypedDict):
    declared_not_seen: list[str]
    seen_not_declared: list[str]


class GraphNode(TypedDict):
    id: str
    name: str
    team: str | None
    tier: int | None
    kind: str


class CallEdge(TypedDict):
    source: str
    target: str
    rate_per_min: float | None
    error_rate: float | None
    calls: float | None
    errors: float | None
    stale: bool | None
    first_seen: int | None
    last_seen: int | None
    sources: list[str] | None
    # Latency of the calls in the edge's latest window with calls, in milliseconds; null
    # where no histogram or span gave it.
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ServiceCall(TypedDict):
    """One direct call edge of a service, seen from it: ``out`` to what it calls, ``in``
    from a caller (the service page's tables)."""

    direction: Literal["out", "in"]
    peer: str
    kind: Literal["service", "endpoint"]
    rate_per_min: float | None
    error_rate: float | None
    stale: bool | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    last_seen: int | None  # epoch ms of the last fetch that saw the edge
    # The edge is part of a cycle: its far end calls back to its near end within 5 hops (as graph_cycles).
    in_cycle: bool


class FleetHealth(TypedDict):
    erroring: int  # live edges at or above the error-rate threshold
    stale: int
    endpoints: int


class StateEdge(TypedDict):
    """One edge behind a fleet-health number."""

    source: str
    target: str
    kind: Literal["service", "endpoint"]
    rate_per_min: float | None
    error_rate: float | None
    p95_ms: float | None
    last_seen: int | None
    stale: bool


class Graph(TypedDict):
    nodes: list[GraphNode]
    edges: list[CallEdge]


class SystemGraphNode(TypedDict):
    """A node of the graph grouped by system: a ``system`` (id ``system:<slug>``) standing for
    its services, or a ``service`` (no system, or its system expanded) or an ``endpoint``."""

    id: str
    kind: Literal["system", "service", "endpoint"]
    name: str
    team: str | None
    tier: int | None
    # The system the node is or belongs to; null for a service without one and endpoints.
    system: str | None
    # How many services (in the filter) the node stands for; null for a node only reached by an edge.
    services: int | None


class SystemEdge(TypedDict):
    """Every observed call from one group to another, summed."""

    source: str
    target: str
    edges: int
    rate_per_min: float
    # Weighted by each call edge's rate; null when no edge with a rate reports errors.
    error_rate: float | None
    # The worst p95 of the edges; null where none has latency.
    p95_ms: float | None


class SystemGraph(TypedDict):
    nodes: list[SystemGraphNode]
    edges: list[SystemEdge]


class Coupling(TypedDict):
    caller_team: str
    callee_team: str
    edges: int
    rate_per_min: float


class UnknownEndpoint(TypedDict):
    key: str
    host: str | None
    port: int | None
    first_seen: int | None
    last_seen: int | None
    callers: list[str]


class NewestEdge(TypedDict):
    source: str
    target: str
    first_seen: int | None


class GraphCounts(TypedDict):
    services: int
    edges: int
    endpoints: int


# ---------------------------------------------------------------------------------------
# Checking serializers and graphene types against the result types.

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _unwrap_optional(hint) -> tuple[object, bool]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(hint)):
            return args[0], True
    return hint, False


def _expected(hint):
    """A result type's hint as a comparable description: ("string", nullable), ("list", item,
    nullable), or ("object", TypedDict, nullable)."""
    hint, nullable = _unwrap_optional(hint)
    if typing.get_origin(hint) is Literal:
        return ("string", nullable)
    if typing.get_origin(hint) is list:
        return ("list", _expected(typing.get_args(hint)[0]), nullable)
    if typing.is_typeddict(hint):
        return ("object", hint, nullable)
    return (_SCALARS[hint], nullable)


def _from_serializer_field(field):
    from rest_framework import serializers

    nullable = bool(getattr(field, "allow_null", False))
    if isinstance(field, serializers.ListSerializer):
        return ("list", ("object", type(field.child), False), nullable)
    if isinstance(field, serializers.ListField):
        return ("list", _from_serializer_field(field.child), nullable)
    if isinstance(field, serializers.Serializer):
        return ("object", type(field), nullable)
    for cls, name in (
        (serializers.BooleanField, "boolean"),
        (serializers.IntegerField, "integer"),
        (serializers.FloatField, "number"),
        (serializers.ChoiceField, "string"),
        (serializers.CharField, "string"),
    ):
        if isinstance(field, cls):
            return (name, nullable)
    return (type(field).__name__, nullable)


def _from_graphene_type(gtype):
    import graphene

    nullable = True
    if isinstance(gtype, graphene.NonNull):
        gtype, nullable = gtype.of_type, False
    if isinstance(gtype, graphene.List):
        return ("list", _from_graphene_type(gtype.of_type), nullable)
    for cls, name in (
        (graphene.String, "string"),
        (graphene.Int, "integer"),
        (graphene.BigInt, "integer"),
        (graphene.Float, "number"),
        (graphene.Boolean, "boolean"),
    ):
        if gtype is cls:
            return (name, nullable)
    if isinstance(gtype, type) and issubclass(gtype, graphene.ObjectType):
        return ("object", gtype, nullable)
    return (getattr(gtype, "__name__", repr(gtype)), nullable)


def _graphene_fields(gtype) -> dict:
    from graphene.utils.str_converters import to_snake_case

    return {to_snake_case(name): field.type for name, field in gtype._meta.fields.items()}


def mismatches(result_type, serializer_class=None, graphene_type=None, *, where: str = "") -> list[str]:
    """Every difference between ``result_type`` and the serializer and/or graphene type that
    claim to describe it: missing or extra fields, other JSON types, other nullability,
    recursively through nested objects. An empty list means they agree."""
    where = where or result_type.__name__
    problems: list[str] = []
    hints = typing.get_type_hints(result_type)
    sides = []
    if serializer_class is not None:
        declared = serializer_class().fields
        sides.append(("REST", serializer_class.__name__, {n: _from_serializer_field(f) for n, f in declared.items()}))
    if graphene_type is not None:
        declared = _graphene_fields(graphene_type)
        sides.append(("GraphQL", graphene_type.__name__, {n: _from_graphene_type(t) for n, t in declared.items()}))
    for side, name, fields in sides:
        for missing in sorted(hints.keys() - fields.keys()):
            problems.append(f"{where}.{missing}: {side} {name} lacks it")
        for extra in sorted(fields.keys() - hints.keys()):
            problems.append(f"{where}.{extra}: {side} {name} declares it, {result_type.__name__} does not")
    for field, hint in hints.items():
        expected = _expected(hint)
        for side, name, fields in sides:
            if field in fields:
                problems += _compare(expected, fields[field], f"{where}.{field}", side, name)
    return problems


def _compare(expected, actual, where, side, name) -> list[str]:
    if expected[0] != actual[0] or expected[-1] != actual[-1]:
        return [f"{where}: {side} {name} says {_describe(actual)}, the result type says {_describe(expected)}"]
    if expected[0] == "list":
        return _compare(expected[1], actual[1], f"{where}[]", side, name)
    if expected[0] == "object":
        kwargs = {"serializer_class": actual[1]} if side == "REST" else {"graphene_type": actual[1]}
        return mismatches(expected[1], where=where, **kwargs)
    return []


def _describe(desc) -> str:
    nullable = " or null" if desc[-1] else ""
    if desc[0] == "list":
        return f"a list of ({_describe(desc[1])}){nullable}"
    if desc[0] == "object":
        return f"an object {getattr(desc[1], '__name__', desc[1])}{nullable}"
    return f"{desc[0]}{nullable}"


def result_types() -> list[tuple[type, type | None, type | None]]:
    """(result type, REST serializer, graphene type) for every graph result both APIs serve."""
    from graph.api import serializers as s
    from graph.graphql import types as g

    return [
        (Dependency, s.DependencySerializer, g.DependencyType),
        (BlastRadius, s.BlastRadiusSerializer, g.BlastRadiusType),
        (Drift, s.DriftSerializer, g.DriftType),
        (Graph, s.GraphSerializer, g.GraphType),
        (SystemGraph, s.SystemGraphSerializer, g.SystemGraphType),
        (Coupling, s.CouplingSerializer, g.CouplingType),
        (UnknownEndpoint, s.UnknownEndpointSerializer, g.EndpointType),
    ]


class ExplorerNode(TypedDict):
    """A node of the explorer: a group (``kind`` org, team or system; id ``<kind>:<slug>``; ``expanded``
    when its services are shown inside it), a service (``parent``: its expanded group) or an endpoint."""

    id: str
    kind: str
    name: str | None
    team: str | None
    org: str | None
    system: str | None
    tier: int | None
    services: int
    expanded: bool
    parent: str | None


class ExplorerEdge(TypedDict):
    """Call edges from one node to another, summed: calls/min added, the worst error rate and
    latency, the newest last_seen, every source; ``edges`` call edges of which ``stale_edges`` are stale."""

    source: str
    target: str
    edges: int
    stale_edges: int
    stale: bool
    rate_per_min: float
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    last_seen: int | None
    sources: list[str]


class ExplorerGraph(TypedDict):
    """What every explorer read answers (``graph.selectors.explorer_*``): ``path`` the slugs of a
    found path, ``message`` why a view is empty, ``only`` the group an expansion added."""

    nodes: list[ExplorerNode]
    edges: list[ExplorerEdge]
    path: list[str]
    message: str
    only: NotRequired[str]
