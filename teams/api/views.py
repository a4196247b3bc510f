from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from teams import selectors, services
from teams.api.serializers import MemberAddSerializer, MemberSerializer, OrgSerializer, TeamSerializer
from teams.filtersets import TeamFilterSet
from teams.models import Membership


class OrgViewSet(viewsets.ModelViewSet):
    serializer_class = OrgSerializer
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["slug", "name", "id"]

    def get_queryset(self):
        return selectors.org_list()

    def perform_create(self, serializer):
        serializer.instance = services.org_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.org_update(
            actor=self.request.user, org=serializer.instance, **serializer.validated_data
        )


class TeamViewSet(viewsets.ModelViewSet):
    serializer_class = TeamSerializer
    lookup_field = "slug"
    filterset_class = TeamFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "id"]

    def get_queryset(self):
        return selectors.team_list()

    def perform_create(self, serializer):
        serializer.instance = services.team_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("org", None)  # moving a team between orgs is not supported
        serializer.instance = services.team_update(actor=self.request.user, team=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.team_delete(actor=self.request.user, team=instance)


class MemberViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Members of one team: ``/api/v1/teams/<slug>/members/``."""

    serializer_class = MemberSerializer
    pagination_class = None
    lookup_field = "username"

    def get_team(self):
        return get_object_or_404(selectors.team_list(), slug=self.kwargs["team_slug"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no team
            return Membership.objects.none()
        return selectors.member_list(team=self.get_team())

    @extend_schema(request=MemberAddSerializer, responses={201: MemberSerializer})
    def create(self, request, team_slug=None):
        team = self.get_team()
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(actor=request.user, team=team, **data.validated_data)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, team_slug=None, username=None):
        team = self.get_team()
        user = get_object_or_404(selectors.user_list(), username=username)
        services.member_remove(actor=request.user, team=team, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
