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


_DATETIME = serializers.DateTimeField(read_only=True)  # DRF's datetime output, for rows written by hand


class ServiceListSerializer(ServiceSerializer):
    """The list omits declared consumption, which would cost a query per page.

    It reads the rows of ``catalog.selectors.service_rows`` (dicts) and writes each with the
    values DRF's fields would give (strings, numbers and JSON as stored; datetimes through
    DRF's own DateTimeField): the fields' per-row work was a third of a page of 100. The
    declared fields still describe the list in the OpenAPI schema."""

    class Meta(ServiceSerializer.Meta):
        fields = [f for f in ServiceSerializer.Meta.fields if f != "consumes"]

    def to_representation(self, row):
        when = _DATETIME.to_representation
        return {
            "slug": row["slug"],
            "name": row["name"],
            "team": row["team__slug"],
            "org": row["team__org__slug"],
            "system": row["system__slug"],
            "description": row["description"],
            "tier": row["tier"],
            "lifecycle": row["lifecycle"],
            "repository_url": row["repository_url"],
            "base_url": row["base_url"],
            "aliases": row["aliases"],
            "metrics_path": row["metrics_path"],
            "health_path": row["health_path"],
            "crawl_enabled": row["crawl_enabled"],
            "created_at": when(row["created_at"]),
            "updated_at": when(row["updated_at"]),
        }


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
