"""``GET /api/v1/deploys/<id>/verdict`` (the deploy gate) and ``GET /api/v1/services/<slug>/changes``
(what changed around a service). Thin: one selector each."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import authentication, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from changes import regressions, selectors, whatchanged
from changes.api.views import DeployKeyAuthentication, SignedInOrDeployKey
from changes.models import DeployKey


class ReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[
            "regression",
            "slo_burn",
            "deploy_status",
            "window_open",
            "not_enough_traffic",
            "no_regression",
        ]
    )
    detail = serializers.CharField()


class VerdictSerializer(serializers.Serializer):
    deploy = serializers.IntegerField()
    service = serializers.CharField()
    verdict = serializers.ChoiceField(
        choices=["pass", "fail", "wait"],
        help_text="fail: roll back (a regression since the deploy, SLO burn, or the deploy failed); wait: ask again "
        "later (the observation window is open, or too few calls to judge); pass: keep it.",
    )
    reasons = ReasonSerializer(many=True)
    deployed_at = serializers.DateTimeField()
    window_ends_at = serializers.DateTimeField(help_text="End of the window after the deploy that is compared.")
    edges_compared = serializers.IntegerField(help_text="Edges with enough calls before and after to judge.")
    edges_total = serializers.IntegerField(help_text="Edges into or out of the service in the edge history.")


class DeployVerdictView(APIView):
    """The deploy gate: whether a pipeline should keep a deploy."""

    authentication_classes = [
        DeployKeyAuthentication,
        authentication.SessionAuthentication,
        authentication.TokenAuthentication,
    ]
    permission_classes = [SignedInOrDeployKey]

    @extend_schema(
        operation_id="deploys_verdict",
        responses=VerdictSerializer,
        description="`pass`, `fail` or `wait` with reasons. Readable by every signed-in user and with the "
        "service's deploy key (`Authorization: Bearer swb_…`, that service's deploys only), so a pipeline can ask "
        "after each deploy and roll back on `fail`.",
    )
    def get(self, request, pk):
        dkey = request.auth if isinstance(request.auth, DeployKey) else None
        deploy = selectors.deploy_get(pk=pk)
        return Response(VerdictSerializer(regressions.deploy_verdict(deploy=deploy, deploy_key=dkey)).data)


class ScopeEntrySerializer(serializers.Serializer):
    slug = serializers.CharField()
    kind = serializers.ChoiceField(choices=["service", "endpoint"])
    distance = serializers.IntegerField(help_text="0: the service itself; n: n hops down its calls.")


class EdgeChangeSerializer(serializers.Serializer):
    change = serializers.ChoiceField(choices=["appeared", "stale", "disappeared"])
    src = serializers.CharField()
    dst = serializers.CharField()
    at = serializers.DateTimeField()


class RegressionChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service = serializers.CharField(help_text="The deployed service.")
    deploy = serializers.IntegerField(help_text="The deploy that is the likely cause (its id).")
    version = serializers.CharField()
    src = serializers.CharField()
    dst = serializers.CharField()
    direction = serializers.ChoiceField(choices=["in", "out"])
    metric = serializers.ChoiceField(choices=["error_rate", "p95_ms"])
    before = serializers.FloatField(help_text="Error rate 0..1, or p95 in ms, in the window before the deploy.")
    after = serializers.FloatField()
    calls_before = serializers.FloatField()
    calls_after = serializers.FloatField()
    at = serializers.DateTimeField()


class DeployChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deploy_id = serializers.CharField()
    service = serializers.CharField()
    distance = serializers.IntegerField()
    version = serializers.CharField()
    environment = serializers.CharField()
    status = serializers.CharField()
    commit = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()


class CatalogChangeSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="The event type: service.updated, api.updated, key.revoked, ...")
    service = serializers.CharField(allow_null=True)
    subject = serializers.CharField()
    changed = serializers.ListField(child=serializers.CharField())
    summary = serializers.CharField()
    at = serializers.DateTimeField()


class ServiceChangesSerializer(serializers.Serializer):
    service = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    depth = serializers.IntegerField()
    scope = ScopeEntrySerializer(many=True)
    scope_complete = serializers.BooleanField(help_text="false: the graph could not be read; the service alone.")
    edges = EdgeChangeSerializer(many=True)
    regressions = RegressionChangeSerializer(many=True)
    deploys = DeployChangeSerializer(many=True)
    catalog = CatalogChangeSerializer(many=True)
    truncated = serializers.BooleanField(help_text="A kind had more than CHANGES_MAX_ITEMS; the newest are given.")


class ServiceChangesView(APIView):
    """What changed around a service and the services it calls."""

    @extend_schema(
        operation_id="services_changes",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.STR,
                default="24h",
                description="An ISO 8601 time or an age (30m, 24h, 7d, 2w); at most 90 days back. "
                "400 `since_invalid` otherwise.",
            ),
            OpenApiParameter(
                "depth",
                OpenApiTypes.STR,
                default="1",
                description="Hops down the service's calls: 1 to 6, or `all` (the whole closure, to 6 hops). "
                "400 `depth_invalid` otherwise.",
            ),
        ],
        responses=ServiceChangesSerializer,
    )
    def get(self, request, slug):
        found = whatchanged.service_changes(
            slug=slug, since=request.query_params.get("since"), depth=request.query_params.get("depth")
        )
        return Response(ServiceChangesSerializer(found).data)
