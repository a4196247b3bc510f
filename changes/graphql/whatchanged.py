"""``Service.changes(since, depth)``: what changed around a service (changes.whatchanged), on the
Service type through settings.GRAPHQL_TYPE_EXTENSIONS."""

import graphene

from changes import whatchanged
from core.graphql import domain_errors


class ScopeEntryType(graphene.ObjectType):
    slug = graphene.String(required=True)
    kind = graphene.String(required=True, description="service or endpoint")
    distance = graphene.Int(required=True, description="0: the service itself; n: n hops down its calls")


class EdgeChangeType(graphene.ObjectType):
    change = graphene.String(required=True, description="appeared, stale or disappeared")
    src = graphene.String(required=True)
    dst = graphene.String(required=True)
    at = graphene.DateTime(required=True)


class RegressionChangeType(graphene.ObjectType):
    id = graphene.ID(required=True)
    service = graphene.String(required=True, description="the deployed service")
    deploy = graphene.ID(required=True, description="the deploy that is the likely cause")
    version = graphene.String(required=True)
    src = graphene.String(required=True)
    dst = graphene.String(required=True)
    direction = graphene.String(required=True, description="in or out")
    metric = graphene.String(required=True, description="error_rate or p95_ms")
    before = graphene.Float(required=True)
    after = graphene.Float(required=True)
    calls_before = graphene.Float(required=True)
    calls_after = graphene.Float(required=True)
    at = graphene.DateTime(required=True)


class DeployChangeType(graphene.ObjectType):
    id = graphene.ID(required=True)
    deploy_id = graphene.String(required=True)
    service = graphene.String(required=True)
    distance = graphene.Int(required=True)
    version = graphene.String(required=True)
    environment = graphene.String(required=True)
    status = graphene.String(required=True)
    commit = graphene.String(required=True)
    at = graphene.DateTime(required=True)


class CatalogChangeType(graphene.ObjectType):
    type = graphene.String(required=True, description="the event type (service.updated, api.updated, key.revoked, …)")
    service = graphene.String()
    subject = graphene.String(required=True)
    changed = graphene.List(graphene.NonNull(graphene.String), required=True)
    summary = graphene.String(required=True)
    at = graphene.DateTime(required=True)


class ServiceChangesType(graphene.ObjectType):
    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    depth = graphene.Int(required=True)
    scope = graphene.List(graphene.NonNull(ScopeEntryType), required=True)
    scope_complete = graphene.Boolean(required=True)
    edges = graphene.List(graphene.NonNull(EdgeChangeType), required=True)
    regressions = graphene.List(graphene.NonNull(RegressionChangeType), required=True)
    deploys = graphene.List(graphene.NonNull(DeployChangeType), required=True)
    catalog = graphene.List(graphene.NonNull(CatalogChangeType), required=True)
    truncated = graphene.Boolean(required=True)


class ServiceChangesFields:
    changes = graphene.Field(
        graphene.NonNull(ServiceChangesType),
        since=graphene.String(default_value="24h", description="An ISO 8601 time or an age (30m, 24h, 7d, 2w)."),
        depth=graphene.String(default_value="1", description="Hops down the service's calls: 1 to 6, or all."),
        description="Edges that appeared, went stale or disappeared, regressions, deploys and catalog changes of the "
        "service and the services it calls.",
    )

    @domain_errors
    def resolve_changes(self, info, since="24h", depth="1"):
        return whatchanged.service_changes(slug=self.slug, since=since, depth=depth)
