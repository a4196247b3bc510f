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
    first_seen = graphene.Float(description="epoch milliseconds")
    last_seen = graphene.Float(description="epoch milliseconds")
    sources = graphene.List(graphene.NonNull(graphene.String))


class GraphType(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(GraphNodeType), required=True)
    edges = graphene.List(graphene.NonNull(CallEdgeType), required=True)


class EndpointType(graphene.ObjectType):
    key = graphene.String(required=True)
    host = graphene.String()
    port = graphene.Int()
    first_seen = graphene.Float()
    last_seen = graphene.Float()
    callers = graphene.List(graphene.NonNull(graphene.String), required=True)
