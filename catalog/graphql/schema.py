import graphene
from graphene_django.filter import DjangoFilterConnectionField

from catalog import selectors, services
from catalog.filtersets import ApiFilterSet, DomainFilterSet, ResourceFilterSet, ServiceFilterSet, SystemFilterSet
from catalog.graphql.types import ApiKeyType, ApiType, DomainType, ResourceType, ServiceType, SystemType
from catalog.models import Api, Domain, Resource, Service, System
from core.graphql import domain_errors, get_or_not_found
from core.loaders import HintingConnectionField
from teams.models import Team


class SearchHitType(graphene.ObjectType):
    kind = graphene.String(required=True)
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    url = graphene.String(required=True)


def _service_queryset():
    return selectors.service_list().prefetch_related("apis")


class Query(graphene.ObjectType):
    services = HintingConnectionField(
        ServiceType, filterset_class=ServiceFilterSet, hint_kind="service", hint_key=lambda service: service.slug
    )
    service = graphene.Field(ServiceType, slug=graphene.String(required=True))
    apis = DjangoFilterConnectionField(ApiType, filterset_class=ApiFilterSet)
    api = graphene.Field(ApiType, slug=graphene.String(required=True))
    keys = DjangoFilterConnectionField(ApiKeyType)
    search = graphene.List(graphene.NonNull(SearchHitType), required=True, q=graphene.String(required=True))
    systems = DjangoFilterConnectionField(SystemType, filterset_class=SystemFilterSet)
    system = graphene.Field(SystemType, slug=graphene.String(required=True))
    domains = DjangoFilterConnectionField(DomainType, filterset_class=DomainFilterSet)
    domain = graphene.Field(DomainType, slug=graphene.String(required=True))
    resources = DjangoFilterConnectionField(ResourceType, filterset_class=ResourceFilterSet)
    resource = graphene.Field(ResourceType, slug=graphene.String(required=True))

    def resolve_systems(root, info, **kwargs):
        return selectors.system_list()

    def resolve_system(root, info, slug):
        return selectors.system_list().filter(slug=slug).first()

    def resolve_domains(root, info, **kwargs):
        return selectors.domain_list()

    def resolve_domain(root, info, slug):
        return selectors.domain_list().filter(slug=slug).first()

    def resolve_resources(root, info, **kwargs):
        return selectors.resource_list()

    def resolve_resource(root, info, slug):
        return selectors.resource_list().filter(slug=slug).first()

    def resolve_services(root, info, **kwargs):
        return _service_queryset()

    def resolve_service(root, info, slug):
        return _service_queryset().filter(slug=slug).first()

    def resolve_apis(root, info, **kwargs):
        return selectors.api_list()

    def resolve_api(root, info, slug):
        return selectors.api_list().filter(slug=slug).first()

    def resolve_keys(root, info, **kwargs):
        return selectors.key_list_for(user=info.context.user)

    def resolve_search(root, info, q):
        return selectors.catalog_search(q=q)


class ServiceInput(graphene.InputObjectType):
    name = graphene.String()
    description = graphene.String()
    tier = graphene.Int()
    lifecycle = graphene.String()
    repository_url = graphene.String()
    base_url = graphene.String()
    aliases = graphene.List(graphene.NonNull(graphene.String))
    metrics_path = graphene.String()
    health_path = graphene.String()
    crawl_enabled = graphene.Boolean()
    system = graphene.String(description="slug of the system it belongs to; empty string for none")


def _service_fields(input) -> dict:
    fields = dict(input)
    if "system" in fields:
        slug = fields.pop("system")
        fields["system"] = get_or_not_found(System.objects, "system", slug=slug) if slug else None
    return fields


class CreateService(graphene.Mutation):
    class Arguments:
        team = graphene.String(required=True)
        slug = graphene.String(required=True)
        input = ServiceInput(required=True)

    service = graphene.Field(ServiceType)

    @domain_errors
    def mutate(root, info, team, slug, input):
        fields = _service_fields(input)
        name = fields.pop("name", None) or slug
        service = services.service_create(
            actor=info.context.user,
            team=get_or_not_found(Team.objects, "team", slug=team),
            slug=slug,
            name=name,
            **fields,
        )
        return CreateService(service=service)


class UpdateService(graphene.Mutation):
    class Arguments:
        slug = graphene.String(required=True)
        input = ServiceInput(required=True)

    service = graphene.Field(ServiceType)

    @domain_errors
    def mutate(root, info, slug, input):
        service = services.service_update(
            actor=info.context.user,
            service=get_or_not_found(_service_queryset(), "service", slug=slug),
            **_service_fields(input),
        )
        return UpdateService(service=service)


class TransferService(graphene.Mutation):
    class Arguments:
        slug = graphene.String(required=True)
        team = graphene.String(required=True)

    service = graphene.Field(ServiceType)

    @domain_errors
    def mutate(root, info, slug, team):
        service = services.service_transfer(
            actor=info.context.user,
            service=get_or_not_found(_service_queryset(), "service", slug=slug),
            team=get_or_not_found(Team.objects, "team", slug=team),
        )
        return TransferService(service=service)


class CreateApi(graphene.Mutation):
    class Arguments:
        provider = graphene.String(required=True)
        slug = graphene.String(required=True)
        name = graphene.String(required=True)
        kind = graphene.String(default_value="openapi")
        version = graphene.String()
        base_path = graphene.String()
        spec = graphene.JSONString()

    api = graphene.Field(ApiType)

    @domain_errors
    def mutate(root, info, provider, slug, name, **fields):
        api = services.api_create(
            actor=info.context.user,
            provider=get_or_not_found(Service.objects, "service", slug=provider),
            slug=slug,
            name=name,
            **fields,
        )
        return CreateApi(api=api)


class UpdateApi(graphene.Mutation):
    """Change an API's fields. A spec that breaks the old one's clients without a new major
    version is refused (code ``breaking_change``, ``changes`` in the error's extensions) unless
    ``confirmBreaking``; then its consumer teams get an ``api.breaking_change`` event."""

    class Arguments:
        slug = graphene.String(required=True)
        name = graphene.String()
        version = graphene.String()
        base_path = graphene.String()
        lifecycle = graphene.String()
        spec = graphene.JSONString()
        confirm_breaking = graphene.Boolean(default_value=False)

    api = graphene.Field(ApiType)

    @domain_errors
    def mutate(root, info, slug, confirm_breaking=False, **fields):
        api = services.api_update(
            actor=info.context.user,
            api=get_or_not_found(Api.objects, "api", slug=slug),
            confirm_breaking=confirm_breaking,
            **fields,
        )
        return UpdateApi(api=api)


class IssueKey(graphene.Mutation):
    """The secret is in this response and nowhere else, ever."""

    class Arguments:
        api = graphene.String(required=True)
        consumer = graphene.String(required=True)
        name = graphene.String(required=True)
        scopes = graphene.List(graphene.NonNull(graphene.String))
        rate_limit = graphene.Int(description="requests per ratePeriod; omit or null: no rate limit")
        rate_period = graphene.String(description="second (default) or minute")
        daily_quota = graphene.Int(description="requests per UTC day; omit or null: no quota")

    key = graphene.Field(ApiKeyType)
    secret = graphene.String()

    @domain_errors
    def mutate(root, info, api, consumer, name, scopes=None, **limits):
        key, secret = services.key_issue(
            actor=info.context.user,
            api=get_or_not_found(Api.objects, "api", slug=api),
            consumer=get_or_not_found(Service.objects, "service", slug=consumer),
            name=name,
            scopes=scopes or [],
            **limits,
        )
        return IssueKey(key=key, secret=secret)


class SetKeyLimits(graphene.Mutation):
    """A key's rate limit and daily quota (null clears one); the provider's team decides."""

    class Arguments:
        key_id = graphene.String(required=True)
        rate_limit = graphene.Int()
        rate_period = graphene.String()
        daily_quota = graphene.Int()

    key = graphene.Field(ApiKeyType)

    @domain_errors
    def mutate(root, info, key_id, **limits):
        key = get_or_not_found(selectors.key_list_for(user=info.context.user), "key", key_id=key_id)
        return SetKeyLimits(key=services.key_limits_set(actor=info.context.user, key=key, **limits))


class DeprecateApi(graphene.Mutation):
    """Deprecate an API with a sunset date and an optional successor (again: change or extend it)."""

    class Arguments:
        slug = graphene.String(required=True)
        sunset_at = graphene.DateTime(required=True)
        successor = graphene.String(description="the successor API's slug")

    api = graphene.Field(ApiType)

    @domain_errors
    def mutate(root, info, slug, sunset_at, successor=None):
        api = services.api_deprecate(
            actor=info.context.user,
            api=get_or_not_found(Api.objects, "api", slug=slug),
            sunset_at=sunset_at,
            successor=get_or_not_found(Api.objects, "api", slug=successor) if successor else None,
        )
        return DeprecateApi(api=api)


class WithdrawApiDeprecation(graphene.Mutation):
    class Arguments:
        slug = graphene.String(required=True)

    api = graphene.Field(ApiType)

    @domain_errors
    def mutate(root, info, slug):
        api = services.api_undeprecate(actor=info.context.user, api=get_or_not_found(Api.objects, "api", slug=slug))
        return WithdrawApiDeprecation(api=api)


class RevokeKey(graphene.Mutation):
    class Arguments:
        key_id = graphene.String(required=True)
        reason = graphene.String(required=True)

    key = graphene.Field(ApiKeyType)

    @domain_errors
    def mutate(root, info, key_id, reason):
        # Looked up among the keys this user may see, as REST does: a key that exists but is
        # hidden from them answers exactly as an unknown id (no existence oracle).
        visible = selectors.key_list_for(user=info.context.user)
        key = get_or_not_found(visible, "key", key_id=key_id)
        return RevokeKey(key=services.key_revoke(actor=info.context.user, key=key, reason=reason))


class OwnedInput(graphene.InputObjectType):
    """Fields of a domain, system or resource; references are slugs (empty string: none)."""

    name = graphene.String()
    description = graphene.String()
    parent = graphene.String(description="domains: the parent domain")
    domain = graphene.String(description="systems: the domain")
    system = graphene.String(description="resources: the system")
    type = graphene.String(description="resources: database, queue, bucket or other")


_REFS = {"parent": (Domain, "domain"), "domain": (Domain, "domain"), "system": (System, "system")}
_OWNED_MODELS = {"domain": Domain, "system": System, "resource": Resource}


def _owned_fields(input) -> dict:
    fields = dict(input)
    for name, (model, label) in _REFS.items():
        if name in fields:
            slug = fields[name]
            fields[name] = get_or_not_found(model.objects, label, slug=slug) if slug else None
    return fields


def _owned_mutations(kind: str, type_):
    model = _OWNED_MODELS[kind]

    class Create(graphene.Mutation):
        class Arguments:
            team = graphene.String(required=True)
            slug = graphene.String(required=True)
            input = OwnedInput(required=True)

        Output = type_

        @domain_errors
        def mutate(root, info, team, slug, input):
            fields = _owned_fields(input)
            return services.owned_create(
                kind,
                actor=info.context.user,
                team=get_or_not_found(Team.objects, "team", slug=team),
                slug=slug,
                **fields,
            )

    class Update(graphene.Mutation):
        class Arguments:
            slug = graphene.String(required=True)
            input = OwnedInput(required=True)

        Output = type_

        @domain_errors
        def mutate(root, info, slug, input):
            return services.owned_update(
                kind,
                actor=info.context.user,
                obj=get_or_not_found(model.objects, kind, slug=slug),
                **_owned_fields(input),
            )

    title = kind.title()
    return (
        type(f"Create{title}", (Create,), {}).Field(description=f"Create a {kind} owned by a team."),
        type(f"Update{title}", (Update,), {}).Field(description=f"Change a {kind}'s fields."),
    )


class Mutation(graphene.ObjectType):
    create_domain, update_domain = _owned_mutations("domain", DomainType)
    create_system, update_system = _owned_mutations("system", SystemType)
    create_resource, update_resource = _owned_mutations("resource", ResourceType)
    create_service = CreateService.Field()
    update_service = UpdateService.Field()
    transfer_service = TransferService.Field()
    create_api = CreateApi.Field()
    update_api = UpdateApi.Field()
    issue_key = IssueKey.Field()
    revoke_key = RevokeKey.Field()
    set_key_limits = SetKeyLimits.Field()
    deprecate_api = DeprecateApi.Field()
    withdraw_api_deprecation = WithdrawApiDeprecation.Field()
