import graphene
from graphene_django import DjangoObjectType

from changes.models import Deploy


class DeployType(DjangoObjectType):
    service = graphene.String(required=True, description="The service's slug.")
    deploy_id = graphene.String(required=True, description="The pipeline's own id for the deploy.")

    class Meta:
        model = Deploy
        convert_choices_to_enum = False
        fields = [
            "id",
            "version",
            "environment",
            "commit",
            "url",
            "deployer",
            "status",
            "started_at",
            "finished_at",
            "created_at",
        ]

    def resolve_service(self, info):
        return self.service.slug

    def resolve_deploy_id(self, info):
        return self.client_id


class HistoryPointType(graphene.ObjectType):
    t = graphene.BigInt(required=True, description="epoch milliseconds (7d: the hour's start)")
    calls_per_min = graphene.Float()
    error_rate = graphene.Float(description="0..1")
    p95_ms = graphene.Float()


class HistoryEdgeType(graphene.ObjectType):
    direction = graphene.String(required=True, description="in: calls into the service; out: its calls")
    src = graphene.String(required=True)
    dst = graphene.String(required=True)
    points = graphene.List(graphene.NonNull(HistoryPointType), required=True)


class HistoryDeployType(graphene.ObjectType):
    id = graphene.ID(required=True)
    version = graphene.String(required=True)
    status = graphene.String(required=True)
    environment = graphene.String(required=True)
    t = graphene.BigInt(required=True, description="epoch milliseconds")


class ServiceHistoryType(graphene.ObjectType):
    window = graphene.String(required=True)
    from_ = graphene.BigInt(required=True, name="from", description="epoch milliseconds")
    to = graphene.BigInt(required=True, description="epoch milliseconds")
    resolution_seconds = graphene.Int(required=True, description="0: every observed window; 3600: hourly")
    truncated = graphene.Boolean(required=True)
    edges = graphene.List(graphene.NonNull(HistoryEdgeType), required=True)
    deploys = graphene.List(graphene.NonNull(HistoryDeployType), required=True)

    def resolve_from_(self, info):
        return self["from"]
