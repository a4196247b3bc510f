"""``/api/v1/scorecards``: definitions (list, detail, load from YAML), results, roll-ups and
trends; ``/api/v1/services/<slug>/scorecards``: one service's results."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput
from scorecards import selectors, services


class CheckSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField()
    level = serializers.CharField()
    params = serializers.DictField(help_text="The check's parameters, defaults filled in.")


class ScorecardSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    levels = serializers.ListField(child=serializers.CharField(), help_text="Lowest first.")
    filter = serializers.DictField(help_text="org, team, system, lifecycle (slugs) and tier (a list); empty: all.")
    org = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    checks = CheckSerializer(many=True, source="checks.all")
    updated_at = serializers.DateTimeField()


class ScorecardLoadSerializer(serializers.Serializer):
    definition = serializers.CharField(
        trim_whitespace=False,
        help_text="YAML: one scorecard per document (slug, name, description, enabled, filter, levels, checks).",
    )


class ScorecardLoadedSerializer(serializers.Serializer):
    scorecards = ScorecardSerializer(many=True)


class OutcomeSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField()
    level = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField()


class ResultSerializer(serializers.Serializer):
    scorecard = serializers.CharField(source="scorecard.slug")
    service = serializers.CharField(source="service.slug")
    level = serializers.CharField(allow_blank=True, help_text="The highest level reached; empty: none.")
    level_index = serializers.IntegerField(help_text="0: none; n: the n-th level.")
    passed = serializers.IntegerField()
    total = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    checks = OutcomeSerializer(many=True)


class RollupRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The team's or org's slug.")
    services = serializers.IntegerField()
    counts = serializers.ListField(child=serializers.IntegerField(), help_text="Services at none, level 1, 2, ...")


class RollupSerializer(serializers.Serializer):
    scorecard = serializers.CharField()
    by = serializers.ChoiceField(choices=["team", "org"])
    levels = serializers.ListField(child=serializers.CharField(), help_text="'none' first, then the levels.")
    rows = RollupRowSerializer(many=True)


class TrendPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    counts = serializers.ListField(child=serializers.IntegerField())


class TrendSerializer(serializers.Serializer):
    scorecard = serializers.CharField()
    scope = serializers.ChoiceField(choices=["all", "org", "team"])
    key = serializers.CharField(allow_blank=True)
    levels = serializers.ListField(child=serializers.CharField())
    points = TrendPointSerializer(many=True)


def _choice(request, name: str, choices: tuple, default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}.", code=f"{name}_invalid")
    return value


class ScorecardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Scorecards: any signed-in user reads them; superusers and org admins load definitions
    (an org admin's must be scoped to their org)."""

    serializer_class = ScorecardSerializer
    lookup_field = "slug"
    lookup_value_regex = "[a-z0-9-]+"

    def get_queryset(self):
        return selectors.scorecard_list()

    def get_object(self):
        return selectors.scorecard_get(slug=self.kwargs["slug"])

    @extend_schema(
        request=ScorecardLoadSerializer,
        responses={201: ScorecardLoadedSerializer},
        description="Create or replace the scorecards of a YAML document (by slug), all or nothing. "
        "400 `scorecard_invalid` lists every problem with its line (`errors`); 413 `scorecard_too_large`.",
    )
    def create(self, request):
        body = ScorecardLoadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        loaded = services.scorecards_load(actor=request.user, text=body.validated_data["definition"], file="body")
        return Response({"scorecards": ScorecardSerializer(loaded, many=True).data}, status=201)

    @extend_schema(responses=ResultSerializer(many=True))
    @action(detail=True, methods=["get"])
    def results(self, request, slug=None):
        scorecard = self.get_object()
        page = self.paginate_queryset(selectors.results_for_scorecard(scorecard=scorecard))
        return self.get_paginated_response(ResultSerializer(page, many=True).data)

    @extend_schema(
        responses=RollupSerializer,
        parameters=[
            OpenApiParameter("by", OpenApiTypes.STR, enum=["team", "org"]),
            OpenApiParameter("org", OpenApiTypes.STR),
            OpenApiParameter("team", OpenApiTypes.STR),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def rollup(self, request, slug=None):
        scorecard = self.get_object()
        by = _choice(request, "by", ("team", "org"), "team")
        rows = selectors.rollup(
            scorecard=scorecard, by=by, org=request.query_params.get("org"), team=request.query_params.get("team")
        )
        return Response(
            RollupSerializer(
                {"scorecard": scorecard.slug, "by": by, "levels": ["none", *scorecard.levels], "rows": rows}
            ).data
        )

    @extend_schema(
        responses=TrendSerializer,
        parameters=[
            OpenApiParameter("scope", OpenApiTypes.STR, enum=["all", "org", "team"]),
            OpenApiParameter("key", OpenApiTypes.STR, description="The org's or team's slug (scope org/team)."),
            OpenApiParameter("days", OpenApiTypes.INT, description="1-365, default 90."),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def trend(self, request, slug=None):
        scorecard = self.get_object()
        scope = _choice(request, "scope", ("all", "org", "team"), "all")
        try:
            days = int(request.query_params.get("days", 90))
        except ValueError:
            days = 0
        if not 1 <= days <= 365:
            raise InvalidInput("days must be a whole number from 1 to 365.", code="days_invalid")
        key = "" if scope == "all" else request.query_params.get("key", "")
        points = selectors.trend(scorecard=scorecard, scope=scope, key=key, days=days)
        return Response(
            TrendSerializer(
                {
                    "scorecard": scorecard.slug,
                    "scope": scope,
                    "key": key,
                    "levels": ["none", *scorecard.levels],
                    "points": points,
                }
            ).data
        )


class ServiceScorecardsView(APIView):
    """A service's standing on every enabled scorecard that applies to it."""

    @extend_schema(operation_id="services_scorecards", responses=ResultSerializer(many=True))
    def get(self, request, slug):
        return Response(ResultSerializer(selectors.results_for_service(slug=slug), many=True).data)
