from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from teams.constants import ROLE_CHOICES
from teams.models import Membership, Org, Team
from teams.selectors import team_usage


class OrgSerializer(serializers.ModelSerializer):
    class Meta:
        model = Org
        fields = ["slug", "name", "description", "max_members_per_team", "max_services_per_team", "created_at"]
        read_only_fields = ["created_at"]


class LimitUsageSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    max = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["ok", "near", "at", "over"])


class UsageSerializer(serializers.Serializer):
    members = LimitUsageSerializer()
    services = LimitUsageSerializer()


class TeamSerializer(serializers.ModelSerializer):
    org = serializers.SlugRelatedField(slug_field="slug", queryset=Org.objects.all())
    usage = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = [
            "slug",
            "name",
            "org",
            "description",
            "chat_channel",
            "oncall_contact",
            "max_members",
            "max_services",
            "usage",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    @extend_schema_field(UsageSerializer)
    def get_usage(self, team) -> dict:
        return team_usage(team)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    username = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), source="user"
    )
    role = serializers.ChoiceField(choices=ROLE_CHOICES, default="member")
