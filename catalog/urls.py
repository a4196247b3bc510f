from django.urls import path

from catalog import views

urlpatterns = [
    path("search/", views.search, name="search"),
    path("services/", views.service_list, name="service_list"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service_edit"),
    path("apis/", views.api_list, name="api_list"),
    path("apis/new/", views.api_create, name="api_create"),
    path("keys/", views.key_list, name="key_list"),
    path("keys/issue/", views.key_issue, name="key_issue"),
    path("keys/request/", views.key_request, name="key_request"),
    path("keys/<int:pk>/approve/", views.key_approve, name="key_approve"),
    path("keys/<int:pk>/reject/", views.key_reject, name="key_reject"),
    path("keys/<int:pk>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
]
