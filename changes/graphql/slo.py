"""An API's SLO on the Api type (settings.GRAPHQL_TYPE_EXTENSIONS): the same answer as
``GET /api/v1/apis/<slug>/slo`` (changes.selectors.slo_status)."""

import graphene

from changes import selectors


class SloWindowType(graphene.ObjectType):
    window = graphene.String(required=True, description="1h, 24h or 28d")
    seconds = graphene.Int(required=True)
    samples = graphene.Int(required=True)
    calls_per_min = graphene.Float()
    availability = graphene.Float(description="1 - errors/calls (0..1); null: no calls seen")
    availability_met = graphene.Boolean()
    error_budget_remaining = graphene.Float(description="share of the window's budget left (negative: overspent)")
    burn_rate = graphene.Float(description="error ratio / (1 - target)")
    p99_worst_ms = graphene.Float(description="the worst observation window's p99")
    latency_good_ratio = graphene.Float(description="share of calls in windows whose p99 met the target")
    latency_met = graphene.Boolean()
    compliant = graphene.Boolean()


class SloRuleType(graphene.ObjectType):
    rule = graphene.String(required=True)
    factor = graphene.Float(required=True)
    long_s = graphene.Int(required=True)
    short_s = graphene.Int(required=True)
    long_burn = graphene.Float()
    short_burn = graphene.Float()
    firing = graphene.Boolean(required=True)


class SloStatusType(graphene.ObjectType):
    service = graphene.String(required=True, description="the provider, whose inbound edges are measured")
    scope = graphene.String(required=True, description="service: every inbound edge of the provider")
    availability_target = graphene.Float(description="percent")
    p99_target_ms = graphene.Int()
    evaluated_at = graphene.BigInt(required=True, description="epoch seconds")
    windows = graphene.List(graphene.NonNull(SloWindowType), required=True)
    rules = graphene.List(graphene.NonNull(SloRuleType), required=True)
    firing = graphene.Boolean(required=True)
    firing_rule = graphene.String()


class ApiSloFields:
    slo = graphene.Field(
        graphene.NonNull(SloStatusType),
        description="The SLO over 1 h, 24 h and 28 d from the provider's observed inbound edges.",
    )

    def resolve_slo(self, info):
        return selectors.slo_status(api=self)
