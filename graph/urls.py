from django.urls import path

from graph import views

app_name = "graph"
urlpatterns = [
    path("graph/", views.explorer, name="explorer"),
    path("graph/data.json", views.graph_data, name="data"),
    path("graph/find.json", views.graph_find, name="find"),
    path("graph/panel/<str:slug>/", views.node_panel, name="panel"),
    path("discovery/", views.discovery, name="discovery"),
    path("discovery/crawl/", views.crawl_now, name="crawl_now"),
    path("discovery/schedule/", views.schedule_edit, name="schedule_edit"),
    path("discovery/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("discovery/runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
]
