from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from rest_framework.routers import DefaultRouter

from catalog import urls as catalog_urls
from catalog.api.descriptors import CatalogExportView, CatalogValidateView, LocationViewSet
from catalog.api.gateway import gateway_verify
from catalog.api.keys import ApiKeyViewSet
from catalog.api.views import (
    ApiViewSet,
    AuditEventViewSet,
    DomainViewSet,
    ResourceViewSet,
    ServiceViewSet,
    SystemViewSet,
)
from changes.api.gate import DeployVerdictView, ServiceChangesView
from changes.api.slo import ApiSloView
from changes.api.views import DeployKeyViewSet, DeployViewSet, EventListView, ServiceHistoryView, WebhookViewSet
from config.openapi import SchemaView
from config.security import ApiDocsView
from core.graphql import SwitchboardGraphQLView
from graph.api.ingest_keys import IngestKeyViewSet
from graph.api.otlp import otlp_metrics, otlp_traces
from graph.api.views import (
    CouplingView,
    CrawlViewSet,
    CyclesView,
    GraphView,
    MetricsBackendViewSet,
    ServiceGraphViewSet,
    SystemGraphView,
    UnknownEndpointsView,
)
from portal import urls as portal_urls
from scorecards.api.views import ScorecardViewSet, ServiceScorecardsView
from teams import urls as teams_urls
from teams.api.views import MemberViewSet, OrgViewSet, TeamViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("orgs", OrgViewSet, basename="org")
router.register("teams", TeamViewSet, basename="team")
router.register(r"teams/(?P<team_slug>[a-z0-9-]+)/members", MemberViewSet, basename="member")
router.register("services", ServiceViewSet, basename="service")
router.register("apis", ApiViewSet, basename="api")
router.register("systems", SystemViewSet, basename="system")
router.register("domains", DomainViewSet, basename="domain")
router.register("resources", ResourceViewSet, basename="resource")
router.register("catalog/locations", LocationViewSet, basename="location")
router.register("keys", ApiKeyViewSet, basename="key")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("crawls", CrawlViewSet, basename="crawl")
router.register("ingest-keys", IngestKeyViewSet, basename="ingest-key")
router.register("deploys", DeployViewSet, basename="deploy")
router.register("deploy-keys", DeployKeyViewSet, basename="deploy-key")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("metrics-backends", MetricsBackendViewSet, basename="metrics-backend")
router.register("scorecards", ScorecardViewSet, basename="scorecard")
# graph's views of a service (dependencies, blast radius, drift, path) under /services/{slug}/, with the
# URL names they always had (api:service-dependencies, ...); a second router since a basename is registered once.
service_graph_router = DefaultRouter(trailing_slash="/?")
service_graph_router.include_root_view = False
service_graph_router.register("services", ServiceGraphViewSet, basename="service")

api_v1 = [
    path("", include(router.urls)),
    path("", include(service_graph_router.urls)),
    path("catalog/validate", CatalogValidateView.as_view(), name="catalog-validate"),
    # the push webhook, without a trailing slash (GitHub and GitLab do not follow a redirect of a POST)
    path(
        "catalog/locations/<str:pk>/refresh",
        LocationViewSet.as_view({"post": "refresh"}, **LocationViewSet.refresh.kwargs),
        name="location-webhook",
    ),
    path("catalog/export", CatalogExportView.as_view(), name="catalog-export"),
    path("graph", GraphView.as_view(), name="graph"),
    path("graph/systems", SystemGraphView.as_view(), name="graph-systems"),
    path("graph/cycles", CyclesView.as_view(), name="graph-cycles"),
    path("graph/coupling", CouplingView.as_view(), name="graph-coupling"),
    path("graph/endpoints", UnknownEndpointsView.as_view(), name="graph-endpoints"),
    path("events", EventListView.as_view(), name="events"),
    path("services/<slug:slug>/history", ServiceHistoryView.as_view(), name="service-history"),
    path("apis/<slug:slug>/slo", ApiSloView.as_view(), name="api-slo"),
    path("services/<slug:slug>/changes", ServiceChangesView.as_view(), name="service-changes"),
    path("deploys/<str:pk>/verdict", DeployVerdictView.as_view(), name="deploy-verdict"),
    path("services/<slug:slug>/scorecards", ServiceScorecardsView.as_view(), name="service-scorecards"),
]


def healthz(request):
    """Liveness: the process answers. Touches nothing (see `manage.py doctor` for dependencies)."""
    return HttpResponse("ok", content_type="text/plain")


# Swagger UI is served without inline script (the split view serves its init script from
# the same URL); its page keeps one small inline <style> block, so only styles are relaxed.
api_docs = csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(ApiDocsView.as_view(url_name="schema"))

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Browsers ask for /favicon.ico on pages without an icon link (GraphiQL, Swagger UI).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("gateway/verify", gateway_verify, name="gateway-verify"),
    path("gateway/verify/<path:path>", gateway_verify),
    path("v1/traces", otlp_traces, name="otlp-traces"),
    path("v1/metrics", otlp_metrics, name="otlp-metrics"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("graphql", SwitchboardGraphQLView.as_view(graphiql=True), name="graphql"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # Each app's own pages, then the portal's pages that combine apps, under the app's URL names.
    path("", include((catalog_urls.urlpatterns + portal_urls.catalog_pages, "catalog"))),
    path("", include((teams_urls.urlpatterns + portal_urls.teams_pages, "teams"))),
    path("", include("graph.urls")),
    path("", include("changes.urls")),
    path("", include("scorecards.urls")),
]
# Unmatched paths under /api/ answer in the API's JSON error shape (the OpenAPI document says so).
handler404 = "core.api.not_found"
