from django.urls import path

from teams import views

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/<slug:slug>/edit/", views.team_edit, name="team_edit"),
    path("teams/<slug:slug>/members/<str:username>/remove/", views.member_remove, name="member_remove"),
    path("orgs/<slug:slug>/limits/", views.org_limits, name="org_limits"),
    path("profile/", views.profile, name="profile"),
    path("profile/token/", views.token_create, name="token_create"),
    path("profile/token/revoke/", views.token_revoke, name="token_revoke"),
]
