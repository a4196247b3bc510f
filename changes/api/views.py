"""``/api/v1/deploys``, ``/api/v1/deploy-keys``, ``/api/v1/events``, ``/api/v1/webhooks``."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import authentication, exceptions, mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from changes import selectors, services
from changes.api.serializers import (
    CreatedWebhookSerializer,
    DeliverySerializer,
    DeployKeyIssueSerializer,
    DeployKeySerializer,
    DeployRecordSerializer,
    DeploySerializer,
    EventPageSerializer,
    EventSerializer,
    IssuedDeployKeySerializer,
    ServiceHistorySerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
)
from changes.models import DeployKey
from core.openapi import ErrorSerializer


class DeployKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer swb_<id>_<secret>``: a per-service deploy key (only on deploys)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send `Authorization: Bearer <deploy key>`.")
        dkey = services.deploy_key_authenticate(header[1].decode("latin-1"))
        if dkey is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or malformed deploy key.")
        return AnonymousUser(), dkey

    def authenticate_header(self, request):
        return self.keyword


class DeployKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = DeployKeyAuthentication
    name = "deployKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A per-service deploy key (`swb_…`)."}


class SignedInOrDeployKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) or isinstance(request.auth, DeployKey)


class DeployViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeploySerializer
    authentication_classes = [
        DeployKeyAuthentication,
        authentication.SessionAuthentication,
        authentication.TokenAuthentication,
    ]
    filterset_class = None
    ordering_fields = ["id"]

    def get_permissions(self):
        if self.action == "create":
            return [SignedInOrDeployKey()]
        return [permissions.IsAuthenticated()]

    def get_queryset(self):
        return selectors.deploy_list(service_slug=self.request.query_params.get("service"))

    @extend_schema(parameters=[OpenApiParameter("service", str, description="A service's slug.")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=DeployRecordSerializer,
        responses={201: DeploySerializer, 200: DeploySerializer},
        description="Record a deploy (201), or find the one this `deploy_id` recorded (200). Authenticate with an "
        "API token of a member of the service's team, or the service's deploy key (`Authorization: Bearer swb_…`). "
        "A retry that disagrees with the recorded version, environment or commit is 409 `deploy_conflict`; a "
        "`started` deploy may move on to `succeeded`, `failed` or `rolled_back`.",
    )
    def create(self, request):
        data = DeployRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dkey = request.auth if isinstance(request.auth, DeployKey) else None
        fields = dict(data.validated_data)
        client_id = fields.pop("deploy_id")
        deploy, created = services.deploy_record(actor=request.user, deploy_key=dkey, client_id=client_id, **fields)
        return Response(DeploySerializer(deploy).data, status=201 if created else 200)


class DeployKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeployKeySerializer

    def get_queryset(self):
        return selectors.deploy_key_list(user=self.request.user)

    @extend_schema(request=DeployKeyIssueSerializer, responses={201: IssuedDeployKeySerializer})
    def create(self, request):
        data = DeployKeyIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dkey, secret = services.deploy_key_issue(actor=request.user, **data.validated_data)
        return Response({**DeployKeySerializer(dkey).data, "secret": secret}, status=201)

    @extend_schema(request=None, responses=DeployKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        dkey = services.deploy_key_revoke(actor=request.user, deploy_key=self.get_object())
        return Response(DeployKeySerializer(dkey).data)


class EventListView(APIView):
    """The event log for consumers that poll (long poll): events of the orgs you belong to
    (superusers: all), oldest first, after a cursor."""

    @extend_schema(
        operation_id="events_list",
        parameters=[
            OpenApiParameter("after", str, description="`next_cursor` of the previous answer; empty: from the start."),
            OpenApiParameter("types", str, description="Comma-separated event types; empty: all."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Most events in one answer (1-500, default 100)."),
            OpenApiParameter(
                "wait", OpenApiTypes.INT, description="Seconds to wait for a first event when none is there (0-25)."
            ),
        ],
        responses={
            200: EventPageSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description="`too_many_waits`: you (EVENTS_MAX_WAITERS_PER_USER) or everyone (EVENTS_MAX_WAITERS) "
                "already hold the long polls allowed at once; `Retry-After` says when to try again.",
            ),
        },
    )
    def get(self, request):
        params = _EventQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        after = selectors.parse_cursor(request.query_params.get("after"))
        types = selectors.parse_types(request.query_params.get("types"))
        events = selectors.events_after(
            user=request.user,
            after=after,
            types=types,
            limit=params.validated_data["limit"],
            wait=params.validated_data["wait"],
        )
        next_cursor = str(events[-1].pk) if events else str(after)
        return Response({"results": EventSerializer(events, many=True).data, "next_cursor": next_cursor})


class _EventQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)
    wait = serializers.IntegerField(min_value=0, max_value=25, default=0)


class WebhookViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = WebhookSerializer

    def get_queryset(self):
        return selectors.webhook_list(user=self.request.user)

    def get_object(self):
        try:
            pk = int(self.kwargs["pk"])
        except ValueError:
            raise exceptions.NotFound() from None
        return selectors.webhook_get(user=self.request.user, pk=pk)

    @extend_schema(request=WebhookCreateSerializer, responses={201: CreatedWebhookSerializer})
    def create(self, request):
        data = WebhookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(actor=request.user, **data.validated_data)
        return Response({**WebhookSerializer(webhook).data, "secret": secret}, status=201)

    def perform_destroy(self, instance):
        services.webhook_delete(actor=self.request.user, webhook=instance)

    @extend_schema(request=None, responses=WebhookSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        webhook = services.webhook_enable(actor=request.user, webhook=self.get_object())
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(request=None, responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(selectors.delivery_list(webhook=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        webhook = self.get_object()
        item = selectors.delivery_get(user=request.user, pk=int(delivery_id))
        if item.webhook_id != webhook.pk:
            raise exceptions.NotFound()
        item = services.delivery_redeliver(actor=request.user, delivery_obj=item)
        return Response(DeliverySerializer(item).data)


class ServiceHistoryView(APIView):
    """What discovery observed on a service's inbound and outbound edges over a window (calls
    per minute, error rate, p95 latency), with the service's deploys as markers."""

    @extend_schema(
        operation_id="services_history",
        parameters=[
            OpenApiParameter(
                "window",
                str,
                enum=["1h", "24h", "7d"],
                default="24h",
                description="1h or 24h: every observed window; 7d: hourly.",
            )
        ],
        responses=ServiceHistorySerializer,
    )
    def get(self, request, slug):
        return Response(selectors.service_history(slug=slug, window=request.query_params.get("window", "24h")))
