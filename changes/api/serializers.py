from rest_framework import serializers

from catalog.models import Service
from changes import constants
from changes.models import Delivery, DeliveryAttempt, Deploy, DeployKey, Event, Webhook
from teams.models import Org, Team

CLIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}\Z"


class DeploySerializer(serializers.ModelSerializer):
    service = serializers.CharField(source="service.slug")
    deploy_id = serializers.CharField(source="client_id", help_text="The pipeline's own id for the deploy.")
    recorded_by = serializers.CharField(source="recorded_by.username", default=None)
    deploy_key = serializers.CharField(source="deploy_key.key_id", default=None)

    class Meta:
        model = Deploy
        fields = [
            "id",
            "deploy_id",
            "service",
            "version",
            "environment",
            "commit",
            "url",
            "deployer",
            "status",
            "started_at",
            "finished_at",
            "recorded_by",
            "deploy_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeployRecordSerializer(serializers.Serializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.select_related("team"))
    deploy_id = serializers.RegexField(
        CLIENT_ID,
        max_length=100,
        help_text="Your pipeline's id for this deploy (e.g. the CI run id): a retry with the same id records one deploy.",
    )
    version = serializers.CharField(max_length=100)
    environment = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", max_length=64, default="production")
    commit = serializers.RegexField(
        r"^[0-9A-Za-z]{0,64}\Z", max_length=64, required=False, default="", allow_blank=True
    )
    url = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    deployer = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
    status = serializers.ChoiceField(choices=constants.DEPLOY_STATUSES, default="succeeded")
    started_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    finished_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class DeployKeySerializer(serializers.ModelSerializer):
    service = serializers.CharField(source="service.slug")
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = DeployKey
        fields = ["id", "key_id", "name", "service", "created_by", "created_at", "revoked_at"]
        read_only_fields = fields


class IssuedDeployKeySerializer(DeployKeySerializer):
    secret = serializers.CharField(
        help_text="Shown once; only its hash is kept. Send it as `Authorization: Bearer <secret>`."
    )

    class Meta(DeployKeySerializer.Meta):
        fields = DeployKeySerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class DeployKeyIssueSerializer(serializers.Serializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.select_related("team"))
    name = serializers.CharField(max_length=100)


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", help_text="Stable id of the event (`evt_…`).")
    cursor = serializers.CharField(source="pk", help_text="Pass as `after` to read what came after this event.")
    time = serializers.DateTimeField(source="occurred_at")
    subject = serializers.DictField()
    payload = serializers.DictField()

    class Meta:
        model = Event
        fields = ["id", "cursor", "type", "time", "subject", "payload", "org_id", "team_id", "service_id"]
        read_only_fields = fields


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next_cursor = serializers.CharField(help_text="Pass as `after` next time (the same cursor when nothing came).")


class WebhookSerializer(serializers.ModelSerializer):
    org = serializers.CharField(source="org.slug", default=None)
    team = serializers.CharField(source="team.slug", default=None)
    service = serializers.CharField(source="service.slug", default=None)
    scope = serializers.CharField(read_only=True)
    types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "url",
            "scope",
            "org",
            "team",
            "service",
            "types",
            "enabled",
            "disabled_reason",
            "consecutive_failures",
            "created_at",
        ]
        read_only_fields = fields


class CreatedWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Shown once: verify `Switchboard-Signature` with it.")

    class Meta(WebhookSerializer.Meta):
        fields = WebhookSerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=500)
    types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=len(constants.EVENT_TYPES) + 1,
        help_text="Event types to receive, or `['*']` for all.",
    )
    org = serializers.SlugRelatedField(slug_field="slug", queryset=Org.objects.all(), required=False)
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.select_related("org"), required=False)
    service = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.select_related("team__org"), required=False
    )


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "status_code", "error", "duration_ms"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    delivery_id = serializers.CharField(source="uid")
    event = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    attempt_log = DeliveryAttemptSerializer(many=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


class HistoryPointSerializer(serializers.Serializer):
    t = serializers.IntegerField(help_text="Epoch ms: when the window was observed (7d: the hour's start).")
    calls_per_min = serializers.FloatField(allow_null=True, help_text="Calls per minute (null: not measured).")
    error_rate = serializers.FloatField(allow_null=True, help_text="Share of calls that failed, 0..1.")
    p95_ms = serializers.FloatField(allow_null=True, help_text="95th percentile latency in ms, where known.")


class HistoryEdgeSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["in", "out"], help_text="`in`: calls into the service.")
    src = serializers.CharField(help_text="The caller's slug.")
    dst = serializers.CharField(help_text="The callee: a service slug or an endpoint `host:port`.")
    points = HistoryPointSerializer(many=True)


class HistoryDeploySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    status = serializers.CharField()
    environment = serializers.CharField()
    t = serializers.IntegerField(help_text="Epoch ms: when it finished (else started, else was recorded).")


class ServiceHistorySerializer(serializers.Serializer):
    service = serializers.CharField()
    window = serializers.ChoiceField(choices=["1h", "24h", "7d"])
    from_ = serializers.IntegerField(help_text="Epoch ms.")
    to = serializers.IntegerField(help_text="Epoch ms.")
    resolution_seconds = serializers.IntegerField(help_text="0: every observed window; 3600: hourly roll-ups.")
    truncated = serializers.BooleanField(help_text="More edges than EDGE_HISTORY_MAX_EDGES in one direction.")
    edges = HistoryEdgeSerializer(many=True)
    deploys = HistoryDeploySerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
