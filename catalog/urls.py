from django.urls import path

from catalog import views

urlpatterns = [
    path("search/", views.search, name="search"),
    path("services/", views.service_list, name="service_list"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service_edit"),
    path("apis/", views.api_list, name="api_list"),
    path("apis/new/", views.api_create, name="api_create"),
    path("systems/", views.system_list, name="system_list"),
    path("systems/<slug:slug>/", views.system_detail, name="system_detail"),
    path("domains/", views.domain_list, name="domain_list"),
    path("domains/<slug:slug>/", views.domain_detail, name="domain_detail"),
    path("resources/", views.resource_list, name="resource_list"),
    path("resources/<slug:slug>/", views.resource_detail, name="resource_detail"),
    path("locations/", views.location_list, name="location_list"),
    path("locations/upload/", views.location_upload, name="location_upload"),
    path("locations/new/", views.location_new, name="location_new"),
    path("locations/<int:pk>/", views.location_detail, name="location_detail"),
    path("locations/<int:pk>/refresh/", views.location_refresh, name="location_refresh"),
    path("locations/runs/<int:pk>/", views.location_run_detail, name="location_run_detail"),
    path("locations/runs/<int:pk>/progress/", views.location_run_progress, name="location_run_progress"),
    path("keys/", views.key_list, name="key_list"),
    path("keys/issue/", views.key_issue, name="key_issue"),
    path("keys/request/", views.key_request, name="key_request"),
    path("keys/<int:pk>/approve/", views.key_approve, name="key_approve"),
    path("keys/<int:pk>/reject/", views.key_reject, name="key_reject"),
    path("keys/<int:pk>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
]
