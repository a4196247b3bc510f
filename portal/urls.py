"""The portal's pages keep the URL paths and names they had (catalog:dashboard, teams:team_detail, ...):
config/urls.py adds these patterns to the catalog and teams namespaces, after each app's own."""

from django.urls import path

from portal import views

catalog_pages = [
    path("", views.dashboard, name="dashboard"),
    path("edges/", views.edge_list, name="edge_list"),
    path("services/<slug:slug>/", views.service_detail, name="service_detail"),
    path("services/<slug:slug>/dependencies/", views.service_dependencies, name="service_dependencies"),
    path("services/<slug:slug>/impact/", views.service_impact, name="service_impact"),
    path("apis/<slug:slug>/", views.api_detail, name="api_detail"),
]

teams_pages = [
    path("teams/<slug:slug>/", views.team_detail, name="team_detail"),
    path("teams/<slug:slug>/limits/", views.team_limits, name="team_limits"),
    path("teams/<slug:slug>/members/", views.member_add, name="member_add"),
]
