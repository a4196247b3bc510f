import graphene
from graphene import relay
from graphene_django import DjangoObjectType

from core.loaders import hint
from graph.graphql.types import CouplingType
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


class TeamType(DjangoObjectType):
    usage = graphene.Field(UsageType, required=True)
    effective_max_members = graphene.Int(required=True)
    effective_max_services = graphene.Int(required=True)
    members = graphene.List(graphene.NonNull(MemberType), required=True)
    services = graphene.List(graphene.NonNull("catalog.graphql.types.ServiceType"), required=True)
    team_dependencies = graphene.List(
        graphene.NonNull(CouplingType),
        required=True,
        description="Observed calls between this team's services and other teams'.",
    )

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

    def resolve_services(self, info):
        services = self.services.all()
        hint(info, "service", (s.slug for s in services))  # their graph fields load together
        return services

    def resolve_team_dependencies(self, info):
        from core.graphql import domain_errors
        from graph.selectors import team_coupling

        return domain_errors(team_coupling)(team=self.slug)
