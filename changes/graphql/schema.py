import graphene

from changes import selectors
from changes.graphql.types import DeployType
from core.graphql import domain_errors

MAX_DEPLOYS = 100


class Query(graphene.ObjectType):
    deploys = graphene.List(
        graphene.NonNull(DeployType),
        required=True,
        service=graphene.String(description="A service's slug; empty: every service."),
        limit=graphene.Int(default_value=20, description="Newest first, at most 100."),
    )
    deploy = graphene.Field(DeployType, id=graphene.ID(required=True))

    @domain_errors
    def resolve_deploys(self, info, service=None, limit=20):
        return list(selectors.deploy_list(service_slug=service).order_by("-id")[: max(1, min(limit, MAX_DEPLOYS))])

    @domain_errors
    def resolve_deploy(self, info, id):  # noqa: A002 (GraphQL's argument name)
        return selectors.deploy_get(pk=id)
