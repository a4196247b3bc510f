from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors as catalog_selectors
from core.errors import DomainError, InvalidInput
from graph import selectors, services
from graph.api.serializers import (
    BlastRadiusSerializer,
    CouplingListSerializer,
    CrawlRunDetailSerializer,
    CrawlRunSerializer,
    CyclesSerializer,
    DependencySerializer,
    DriftSerializer,
    GraphSerializer,
    MetricsBackendSerializer,
    PathSerializer,
    SystemGraphSerializer,
    UnknownEndpointListSerializer,
)


class CrawlViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Discovery runs. ``POST`` starts one now (409 ``crawl_running`` if one is going)."""

    def get_queryset(self):
        qs = selectors.crawl_run_list()
        return qs.prefetch_related("results") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        return CrawlRunDetailSerializer if self.action == "retrieve" else CrawlRunSerializer

    @extend_schema(request=None, responses={202: CrawlRunSerializer})
    def create(self, request):
        run = services.crawl_start(trigger="api", actor=request.user)
        return Response(CrawlRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class GraphView(APIView):
    @extend_schema(parameters=[OpenApiParameter("org", str), OpenApiParameter("team", str)], responses=GraphSerializer)
    def get(self, request):
        graph = selectors.graph(
            org=request.query_params.get("org") or None, team=request.query_params.get("team") or None
        )
        return Response(graph)  # already the documented shape (graph/results.py): no per-field serializer pass


class SystemGraphView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("org", str),
            OpenApiParameter("team", str),
            OpenApiParameter(
                "expand", str, many=True, description="system slugs shown as their services (repeat; at most 100)"
            ),
        ],
        responses=SystemGraphSerializer,
    )
    def get(self, request):
        graph = selectors.system_graph(
            org=request.query_params.get("org") or None,
            team=request.query_params.get("team") or None,
            expand=request.query_params.getlist("expand"),
        )
        return Response(graph)  # already the documented shape (graph/results.py)


class CyclesView(APIView):
    @extend_schema(parameters=[OpenApiParameter("team", str)], responses=CyclesSerializer)
    def get(self, request):
        cycles = selectors.cycles(team=request.query_params.get("team") or None)
        return Response({"cycles": cycles})


class CouplingView(APIView):
    @extend_schema(parameters=[OpenApiParameter("team", str)], responses=CouplingListSerializer)
    def get(self, request):
        coupling = selectors.team_coupling(team=request.query_params.get("team") or None)
        return Response({"coupling": coupling})


class UnknownEndpointsView(APIView):
    @extend_schema(responses=UnknownEndpointListSerializer)
    def get(self, request):
        return Response({"endpoints": selectors.unknown_endpoints()})


class ServiceGraphViewSet(viewsets.GenericViewSet):
    """A service's place in the graph, under the service's URL (/services/{slug}/dependencies/, ...).
    Routed next to catalog's ServiceViewSet with the same URL names (config/urls.py)."""

    lookup_field = "slug"
    filter_backends = []

    def get_queryset(self):
        return catalog_selectors.service_list()

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=["down", "up"], description="down: what it calls; up: its callers"),
            OpenApiParameter("depth", int, description="1 to 6"),
        ],
        responses=DependencySerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole list: documented unpaginated
    def dependencies(self, request, slug=None):
        service = self.get_object()
        rows = selectors.dependencies(
            slug=service.slug,
            direction=request.query_params.get("direction", "down"),
            depth=request.query_params.get("depth", 1),
        )
        return Response(DependencySerializer(rows, many=True).data)

    @extend_schema(responses=BlastRadiusSerializer)
    @action(detail=True, methods=["get"], url_path="blast-radius")
    def blast_radius(self, request, slug=None):
        return Response(selectors.blast_radius(slug=self.get_object().slug))

    @extend_schema(responses=DriftSerializer)
    @action(detail=True, methods=["get"])
    def drift(self, request, slug=None):
        return Response(selectors.drift(slug=self.get_object().slug))

    @extend_schema(parameters=[OpenApiParameter("to", str, required=True)], responses=PathSerializer)
    @action(detail=True, methods=["get"])
    def path(self, request, slug=None):
        target = catalog_selectors.service_list().filter(slug=request.query_params.get("to", "")).first()
        if target is None:
            raise InvalidInput("Name an existing service in 'to'.", fields={"to": ["Unknown service."]})
        return Response({"path": selectors.shortest_path(src=self.get_object().slug, dst=target.slug)})


class MetricsBackendViewSet(viewsets.ModelViewSet):
    """Prometheus-compatible query endpoints the central discovery source reads (superusers only).
    The credential (``secret``) is write-only and never returned."""

    serializer_class = MetricsBackendSerializer
    lookup_field = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["name", "id"]

    def check_permissions(self, request):
        super().check_permissions(request)
        try:
            selectors.metrics_backend_list(actor=request.user)  # refuses anyone but a superuser
        except DomainError as exc:  # as DRF's own: the browsable renderer calls this too, and answers it
            raise exceptions.PermissionDenied(exc.detail) from exc

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MetricsBackendSerializer.Meta.model.objects.none()
        return selectors.metrics_backend_list(actor=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.metrics_backend_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.metrics_backend_update(
            actor=self.request.user, backend=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.metrics_backend_delete(actor=self.request.user, backend=instance)
