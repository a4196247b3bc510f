import graphene
from django.contrib.auth import get_user_model
from graphene_django.filter import DjangoFilterConnectionField

from core.graphql import domain_errors, get_or_not_found
from teams import selectors, services
from teams.filtersets import TeamFilterSet
from teams.graphql.types import MemberType, OrgType, TeamType
from teams.models import Org


def _team_queryset():
    return selectors.team_list().prefetch_related("memberships__user", "services")


class Query(graphene.ObjectType):
    orgs = DjangoFilterConnectionField(OrgType)
    teams = DjangoFilterConnectionField(TeamType, filterset_class=TeamFilterSet)
    team = graphene.Field(TeamType, slug=graphene.String(required=True))

    def resolve_orgs(root, info, **kwargs):
        return selectors.org_list()

    def resolve_teams(root, info, **kwargs):
        return _team_queryset()

    def resolve_team(root, info, slug):
        return _team_queryset().filter(slug=slug).first()


class CreateTeam(graphene.Mutation):
    class Arguments:
        org = graphene.String(required=True)
        slug = graphene.String(required=True)
        name = graphene.String(required=True)
        description = graphene.String()
        chat_channel = graphene.String()
        oncall_contact = graphene.String()

    team = graphene.Field(TeamType)

    @domain_errors
    def mutate(root, info, org, slug, name, **fields):
        team = services.team_create(
            actor=info.context.user, org=get_or_not_found(Org.objects, "org", slug=org), slug=slug, name=name, **fields
        )
        return CreateTeam(team=team)


class AddMember(graphene.Mutation):
    class Arguments:
        team = graphene.String(required=True)
        username = graphene.String(required=True)
        role = graphene.String(default_value="member")

    member = graphene.Field(MemberType)

    @domain_errors
    def mutate(root, info, team, username, role):
        team = get_or_not_found(selectors.team_list(), "team", slug=team)
        user = selectors.active_user(username)
        if user is None:  # as REST: unknown and inactive users get the same 400 'invalid'
            raise services.no_such_active_user(username)
        membership = services.member_add(actor=info.context.user, team=team, user=user, role=role)
        return AddMember(member=membership)


class RemoveMember(graphene.Mutation):
    class Arguments:
        team = graphene.String(required=True)
        username = graphene.String(required=True)

    ok = graphene.Boolean()

    @domain_errors
    def mutate(root, info, team, username):
        services.member_remove(
            actor=info.context.user,
            team=get_or_not_found(selectors.team_list(), "team", slug=team),
            user=get_or_not_found(get_user_model().objects, "user", username=username),
        )
        return RemoveMember(ok=True)


class Mutation(graphene.ObjectType):
    create_team = CreateTeam.Field()
    add_member = AddMember.Field()
    remove_member = RemoveMember.Field()
