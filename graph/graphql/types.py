"""GraphQL shapes of graph results. Each plain ObjectType describes one type of
``graph/results.py``; ``graph.results.mismatches`` (tests/graph/test_results.py) keeps them equal."""

import graphene
from graphene import relay
from graphene_django import DjangoObjectType

from graph.models import CrawlRun
from graph.selectors import crawl_progress


class CrawlRunType(DjangoObjectType):
    progress = graphene.Int(required=True)

    class Meta:
        model = CrawlRun
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = [
            "status",
            "trigger",
            "requested_by",
            "total",
            "done",
            "failed",
            "edges_seen",
            "edges_new",
            "edges_stale",
            "edges_removed",
            "skipped_series",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        filter_fields = ["status"]

    def resolve_progress(self, info):
        return crawl_progress(self)


class GraphNodeType(graphene.ObjectType):
    id = graphene.String(required=True)
    name = graphene.String(required=True)
    team = graphene.String()
    tier = graphene.Int()
    kind = graphene.String(required=True)


class CallEdgeType(graphene.ObjectType):
    source = graphene.String(required=True)
    target = graphene.String(required=True)
    rate_per_min = graphene.Float()
    error_rate = graphene.Float()
    calls = graphene.Float()
    errors = graphene.Float()
    stale = graphene.Boolean()
    first_seen = graphene.BigInt(description="epoch milliseconds")
    last_seen = graphene.BigInt(description="epoch milliseconds")
    sources = graphene.List(graphene.NonNull(graphene.String))
    p50_ms = graphene.Float(description="median call latency in milliseconds; null if unknown")
    p95_ms = graphene.Float(description="95th percentile latency in milliseconds; null if unknown")
    p99_ms = graphene.Float(description="99th percentile latency in milliseconds; null if unknown")


class GraphType(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(GraphNodeType), required=True)
    edges = graphene.List(graphene.NonNull(CallEdgeType), required=True)


class SystemGraphNodeType(graphene.ObjectType):
    id = graphene.String(required=True, description="a service slug, an endpoint key, or system:<slug>")
    kind = graphene.String(required=True, description="system, service or endpoint")
    name = graphene.String(required=True)
    team = graphene.String()
    tier = graphene.Int(description="a system's: its most critical (lowest) service tier")
    system = graphene.String(description="the system the node is or belongs to")
    services = graphene.Int(description="how many services the node stands for")


class SystemEdgeType(graphene.ObjectType):
    source = graphene.String(required=True)
    target = graphene.String(required=True)
    edges = graphene.Int(required=True, description="how many call edges this one sums")
    rate_per_min = graphene.Float(required=True, description="summed calls per minute")
    error_rate = graphene.Float(description="error rate weighted by each edge's rate")
    p95_ms = graphene.Float(description="the worst p95 of the edges, in milliseconds")


class SystemGraphType(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(SystemGraphNodeType), required=True)
    edges = graphene.List(graphene.NonNull(SystemEdgeType), required=True)


class EndpointType(graphene.ObjectType):
    key = graphene.String(required=True)
    host = graphene.String()
    port = graphene.Int()
    first_seen = graphene.BigInt(description="epoch milliseconds")
    last_seen = graphene.BigInt(description="epoch milliseconds")
    callers = graphene.List(graphene.NonNull(graphene.String), required=True)


class DependencyType(graphene.ObjectType):
    kind = graphene.String(required=True, description="service | endpoint")
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    team = graphene.String()
    tier = graphene.Int()
    distance = graphene.Int(required=True)


class AffectedServiceType(graphene.ObjectType):
    slug = graphene.String(required=True)
    tier = graphene.Int()


class AffectedTeamType(graphene.ObjectType):
    team = graphene.String(required=True)
    team_name = graphene.String(required=True)
    oncall = graphene.String(required=True)
    chat = graphene.String(required=True)
    worst_tier = graphene.Int()
    services = graphene.List(graphene.NonNull(AffectedServiceType), required=True)


class BlastRadiusType(graphene.ObjectType):
    service = graphene.String(required=True)
    affected_services = graphene.Int(required=True)
    teams = graphene.List(graphene.NonNull(AffectedTeamType), required=True)


class DriftType(graphene.ObjectType):
    declared_not_seen = graphene.List(graphene.NonNull(graphene.String), required=True)
    seen_not_declared = graphene.List(graphene.NonNull(graphene.String), required=True)


class CouplingType(graphene.ObjectType):
    caller_team = graphene.String(required=True)
    callee_team = graphene.String(required=True)
    edges = graphene.Int(required=True)
    rate_per_min = graphene.Float(required=True)
