from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog import selectors, services
from catalog.api.serializers import (
    ApiSerializer,
    AuditEventSerializer,
    ServiceConsumesSerializer,
    ServiceListSerializer,
    ServiceSerializer,
    ServiceTransferSerializer,
)
from catalog.filtersets import ApiFilterSet, AuditEventFilterSet, ServiceFilterSet
from core.errors import InvalidInput
from graph import selectors as graph_selectors
from graph.api.serializers import BlastRadiusSerializer, DependencySerializer, DriftSerializer, PathSerializer


class ServiceViewSet(viewsets.ModelViewSet):
    lookup_field = "slug"
    filterset_class = ServiceFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "tier", "id"]

    def get_queryset(self):
        qs = selectors.service_list()
        return qs if self.action == "list" else qs.prefetch_related("consumes")

    def get_serializer_class(self):
        return ServiceListSerializer if self.action == "list" else ServiceSerializer

    def perform_create(self, serializer):
        serializer.instance = services.service_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "team" in data and data["team"] != serializer.instance.team:
            services.service_transfer(actor=self.request.user, service=serializer.instance, team=data.pop("team"))
        data.pop("team", None)
        serializer.instance = services.service_update(actor=self.request.user, service=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.service_delete(actor=self.request.user, service=instance)

    @extend_schema(request=ServiceTransferSerializer, responses=ServiceSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, slug=None):
        data = ServiceTransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = services.service_transfer(actor=request.user, service=self.get_object(), **data.validated_data)
        return Response(ServiceSerializer(selectors.service_get(slug=service.slug)).data)

    @extend_schema(request=ServiceConsumesSerializer, responses=ServiceSerializer)
    @action(detail=True, methods=["put"])
    def consumes(self, request, slug=None):
        data = ServiceConsumesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = services.service_consumes_set(actor=request.user, service=self.get_object(), **data.validated_data)
        return Response(ServiceSerializer(selectors.service_get(slug=service.slug)).data)

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
        rows = graph_selectors.dependencies(
            slug=service.slug,
            direction=request.query_params.get("direction", "down"),
            depth=request.query_params.get("depth", 1),
        )
        return Response(DependencySerializer(rows, many=True).data)

    @extend_schema(responses=BlastRadiusSerializer)
    @action(detail=True, methods=["get"], url_path="blast-radius")
    def blast_radius(self, request, slug=None):
        return Response(graph_selectors.blast_radius(slug=self.get_object().slug))

    @extend_schema(responses=DriftSerializer)
    @action(detail=True, methods=["get"])
    def drift(self, request, slug=None):
        return Response(graph_selectors.drift(slug=self.get_object().slug))

    @extend_schema(parameters=[OpenApiParameter("to", str, required=True)], responses=PathSerializer)
    @action(detail=True, methods=["get"])
    def path(self, request, slug=None):
        target = selectors.service_list().filter(slug=request.query_params.get("to", "")).first()
        if target is None:
            raise InvalidInput("Name an existing service in 'to'.", fields={"to": ["Unknown service."]})
        return Response({"path": graph_selectors.shortest_path(src=self.get_object().slug, dst=target.slug)})


class ApiViewSet(viewsets.ModelViewSet):
    serializer_class = ApiSerializer
    lookup_field = "slug"
    filterset_class = ApiFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "id"]

    def get_queryset(self):
        return selectors.api_list()

    def perform_create(self, serializer):
        serializer.instance = services.api_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("provider", None)  # an API moves with its service, not on its own
        serializer.instance = services.api_update(actor=self.request.user, api=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.api_delete(actor=self.request.user, api=instance)


class IsAuditReader(permissions.BasePermission):
    """Superusers and org admins read the audit trail."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.administered_orgs.exists()))


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AuditEventSerializer
    permission_classes = [permissions.IsAuthenticated, IsAuditReader]
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return selectors.audit_list(user=self.request.user)
