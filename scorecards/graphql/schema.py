"""Scorecards in GraphQL: ``scorecards`` (definitions with their level roll-up) and a
``scorecards`` field on Service (settings.GRAPHQL_TYPE_EXTENSIONS), the same answers as REST."""

import graphene

from core.graphql import domain_errors
from scorecards import selectors


class ScorecardCheckType(graphene.ObjectType):
    key = graphene.String(required=True)
    type = graphene.String(required=True)
    level = graphene.String(required=True)
    params = graphene.JSONString(required=True)


class CheckOutcomeType(graphene.ObjectType):
    key = graphene.String(required=True)
    type = graphene.String(required=True)
    level = graphene.String(required=True)
    passed = graphene.Boolean(required=True)
    reason = graphene.String(required=True)

    @staticmethod
    def resolve_key(root, info):
        return root["key"]

    @staticmethod
    def resolve_type(root, info):
        return root["type"]

    @staticmethod
    def resolve_level(root, info):
        return root["level"]

    @staticmethod
    def resolve_passed(root, info):
        return root["passed"]

    @staticmethod
    def resolve_reason(root, info):
        return root["reason"]


class LevelCountType(graphene.ObjectType):
    level = graphene.String(required=True, description="'none' for services below the first level")
    services = graphene.Int(required=True)


class RollupType(graphene.ObjectType):
    key = graphene.String(required=True, description="team or org slug")
    services = graphene.Int(required=True)
    levels = graphene.List(graphene.NonNull(LevelCountType), required=True)


def _level_counts(levels, counts):
    return [LevelCountType(level=name, services=n) for name, n in zip(["none", *levels], counts, strict=False)]


class ScorecardType(graphene.ObjectType):
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    enabled = graphene.Boolean(required=True)
    levels = graphene.List(graphene.NonNull(graphene.String), required=True)
    filter = graphene.JSONString(required=True)
    checks = graphene.List(graphene.NonNull(ScorecardCheckType), required=True)
    rollup = graphene.List(
        graphene.NonNull(RollupType),
        required=True,
        by=graphene.String(default_value="team", description="team or org"),
    )

    @staticmethod
    def resolve_checks(root, info):
        return list(root.checks.all())

    @staticmethod
    @domain_errors
    def resolve_rollup(root, info, by="team"):
        by = by if by in ("team", "org") else "team"
        return [
            RollupType(key=r["key"], services=r["services"], levels=_level_counts(root.levels, r["counts"]))
            for r in selectors.rollup(scorecard=root, by=by)
        ]


class ScorecardResultType(graphene.ObjectType):
    scorecard = graphene.Field(graphene.NonNull(ScorecardType))
    level = graphene.String(description="the highest level reached; null: none")
    level_index = graphene.Int(required=True, description="0: none; n: the n-th level")
    passed = graphene.Int(required=True)
    total = graphene.Int(required=True)
    computed_at = graphene.DateTime(required=True)
    checks = graphene.List(graphene.NonNull(CheckOutcomeType), required=True)

    @staticmethod
    def resolve_level(root, info):
        return root.level or None


class ServiceScorecardFields:
    scorecards = graphene.List(
        graphene.NonNull(ScorecardResultType),
        required=True,
        description="The service's standing on every enabled scorecard that applies to it.",
    )

    @domain_errors
    def resolve_scorecards(self, info):
        return selectors.results_for_service(slug=self.slug)


class Query(graphene.ObjectType):
    scorecards = graphene.List(graphene.NonNull(ScorecardType), required=True)
    scorecard = graphene.Field(ScorecardType, slug=graphene.String(required=True))

    @domain_errors
    def resolve_scorecards(self, info):
        return list(selectors.scorecard_list())

    @domain_errors
    def resolve_scorecard(self, info, slug):
        return selectors.scorecard_get(slug=slug)
