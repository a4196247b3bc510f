"""``GET /api/v1/apis/<slug>/slo``: an API's SLO evaluated from its provider's inbound edges."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from changes import selectors


class SloWindowSerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=["1h", "24h", "28d"])
    seconds = serializers.IntegerField()
    samples = serializers.IntegerField(help_text="Observation windows of inbound edges in this window.")
    calls_per_min = serializers.FloatField(allow_null=True, help_text="Mean inbound calls per minute.")
    availability = serializers.FloatField(allow_null=True, help_text="1 - errors/calls (0..1); null: no calls seen.")
    availability_met = serializers.BooleanField(allow_null=True)
    error_budget_remaining = serializers.FloatField(
        allow_null=True, help_text="Share of this window's error budget left (1 - burn rate; negative: overspent)."
    )
    burn_rate = serializers.FloatField(
        allow_null=True, help_text="Error ratio / (1 - target): 1.0 spends exactly the budget over the window."
    )
    p99_worst_ms = serializers.FloatField(
        allow_null=True, help_text="The worst observation window's p99 (an upper bound of the window's p99)."
    )
    latency_good_ratio = serializers.FloatField(
        allow_null=True, help_text="Share of calls seen in observation windows whose p99 met the target."
    )
    latency_met = serializers.BooleanField(allow_null=True, help_text="latency_good_ratio >= SLO_LATENCY_OBJECTIVE.")
    compliant = serializers.BooleanField(allow_null=True, help_text="Every target with data met; null: no data.")


class SloRuleSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="factor x / long window, e.g. `14.4x/1h`.")
    factor = serializers.FloatField()
    long_s = serializers.IntegerField()
    short_s = serializers.IntegerField()
    long_burn = serializers.FloatField(allow_null=True)
    short_burn = serializers.FloatField(allow_null=True)
    firing = serializers.BooleanField()


class SloStatusSerializer(serializers.Serializer):
    api = serializers.CharField()
    service = serializers.CharField(help_text="The provider, whose inbound edges the numbers are measured on.")
    scope = serializers.ChoiceField(
        choices=["service"], help_text="`service`: every inbound edge of the provider (edges carry no API)."
    )
    availability_target = serializers.FloatField(allow_null=True, help_text="Percent, as set on the API.")
    p99_target_ms = serializers.IntegerField(allow_null=True)
    evaluated_at = serializers.IntegerField(help_text="Epoch seconds.")
    windows = SloWindowSerializer(many=True)
    rules = SloRuleSerializer(many=True, help_text="The multi-window burn-rate rules (SLO_BURN_RULES).")
    firing = serializers.BooleanField()
    firing_rule = serializers.CharField(allow_null=True)


class ApiSloView(APIView):
    """An API's SLO over 1 h, 24 h and 28 d (compliance, error budget left, burn rate) and its
    burn-rate alert rules, from the provider service's observed inbound edges."""

    @extend_schema(operation_id="apis_slo", responses=SloStatusSerializer)
    def get(self, request, slug):
        return Response(SloStatusSerializer(asdict(selectors.slo_for_api(slug=slug))).data)
