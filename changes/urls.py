from django.urls import path

from changes import views

app_name = "changes"
urlpatterns = [
    path("services/<slug:slug>/slo/", views.service_slo, name="service_slo"),
    path("apis/<slug:slug>/slo/", views.api_slo, name="api_slo"),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
    path("services/<slug:slug>/changes/", views.service_changes, name="service_changes"),
    path("teams/<slug:slug>/activity/", views.team_activity, name="team_activity"),
]
