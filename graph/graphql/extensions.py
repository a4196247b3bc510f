"""Graph fields on catalog and teams types: what a service calls and who calls it, its blast
radius, path and drift; which teams a team's services call. Wired onto those types by
``settings.GRAPHQL_TYPE_EXTENSIONS`` (core.graphql.type_extensions), so catalog and teams
never import graph."""

import graphene

from core.graphql import domain_errors
from core.loaders import load
from graph import selectors as graph_selectors
from graph.graphql.types import BlastRadiusType, CouplingType, DependencyType, DriftType


class Direction(graphene.Enum):
    DOWN = "down"
    UP = "up"


class ServiceGraphFields:
    dependencies = graphene.List(
        graphene.NonNull(DependencyType),
        required=True,
        direction=Direction(default_value="down"),
        depth=graphene.Int(default_value=1),
        description="Observed calls, transitively to `depth` (1-6). One graph query per field per request.",
    )
    blast_radius = graphene.Field(BlastRadiusType, required=True)
    path_to = graphene.List(graphene.NonNull(graphene.String), required=True, slug=graphene.String(required=True))
    drift = graphene.Field(DriftType, required=True)

    @domain_errors
    def resolve_dependencies(self, info, direction="down", depth=1):
        """Batched: the first service of a page (or of a team) asks for every service on it."""
        direction = getattr(direction, "value", direction)

        def batch(slugs):
            return graph_selectors.dependencies_many(slugs=slugs, direction=direction, depth=depth)

        return load(info, "service", ("dependencies", direction, depth), batch, self.slug)

    @domain_errors
    def resolve_blast_radius(self, info):
        return graph_selectors.blast_radius(slug=self.slug)

    @domain_errors
    def resolve_path_to(self, info, slug):
        return graph_selectors.shortest_path(src=self.slug, dst=slug)

    @domain_errors
    def resolve_drift(self, info):
        return graph_selectors.drift(slug=self.slug)


class TeamGraphFields:
    team_dependencies = graphene.List(
        graphene.NonNull(CouplingType),
        required=True,
        description="Observed calls between this team's services and other teams'.",
    )

    @domain_errors
    def resolve_team_dependencies(self, info):
        return graph_selectors.team_coupling(team=self.slug)
