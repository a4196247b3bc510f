"""A service's recent deploys on the Service type (settings.GRAPHQL_TYPE_EXTENSIONS)."""

import graphene

from changes import selectors
from changes.graphql.types import DeployType


class ServiceDeployFields:
    deploys = graphene.List(
        graphene.NonNull(DeployType), required=True, limit=graphene.Int(default_value=10, description="At most 100.")
    )

    def resolve_deploys(self, info, limit=10):
        return selectors.deploys_recent(service_id=self.pk, limit=max(1, min(limit, 100)))
