from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog import selectors, services
from catalog.api.serializers import (
    ApiDeprecationSerializer,
    ApiSerializer,
    AuditEventSerializer,
    BreakingChangeErrorSerializer,
    DomainSerializer,
    ResourceSerializer,
    ServiceConsumesSerializer,
    ServiceListSerializer,
    ServiceResourcesSerializer,
    ServiceSerializer,
    ServiceTransferSerializer,
    SystemSerializer,
)
from catalog.filtersets import (
    ApiFilterSet,
    AuditEventFilterSet,
    DomainFilterSet,
    ResourceFilterSet,
    ServiceFilterSet,
    SystemFilterSet,
)


@extend_schema_view(update=extend_schema(exclude=True))
class ServiceViewSet(viewsets.ModelViewSet):
    lookup_field = "slug"
    filterset_class = ServiceFilterSet
    # PUT only for `consumes/` (replace the declared list): a service changes field by field (PATCH).
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "tier", "id"]

    def get_queryset(self):
        if self.action == "list":
            return selectors.service_rows()  # dicts, written by ServiceListSerializer
        return selectors.service_list().prefetch_related("consumes")

    def get_serializer_class(self):
        return ServiceListSerializer if self.action == "list" else ServiceSerializer

    def perform_create(self, serializer):
        serializer.instance = services.service_create(actor=self.request.user, **serializer.validated_data)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed(request.method, detail="Change a service with PATCH.")
        return super().update(request, *args, **kwargs)

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

    @extend_schema(request=ServiceResourcesSerializer, responses=ServiceResourcesSerializer)
    @action(detail=True, methods=["put"])
    def resources(self, request, slug=None):
        """Replace the resources (databases, queues, buckets) the service declares it depends on."""
        data = ServiceResourcesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = services.service_resources_set(actor=request.user, service=self.get_object(), **data.validated_data)
        return Response(ServiceResourcesSerializer({"resources": list(service.resources.all())}).data)


_BREAKING_409 = OpenApiResponse(
    BreakingChangeErrorSerializer,
    description="`breaking_change`: the new spec breaks the old one's clients without a new major version "
    "(`changes` lists each); send `confirm_breaking: true` to save it anyway. Other conflicts as elsewhere.",
)


@extend_schema_view(partial_update=extend_schema(responses={200: ApiSerializer, 409: _BREAKING_409}))
class ApiViewSet(viewsets.ModelViewSet):
    serializer_class = ApiSerializer
    lookup_field = "slug"
    filterset_class = ApiFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "id"]

    def get_queryset(self):
        return selectors.api_list()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("confirm_breaking", None)  # nothing to break yet
        serializer.instance = services.api_create(actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("provider", None)  # an API moves with its service, not on its own
        serializer.instance = services.api_update(actor=self.request.user, api=serializer.instance, **data)

    def perform_destroy(self, instance):
        services.api_delete(actor=self.request.user, api=instance)

    @extend_schema(request=ApiDeprecationSerializer, responses=ApiSerializer, methods=["POST"])
    @extend_schema(request=None, responses=ApiSerializer, methods=["DELETE"])
    @action(detail=True, methods=["post", "delete"])
    def deprecation(self, request, slug=None):
        """POST: deprecate the API with a sunset date and optional successor (again: change or extend
        the sunset); its consumers are notified. DELETE: withdraw the deprecation."""
        if request.method == "DELETE":
            api = services.api_undeprecate(actor=request.user, api=self.get_object())
        else:
            data = ApiDeprecationSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            api = services.api_deprecate(actor=request.user, api=self.get_object(), **data.validated_data)
        return Response(ApiSerializer(api).data)


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


class _OwnedViewSet(viewsets.ModelViewSet):
    """Domains, systems and resources: created, changed field by field (PATCH; ``team`` transfers)
    and deleted through catalog.services."""

    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["slug", "name", "id"]
    kind = ""

    def perform_create(self, serializer):
        serializer.instance = services.owned_create(self.kind, actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.owned_update(
            self.kind, actor=self.request.user, obj=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.owned_delete(self.kind, actor=self.request.user, obj=instance)


class DomainViewSet(_OwnedViewSet):
    serializer_class = DomainSerializer
    filterset_class = DomainFilterSet
    kind = "domain"

    def get_queryset(self):
        return selectors.domain_list()


class SystemViewSet(_OwnedViewSet):
    serializer_class = SystemSerializer
    filterset_class = SystemFilterSet
    kind = "system"

    def get_queryset(self):
        return selectors.system_list()


class ResourceViewSet(_OwnedViewSet):
    serializer_class = ResourceSerializer
    filterset_class = ResourceFilterSet
    kind = "resource"

    def get_queryset(self):
        return selectors.resource_list()
