"""``/api/v1/keys``: metadata, issue, request, approve, reject, rotate, revoke."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog import selectors, services
from catalog.models import Api, ApiKey, Service
from catalog.validators import validate_scopes


class ApiKeySerializer(serializers.ModelSerializer):
    api = serializers.CharField(source="api.slug")
    consumer = serializers.CharField(source="consumer.slug")
    created_by = serializers.CharField(source="created_by.username", default=None)
    revoked_by = serializers.CharField(source="revoked_by.username", default=None)
    state = serializers.CharField(
        read_only=True, help_text="pending, active, expired, revoked or rejected: usable now only when active"
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "key_id",
            "name",
            "api",
            "consumer",
            "status",
            "state",
            "scopes",
            "created_by",
            "created_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
            "revoked_reason",
            "last_used_at",
            "usage_count",
            "rate_limit",
            "rate_period",
            "daily_quota",
        ]
        read_only_fields = fields


class IssuedKeySerializer(ApiKeySerializer):
    secret = serializers.CharField(help_text="Shown once; only its hash is kept.")

    class Meta(ApiKeySerializer.Meta):
        fields = ApiKeySerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class KeyLimitsSerializer(serializers.Serializer):
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        required=False,
        allow_null=True,
        help_text="requests per rate_period; null: none",
    )
    rate_period = serializers.ChoiceField(choices=["second", "minute"], required=False)
    daily_quota = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000_000,
        required=False,
        allow_null=True,
        help_text="requests per UTC day; null: none",
    )


class KeyIssueSerializer(KeyLimitsSerializer):
    api = serializers.SlugRelatedField(slug_field="slug", queryset=Api.objects.select_related("provider__team"))
    consumer = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.select_related("team"))
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=50, validators=[validate_scopes]
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class KeyRequestSerializer(KeyIssueSerializer):
    expires_at = None
    rate_limit = rate_period = daily_quota = None  # the provider sets limits when approving


class KeyApproveSerializer(KeyLimitsSerializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class KeyRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class KeyRotateSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0, max_value=30 * 24 * 3600, default=3600, help_text="how long the old key keeps working"
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="when the new key expires (null: never); default: the old key's expiry",
    )


class KeyExpirySerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never; a past instant: now")


class KeyRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class KeyRevokedSerializer(serializers.Serializer):
    key = ApiKeySerializer()
    impact = serializers.DictField()


def _issued(key, secret):
    data = ApiKeySerializer(key).data
    data["secret"] = secret
    return data


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return selectors.key_list_for(user=self.request.user)

    @extend_schema(request=KeyIssueSerializer, responses={201: IssuedKeySerializer})
    def create(self, request):
        """Issue a key (the provider API's team). The response holds the only copy of the secret."""
        data = KeyIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.key_issue(actor=request.user, **data.validated_data)
        return Response(_issued(key, secret), status=status.HTTP_201_CREATED)

    @extend_schema(request=KeyRequestSerializer, responses={201: ApiKeySerializer})
    @action(detail=False, methods=["post"], url_path="request")
    def request_key(self, request):
        """Ask for a key for one of your team's services; the provider approves or rejects."""
        data = KeyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = services.key_request(actor=request.user, **data.validated_data)
        return Response(ApiKeySerializer(key).data, status=status.HTTP_201_CREATED)

    def _valid(self, serializer_class) -> dict:
        data = serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data

    @extend_schema(request=KeyApproveSerializer, responses=IssuedKeySerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        key, secret = services.key_approve(
            actor=request.user, key=self.get_object(), **self._valid(KeyApproveSerializer)
        )
        return Response(_issued(key, secret))

    @extend_schema(request=KeyRejectSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        key = services.key_reject(actor=request.user, key=self.get_object(), **self._valid(KeyRejectSerializer))
        return Response(ApiKeySerializer(key).data)

    @extend_schema(request=KeyRotateSerializer, responses={201: IssuedKeySerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        key, secret = services.key_rotate(actor=request.user, key=self.get_object(), **self._valid(KeyRotateSerializer))
        return Response(_issued(key, secret), status=status.HTTP_201_CREATED)

    @extend_schema(request=KeyExpirySerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def expiry(self, request, pk=None):
        """Change when an active key expires; gateways see it within a second."""
        key = services.key_expiry_set(actor=request.user, key=self.get_object(), **self._valid(KeyExpirySerializer))
        return Response(ApiKeySerializer(key).data)

    @extend_schema(request=KeyLimitsSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def limits(self, request, pk=None):
        """Set the key's rate limit and daily quota (null clears one); gateways apply it within a second."""
        key = services.key_limits_set(actor=request.user, key=self.get_object(), **self._valid(KeyLimitsSerializer))
        return Response(ApiKeySerializer(key).data)

    @extend_schema(request=KeyRevokeSerializer, responses=KeyRevokedSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke irreversibly; the answer says who called with it and would break."""
        key = services.key_revoke(actor=request.user, key=self.get_object(), **self._valid(KeyRevokeSerializer))
        return Response({"key": ApiKeySerializer(key).data, "impact": selectors.key_revoke_impact(key=key)})
