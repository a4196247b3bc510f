import graphene
from graphene import relay
from graphene_django import DjangoObjectType

from catalog.models import Api, ApiKey, Service
from core.graphql import domain_errors
from core.loaders import load
from graph import selectors as graph_selectors
from graph.graphql.types import BlastRadiusType, DependencyType, DriftType


class Direction(graphene.Enum):
    DOWN = "down"
    UP = "up"


class ApiType(DjangoObjectType):
    class Meta:
        model = Api
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = ["slug", "name", "provider", "kind", "version", "base_path", "lifecycle", "slo_p99_ms", "created_at"]

    slo_availability = graphene.Float()
    spec = graphene.JSONString()

    def resolve_slo_availability(self, info):
        return float(self.slo_availability) if self.slo_availability is not None else None


class ServiceType(DjangoObjectType):
    aliases = graphene.List(graphene.NonNull(graphene.String), required=True)
    apis = graphene.List(graphene.NonNull(ApiType), required=True)
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

    class Meta:
        model = Service
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = [
            "slug",
            "name",
            "team",
            "description",
            "tier",
            "lifecycle",
            "repository_url",
            "base_url",
            "metrics_path",
            "health_path",
            "crawl_enabled",
            "created_at",
            "updated_at",
        ]

    def resolve_apis(self, info):
        return self.apis.all()

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


class ApiKeyType(DjangoObjectType):
    """Metadata only: the secret is never stored, its hash is never exposed."""

    state = graphene.String(
        required=True, description="pending, active, expired, revoked or rejected: whether the key is usable now"
    )

    class Meta:
        model = ApiKey
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = [
            "key_id",
            "name",
            "api",
            "consumer",
            "status",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "revoked_reason",
            "last_used_at",
            "usage_count",
        ]
        filter_fields = ["status"]

    def resolve_state(self, info):
        return self.state
