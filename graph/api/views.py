from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from graph import selectors, services
from graph.api.serializers import (
    CouplingListSerializer,
    CrawlRunDetailSerializer,
    CrawlRunSerializer,
    CyclesSerializer,
    GraphSerializer,
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
