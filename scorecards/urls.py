from django.urls import path

from scorecards import views

app_name = "scorecards"
urlpatterns = [
    path("scorecards/", views.scorecard_list, name="scorecard_list"),
    path("scorecards/new/", views.scorecard_new, name="scorecard_new"),
    path("scorecards/<slug:slug>/", views.scorecard_detail, name="scorecard_detail"),
    path("scorecards/<slug:slug>/edit/", views.scorecard_edit, name="scorecard_edit"),
    path("services/<slug:slug>/scorecards/", views.service_panel, name="service_panel"),
    path("teams/<slug:slug>/scorecards/", views.team_panel, name="team_panel"),
]
