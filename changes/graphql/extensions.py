"""A service's recent deploys and its edge history on the Service type (settings.GRAPHQL_TYPE_EXTENSIONS)."""

import graphene

from changes import selectors
from changes.graphql.types import DeployType, ServiceHistoryType


class ServiceDeployFields:
    deploys = graphene.List(
        graphene.NonNull(DeployType), required=True, limit=graphene.Int(default_value=10, description="At most 100.")
    )

    def resolve_deploys(self, info, limit=10):
        return selectors.deploys_recent(service_id=self.pk, limit=max(1, min(limit, 100)))

    history = graphene.Field(
        graphene.NonNull(ServiceHistoryType),
        window=graphene.String(default_value="24h", description="1h, 24h or 7d."),
        description="What discovery observed on the service's inbound and outbound edges, with deploy markers.",
    )

    def resolve_history(self, info, window="24h"):
        return selectors.service_history(slug=self.slug, window=window)
