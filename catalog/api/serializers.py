from rest_framework import serializers

from catalog.models import Api, Domain, Resource, Service, System
from core.models import AuditEvent
from teams.models import Team


class ServiceSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    org = serializers.CharField(source="team.org.slug", read_only=True)
    consumes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    system = serializers.SlugRelatedField(
        slug_field="slug", queryset=System.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Service
        fields = [
            "slug",
            "name",
            "team",
            "org",
            "system",
            "description",
            "tier",
            "lifecycle",
            "repository_url",
            "base_url",
            "aliases",
            "metrics_path",
            "health_path",
            "crawl_enabled",
            "consumes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class ServiceListSerializer(ServiceSerializer):
    """The list omits declared consumption, which would cost a query per page."""

    class Meta(ServiceSerializer.Meta):
        fields = [f for f in ServiceSerializer.Meta.fields if f != "consumes"]


class ServiceTransferSerializer(serializers.Serializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())


class ServiceConsumesSerializer(serializers.Serializer):
    apis = serializers.SlugRelatedField(slug_field="slug", queryset=Api.objects.all(), many=True)


class ServiceResourcesSerializer(serializers.Serializer):
    resources = serializers.SlugRelatedField(slug_field="slug", queryset=Resource.objects.all(), many=True)


class ApiSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    team = serializers.CharField(source="provider.team.slug", read_only=True)
    successor = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    confirm_breaking = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Save a new spec even though it breaks the old one's clients without a new major version "
        "(otherwise 409 breaking_change lists the changes); the consumer teams get an api.breaking_change event.",
    )

    class Meta:
        model = Api
        fields = [
            "slug",
            "name",
            "provider",
            "team",
            "kind",
            "version",
            "base_path",
            "spec",
            "lifecycle",
            "slo_availability",
            "slo_p99_ms",
            "deprecated_at",
            "sunset_at",
            "successor",
            "created_at",
            "updated_at",
            "confirm_breaking",
        ]
        read_only_fields = ["created_at", "updated_at", "deprecated_at", "sunset_at", "successor"]


class BreakingChangeSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="e.g. path_removed, parameter_required, response_field_removed")
    location = serializers.CharField(help_text="JSON pointer into the new spec (the old one for removals)")
    message = serializers.CharField()


class BreakingChangeErrorSerializer(serializers.Serializer):
    """409 ``breaking_change``: the Error shape with the list of changes."""

    code = serializers.CharField()
    detail = serializers.CharField()
    changes = BreakingChangeSerializer(many=True, required=False)
    truncated = serializers.BooleanField(required=False)

    class Meta:
        ref_name = "BreakingChangeError"


class ApiDeprecationSerializer(serializers.Serializer):
    sunset_at = serializers.DateTimeField(help_text="from this instant the gateway refuses with 403 api_sunset")
    successor = serializers.SlugRelatedField(
        slug_field="slug", queryset=Api.objects.all(), allow_null=True, required=False, default=None
    )


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_repr")
    org = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "actor",
            "action",
            "org",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "created_at",
        ]


class _OwnedSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    org = serializers.CharField(source="team.org.slug", read_only=True)


class DomainSerializer(_OwnedSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Domain
        fields = ["slug", "name", "team", "org", "description", "parent", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class SystemSerializer(_OwnedSerializer):
    domain = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = System
        fields = ["slug", "name", "team", "org", "description", "domain", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class ResourceSerializer(_OwnedSerializer):
    system = serializers.SlugRelatedField(
        slug_field="slug", queryset=System.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Resource
        fields = ["slug", "name", "team", "org", "type", "description", "system", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
