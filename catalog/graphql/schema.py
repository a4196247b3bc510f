import graphene
from graphene_django.filter import DjangoFilterConnectionField

from catalog import selectors, services
from catalog.filtersets import ApiFilterSet, ServiceFilterSet
from catalog.graphql.types import ApiKeyType, ApiType, ServiceType
from catalog.models import Api, Service
from core.graphql import domain_errors
from core.loaders import HintingConnectionField
from teams.graphql.schema import _get
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


class CreateService(graphene.Mutation):
    class Arguments:
        team = graphene.String(required=True)
        slug = graphene.String(required=True)
        input = ServiceInput(required=True)

    service = graphene.Field(ServiceType)

    @domain_errors
    def mutate(root, info, team, slug, input):
        fields = dict(input)
        name = fields.pop("name", None) or slug
        service = services.service_create(
            actor=info.context.user, team=_get(Team.objects, "team", slug=team), slug=slug, name=name, **fields
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
            actor=info.context.user, service=_get(_service_queryset(), "service", slug=slug), **dict(input)
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
            service=_get(_service_queryset(), "service", slug=slug),
            team=_get(Team.objects, "team", slug=team),
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
            provider=_get(Service.objects, "service", slug=provider),
            slug=slug,
            name=name,
            **fields,
        )
        return CreateApi(api=api)


class IssueKey(graphene.Mutation):
    """The secret is in this response and nowhere else, ever."""

    class Arguments:
        api = graphene.String(required=True)
        consumer = graphene.String(required=True)
        name = graphene.String(required=True)
        scopes = graphene.List(graphene.NonNull(graphene.String))

    key = graphene.Field(ApiKeyType)
    secret = graphene.String()

    @domain_errors
    def mutate(root, info, api, consumer, name, scopes=None):
        key, secret = services.key_issue(
            actor=info.context.user,
            api=_get(Api.objects, "api", slug=api),
            consumer=_get(Service.objects, "service", slug=consumer),
            name=name,
            scopes=scopes or [],
        )
        return IssueKey(key=key, secret=secret)


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
        key = _get(visible, "key", key_id=key_id)
        return RevokeKey(key=services.key_revoke(actor=info.context.user, key=key, reason=reason))


class Mutation(graphene.ObjectType):
    create_service = CreateService.Field()
    update_service = UpdateService.Field()
    transfer_service = TransferService.Field()
    create_api = CreateApi.Field()
    issue_key = IssueKey.Field()
    revoke_key = RevokeKey.Field()
