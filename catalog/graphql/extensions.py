"""Catalog fields on teams types: a team's services. Wired onto TeamType by
``settings.GRAPHQL_TYPE_EXTENSIONS`` (core.graphql.type_extensions), so teams never imports
catalog."""

import graphene

from catalog.graphql.types import ServiceType
from core.loaders import hint


class TeamServicesField:
    services = graphene.List(graphene.NonNull(ServiceType), required=True)

    def resolve_services(self, info):
        services = self.services.all()
        hint(info, "service", (s.slug for s in services))  # their graph fields load together
        return services
