import graphene
from graphene_django.filter import DjangoFilterConnectionField

from core.graphql import domain_errors
from graph import selectors, services
from graph.graphql.types import CrawlRunType, EndpointType, GraphType, SystemGraphType


class Query(graphene.ObjectType):
    graph = graphene.Field(GraphType, required=True, org=graphene.String(), team=graphene.String())
    system_graph = graphene.Field(
        SystemGraphType,
        required=True,
        org=graphene.String(),
        team=graphene.String(),
        expand=graphene.List(graphene.NonNull(graphene.String), description="system slugs shown as their services"),
        description="The graph grouped by system: system nodes and summed system-to-system edges.",
    )
    crawl_runs = DjangoFilterConnectionField(CrawlRunType)
    unknown_endpoints = graphene.List(graphene.NonNull(EndpointType), required=True)

    @domain_errors
    def resolve_graph(root, info, org=None, team=None):
        return selectors.graph(org=org, team=team)

    @domain_errors
    def resolve_system_graph(root, info, org=None, team=None, expand=None):
        return selectors.system_graph(org=org, team=team, expand=expand or [])

    def resolve_crawl_runs(root, info, **kwargs):
        return selectors.crawl_run_list()

    @domain_errors
    def resolve_unknown_endpoints(root, info):
        return selectors.unknown_endpoints()


class TriggerCrawl(graphene.Mutation):
    run = graphene.Field(CrawlRunType)

    @domain_errors
    def mutate(root, info):
        return TriggerCrawl(run=services.crawl_start(trigger="api", actor=info.context.user))


class Mutation(graphene.ObjectType):
    trigger_crawl = TriggerCrawl.Field()
