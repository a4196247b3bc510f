"""REST shapes of graph results. Each plain serializer describes one type of
``graph/results.py``; ``graph.results.mismatches`` (tests/graph/test_results.py) keeps them equal."""

from rest_framework import serializers

from graph.models import CrawlResult, CrawlRun
from graph.selectors import crawl_progress


class DependencySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["service", "endpoint"])
    slug = serializers.CharField()
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    tier = serializers.IntegerField(allow_null=True)
    distance = serializers.IntegerField()


class AffectedServiceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    tier = serializers.IntegerField(allow_null=True)


class AffectedTeamSerializer(serializers.Serializer):
    team = serializers.CharField()
    team_name = serializers.CharField()
    oncall = serializers.CharField()
    chat = serializers.CharField()
    worst_tier = serializers.IntegerField(allow_null=True)
    services = AffectedServiceSerializer(many=True)


class BlastRadiusSerializer(serializers.Serializer):
    service = serializers.CharField()
    affected_services = serializers.IntegerField()
    teams = AffectedTeamSerializer(many=True)


class DriftSerializer(serializers.Serializer):
    declared_not_seen = serializers.ListField(child=serializers.CharField())
    seen_not_declared = serializers.ListField(child=serializers.CharField())


class PathSerializer(serializers.Serializer):
    path = serializers.ListField(child=serializers.CharField())


class GraphNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    tier = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()


class GraphEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    rate_per_min = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(allow_null=True)
    calls = serializers.FloatField(allow_null=True)
    errors = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField(allow_null=True)
    first_seen = serializers.IntegerField(allow_null=True, help_text="epoch milliseconds")
    last_seen = serializers.IntegerField(allow_null=True, help_text="epoch milliseconds")
    sources = serializers.ListField(child=serializers.CharField(), allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True, help_text="median call latency in milliseconds; null if unknown")
    p95_ms = serializers.FloatField(
        allow_null=True, help_text="95th percentile latency in milliseconds; null if unknown"
    )
    p99_ms = serializers.FloatField(
        allow_null=True, help_text="99th percentile latency in milliseconds; null if unknown"
    )


class GraphSerializer(serializers.Serializer):
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)


class SystemGraphNodeSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="a service slug, an endpoint key, or system:<slug>")
    kind = serializers.ChoiceField(choices=["system", "service", "endpoint"])
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    tier = serializers.IntegerField(allow_null=True, help_text="a system's: its most critical (lowest) service tier")
    system = serializers.CharField(allow_null=True, help_text="the system the node is or belongs to")
    services = serializers.IntegerField(allow_null=True, help_text="how many services the node stands for")


class SystemEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    edges = serializers.IntegerField(help_text="how many call edges this one sums")
    rate_per_min = serializers.FloatField(help_text="summed calls per minute")
    error_rate = serializers.FloatField(allow_null=True, help_text="error rate weighted by each edge's rate")
    p95_ms = serializers.FloatField(allow_null=True, help_text="the worst p95 of the edges, in milliseconds")


class SystemGraphSerializer(serializers.Serializer):
    nodes = SystemGraphNodeSerializer(many=True)
    edges = SystemEdgeSerializer(many=True)


class CouplingSerializer(serializers.Serializer):
    caller_team = serializers.CharField()
    callee_team = serializers.CharField()
    edges = serializers.IntegerField()
    rate_per_min = serializers.FloatField()


class CouplingListSerializer(serializers.Serializer):
    coupling = CouplingSerializer(many=True)


class CyclesSerializer(serializers.Serializer):
    cycles = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()), help_text="each cycle's service slugs, in order"
    )


class UnknownEndpointSerializer(serializers.Serializer):
    key = serializers.CharField()
    host = serializers.CharField(allow_null=True)
    port = serializers.IntegerField(allow_null=True)
    first_seen = serializers.IntegerField(allow_null=True, help_text="epoch milliseconds")
    last_seen = serializers.IntegerField(allow_null=True, help_text="epoch milliseconds")
    callers = serializers.ListField(child=serializers.CharField())


class UnknownEndpointListSerializer(serializers.Serializer):
    endpoints = UnknownEndpointSerializer(many=True)


class CrawlResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrawlResult
        fields = [
            "target",
            "ok",
            "health",
            "status_code",
            "latency_ms",
            "edges",
            "skipped_series",
            "foreign_callers",
            "error",
        ]


class CrawlRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = CrawlRun
        fields = [
            "id",
            "status",
            "trigger",
            "requested_by",
            "total",
            "done",
            "failed",
            "progress",
            "edges_seen",
            "edges_new",
            "edges_stale",
            "edges_removed",
            "skipped_series",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, run) -> int:
        return crawl_progress(run)


class CrawlRunDetailSerializer(CrawlRunSerializer):
    results = CrawlResultSerializer(many=True, read_only=True)

    class Meta(CrawlRunSerializer.Meta):
        fields = CrawlRunSerializer.Meta.fields + ["results"]


class MetricsBackendSerializer(serializers.ModelSerializer):
    """A metrics backend. ``secret`` (bearer token or basic-auth password) is write-only: it is
    stored sealed and never returned; ``has_secret`` says whether one is set. On PATCH, leave
    ``secret`` out to keep it."""

    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=4096, trim_whitespace=False
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        from graph.models import MetricsBackend

        model = MetricsBackend
        fields = [
            "id",
            "name",
            "url",
            "auth",
            "username",
            "secret",
            "has_secret",
            "window_seconds",
            "service_graph",
            "istio",
            "otel_client",
            "enabled",
        ]
        read_only_fields = ["id"]
