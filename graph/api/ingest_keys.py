"""``/api/v1/ingest-keys``: keys services present when they push OpenTelemetry data (OTLP
``/v1/traces``, ``/v1/metrics``): metadata, issue, revoke."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from graph import selectors, services
from graph.models import IngestKey


class IngestKeySerializer(serializers.ModelSerializer):
    service = serializers.CharField(source="service.slug")
    may_report_for = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    revoked = serializers.BooleanField(read_only=True)

    class Meta:
        model = IngestKey
        fields = [
            "id",
            "key_id",
            "name",
            "service",
            "may_report_for",
            "created_by",
            "created_at",
            "revoked",
            "revoked_at",
            "revoked_by",
            "revoked_reason",
        ]
        read_only_fields = fields


class IssuedIngestKeySerializer(IngestKeySerializer):
    secret = serializers.CharField(help_text="The whole key, shown once; only its hash is kept.")

    class Meta(IngestKeySerializer.Meta):
        fields = IngestKeySerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class IngestKeyIssueSerializer(serializers.Serializer):
    service = serializers.SlugField(max_length=64, help_text="The reporting service (resource `service.name`).")
    name = serializers.CharField(max_length=100)
    may_report_for = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        required=False,
        max_length=100,
        help_text="Other services whose telemetry the key may carry (a collector); you must manage each.",
    )


class IngestKeyRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class IngestKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = IngestKeySerializer
    queryset = IngestKey.objects.none()  # the schema's type of {id}; get_queryset scopes every request

    def get_queryset(self):
        return selectors.ingest_key_list(user=self.request.user)

    @extend_schema(request=IngestKeyIssueSerializer, responses={201: IssuedIngestKeySerializer})
    def create(self, request):
        """Issue an ingestion key (members of the service's team). The answer holds the only copy."""
        data = IngestKeyIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.ingest_key_issue(actor=request.user, **data.validated_data)
        return Response({**IngestKeySerializer(key).data, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(request=IngestKeyRevokeSerializer, responses=IngestKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke irreversibly; the receiver refuses the key within KEY_LOCAL_CACHE_SECONDS."""
        data = IngestKeyRevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = services.ingest_key_revoke(actor=request.user, key=self.get_object(), **data.validated_data)
        return Response(IngestKeySerializer(key).data)
