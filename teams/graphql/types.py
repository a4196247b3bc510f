import graphene
from graphene import relay
from graphene_django import DjangoObjectType

from core.graphql import type_extensions
from teams.models import Membership, Org, Team
from teams.selectors import team_usage


class LimitUsageType(graphene.ObjectType):
    current = graphene.Int(required=True)
    max = graphene.Int(required=True)
    state = graphene.String(required=True, description="ok | near | at | over")


class UsageType(graphene.ObjectType):
    members = graphene.Field(LimitUsageType, required=True)
    services = graphene.Field(LimitUsageType, required=True)


class OrgType(DjangoObjectType):
    class Meta:
        model = Org
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = ["slug", "name", "description", "max_members_per_team", "max_services_per_team", "created_at"]
        filter_fields = ["slug"]


class MemberType(DjangoObjectType):
    username = graphene.String(required=True)

    class Meta:
        model = Membership
        convert_choices_to_enum = False
        fields = ["role", "created_at"]

    def resolve_username(self, info):
        return self.user.username


class TeamType(*type_extensions("Team"), DjangoObjectType):
    usage = graphene.Field(UsageType, required=True)
    effective_max_members = graphene.Int(required=True)
    effective_max_services = graphene.Int(required=True)
    members = graphene.List(graphene.NonNull(MemberType), required=True)

    class Meta:
        model = Team
        interfaces = (relay.Node,)
        convert_choices_to_enum = False  # plain values, as in REST
        fields = [
            "slug",
            "name",
            "org",
            "description",
            "chat_channel",
            "oncall_contact",
            "max_members",
            "max_services",
            "created_at",
        ]

    def resolve_usage(self, info):
        return team_usage(self)

    def resolve_members(self, info):
        return self.memberships.all()
