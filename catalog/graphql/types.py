import graphene
from graphene import relay
from graphene_django import DjangoObjectType

from catalog.models import Api, ApiKey, Domain, Resource, Service, System
from core.graphql import type_extensions


class ApiType(*type_extensions("Api"), DjangoObjectType):
    class Meta:
        model = Api
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = [
            "slug",
            "name",
            "provider",
            "kind",
            "version",
            "base_path",
            "lifecycle",
            "slo_p99_ms",
            "created_at",
            "deprecated_at",
            "sunset_at",
            "successor",
        ]

    slo_availability = graphene.Float()
    spec = graphene.JSONString()

    def resolve_slo_availability(self, info):
        return float(self.slo_availability) if self.slo_availability is not None else None


class ServiceType(*type_extensions("Service"), DjangoObjectType):
    aliases = graphene.List(graphene.NonNull(graphene.String), required=True)
    apis = graphene.List(graphene.NonNull(ApiType), required=True)

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
            "system",
            "created_at",
            "updated_at",
        ]

    def resolve_apis(self, info):
        return self.apis.all()


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
            "rate_limit",
            "rate_period",
            "daily_quota",
        ]
        filter_fields = ["status"]

    def resolve_state(self, info):
        return self.state


class SystemType(DjangoObjectType):
    services = graphene.List(graphene.NonNull(ServiceType), required=True)
    resources = graphene.List(graphene.NonNull(lambda: ResourceType), required=True)

    class Meta:
        model = System
        interfaces = (relay.Node,)
        fields = ["slug", "name", "team", "description", "domain", "created_at", "updated_at"]

    def resolve_services(self, info):
        return self.services.all()

    def resolve_resources(self, info):
        return self.resources.all()


class DomainType(DjangoObjectType):
    systems = graphene.List(graphene.NonNull(SystemType), required=True)
    subdomains = graphene.List(graphene.NonNull(lambda: DomainType), required=True)

    class Meta:
        model = Domain
        interfaces = (relay.Node,)
        fields = ["slug", "name", "team", "description", "parent", "created_at", "updated_at"]

    def resolve_systems(self, info):
        return self.systems.all()

    def resolve_subdomains(self, info):
        return self.subdomains.all()


class ResourceType(DjangoObjectType):
    dependents = graphene.List(graphene.NonNull(ServiceType), required=True)

    class Meta:
        model = Resource
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = ["slug", "name", "team", "type", "description", "system", "created_at", "updated_at"]

    def resolve_dependents(self, info):
        return self.dependents.all()
