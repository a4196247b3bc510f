"""REST for catalog as code: validate a posted descriptor file (dry run), import one as a
location (all or nothing), list locations, export the catalog as Backstage YAML. Each view
parses input and calls one selector or service."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.models import Location
from core.api import JSONParser
from core.errors import DomainError, InvalidInput, NotAuthenticated, NotFound
from core.openapi import ErrorSerializer

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


class BodyTooLarge(DomainError):
    code = "body_too_large"
    status = 413


def _limit_check(request) -> None:
    """Refuse a body over CATALOG_MAX_BYTES from its Content-Length, before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.CATALOG_MAX_BYTES:
        raise BodyTooLarge(f"The body is {length} bytes; descriptors are read up to {settings.CATALOG_MAX_BYTES}.")


class YAMLTextParser(parsers.BaseParser):
    """A descriptor file as the raw body (YAML is parsed by catalog.descriptors, with its limits);
    at most CATALOG_MAX_BYTES are read."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CATALOG_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The body is over {limit} bytes, the most a descriptor file may have.")
        return {"content": raw}


class TextPlainParser(YAMLTextParser):
    media_type = "text/plain"


class XYAMLParser(YAMLTextParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLTextParser):
    media_type = "text/yaml"


PARSERS = [YAMLTextParser, XYAMLParser, TextYAMLParser, TextPlainParser, JSONParser]


class DescriptorNameSerializer(serializers.Serializer):
    """The file name a posted descriptor's problems refer to: the JSON body's ``name``, or the
    ``name`` query parameter with a YAML body (no NUL, at most 500 characters, either way)."""

    name = serializers.CharField(
        max_length=500, required=False, default="catalog-info.yaml", help_text="the file name errors refer to"
    )


class DescriptorUploadSerializer(DescriptorNameSerializer):
    content = serializers.CharField(
        trim_whitespace=False, help_text="the descriptor file (YAML, one or more documents)"
    )


class ProblemSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ChangeSerializer(serializers.Serializer):
    kind = serializers.CharField()
    slug = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "orphaned"])
    fields = serializers.ListField(child=serializers.CharField())


class SkippedSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    reason = serializers.CharField()


class PlanSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = ProblemSerializer(many=True)
    summary = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="per kind: how many would be created, updated, unchanged, orphaned",
    )
    changes = ChangeSerializer(many=True)
    skipped = SkippedSerializer(many=True)


class LocationSerializer(serializers.ModelSerializer):
    refreshed_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="the last refresh run's start")
    entities = serializers.IntegerField(source="entity_count", read_only=True)
    orphans = serializers.IntegerField(source="orphan_count", read_only=True)

    class Meta:
        model = Location
        fields = [
            "id",
            "kind",
            "target",
            "branch",
            "path_glob",
            "orphan_policy",
            "orphan_grace_hours",
            "skip_unmappable",
            "revision",
            "created_at",
            "imported_at",
            "refreshed_at",
            "entities",
            "orphans",
        ]


class LocationRemoteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["url", "git"])
    target = serializers.CharField(
        max_length=500,
        help_text="url: the descriptor file's https/http URL; git: the repository (https://…, or a "
        "local path or file:// for superusers or with CATALOG_GIT_ALLOW_LOCAL)",
    )
    branch = serializers.CharField(max_length=200, required=False, default="main", help_text="git only")
    path_glob = serializers.CharField(
        max_length=200, required=False, default="**/catalog-info.yaml", help_text="git only: descriptor files"
    )
    orphan_policy = serializers.ChoiceField(choices=["keep", "remove"], required=False, default="keep")
    orphan_grace_hours = serializers.IntegerField(
        min_value=0, max_value=8760, required=False, help_text="default CATALOG_ORPHAN_GRACE_HOURS"
    )
    skip_unmappable = serializers.BooleanField(
        required=False,
        default=False,
        help_text="skip (with the reason) entities Switchboard cannot represent, and what refers to them, "
        "instead of refusing the refresh; invalid descriptors are still refused",
    )


class LocationRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    location = serializers.IntegerField(source="location_id")
    status = serializers.CharField()
    trigger = serializers.CharField()
    revision = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    summary = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    files = serializers.ListField(child=serializers.DictField())
    errors = ProblemSerializer(many=True)
    skipped = SkippedSerializer(many=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class LocationCreatedSerializer(serializers.Serializer):
    location = LocationSerializer()
    webhook_secret = serializers.CharField(help_text="shown once: sign pushes with it (GitHub) or send it (GitLab)")
    webhook_url = serializers.CharField()
    run = LocationRunSerializer()


class LocationImportSerializer(serializers.Serializer):
    location = LocationSerializer()
    plan = PlanSerializer()


def _upload(request) -> tuple[str, bytes | str]:
    _limit_check(request)
    data = request.data
    if request.content_type.split(";")[0].strip() in YAML_TYPES:
        named = DescriptorNameSerializer(data={"name": request.query_params.get("name") or "catalog-info.yaml"})
        named.is_valid(raise_exception=True)
        if not data.get("content"):  # DRF hands an empty body to no parser
            raise InvalidInput("The body is empty: send the descriptor file.", fields={"content": ["Empty body."]})
        return named.validated_data["name"], data["content"]
    upload = DescriptorUploadSerializer(data=data)
    upload.is_valid(raise_exception=True)
    return upload.validated_data["name"], upload.validated_data["content"]


_BODY = {"application/yaml": OpenApiTypes.STR, "application/json": DescriptorUploadSerializer}
_TOO_LARGE = OpenApiResponse(ErrorSerializer, description="The body is over CATALOG_MAX_BYTES (`body_too_large`).")
_NAME = OpenApiParameter("name", str, description="with a YAML body: the file name errors refer to")


class CatalogValidateView(APIView):
    """Dry run for CI: what importing the posted descriptor file would change, or every error."""

    parser_classes = PARSERS
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=_BODY,
        parameters=[_NAME],
        responses={200: PlanSerializer, 413: _TOO_LARGE},
    )
    def post(self, request):
        name, content = _upload(request)
        plan = selectors.catalog_plan(files=[(name, content, None)], location=name)
        return Response(plan.as_dict())


class LocationViewSet(viewsets.GenericViewSet):
    """Uploaded descriptor files: importing one applies it all or nothing."""

    serializer_class = LocationSerializer
    parser_classes = PARSERS

    def get_queryset(self):
        return selectors.location_list()

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(LocationSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(LocationSerializer(self.get_object()).data)

    @extend_schema(
        request=_BODY,
        parameters=[_NAME],
        responses={
            201: LocationImportSerializer,
            413: _TOO_LARGE,
        },
    )
    def create(self, request):
        name, content = _upload(request)
        location, plan = services.location_import(actor=request.user, target=name, content=content)
        location = selectors.location_list().get(pk=location.pk)
        body = {"location": LocationSerializer(location).data, "plan": plan.as_dict()}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=LocationRemoteSerializer,
        responses={201: LocationCreatedSerializer},
        description="A URL or git location: refreshed at once (a queued run), then on schedule and by its webhook. "
        "The webhook secret is in this answer only.",
    )
    @action(detail=False, methods=["post"], url_path="remote", parser_classes=[JSONParser])
    def remote(self, request):
        data = LocationRemoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        location, secret, run = services.location_create(actor=request.user, **data.validated_data)
        location = selectors.location_list().get(pk=location.pk)
        body = {
            "location": LocationSerializer(location).data,
            "webhook_secret": secret,
            "webhook_url": request.build_absolute_uri(f"/api/v1/catalog/locations/{location.pk}/refresh"),
            "run": LocationRunSerializer(run).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: LocationRunSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        location = self.get_object()
        page = self.paginate_queryset(selectors.location_run_list(location=location))
        return self.get_paginated_response(LocationRunSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("X-Hub-Signature-256", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Gitlab-Token", str, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            202: LocationRunSerializer,
            401: OpenApiResponse(
                ErrorSerializer,
                description="No signature, token or sign-in (`not_authenticated`), or a signature or token that "
                "does not match (`webhook_signature`).",
            ),
            403: OpenApiResponse(ErrorSerializer, description="Signed in, but not the creator nor a superuser."),
        },
        auth=[],
        description="Push webhook: queue a refresh. Authenticated by the location's secret, GitHub style "
        "(`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>`) or GitLab style (`X-Gitlab-Token: "
        "<secret>`); or by a signed-in (token) creator of the location or a superuser.",
    )
    @action(
        detail=True,
        methods=["post"],
        authentication_classes=[],
        permission_classes=[permissions.AllowAny],
        parser_classes=[],
    )
    def refresh(self, request, pk=None):
        from rest_framework.settings import api_settings

        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound("No such location.") from None

        location = selectors.location_list().filter(pk=pk).first()
        signature = request.headers.get("X-Hub-Signature-256", "")
        token = request.headers.get("X-Gitlab-Token", "")
        if signature or token:
            if location is None or not services.location_webhook_check(
                location, body=request.body, signature=signature, gitlab_token=token
            ):
                raise NotAuthenticated("The webhook signature or token does not match.", code="webhook_signature")
            run = services.location_refresh(actor=None, location=location, trigger="webhook")
        else:
            user = None
            for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
                found = auth().authenticate(request)
                if found:
                    user = found[0]
                    break
            if user is None:
                raise NotAuthenticated("Sign the body (X-Hub-Signature-256), send X-Gitlab-Token, or sign in.")
            if location is None:
                raise NotFound("No such location.")
            run = services.location_refresh(actor=user, location=location, trigger="api")
        return Response(LocationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class CatalogExportView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the descriptor format here, not one of DRF's renderers (URL_FORMAT_OVERRIDE).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["backstage"], description="only backstage (YAML) for now"),
            OpenApiParameter("org", str, description="one org's slug; the whole catalog without it"),
        ],
        responses={(200, "application/yaml"): OpenApiTypes.STR},
    )
    def get(self, request):
        fmt = request.query_params.get("format", "backstage")
        if fmt != "backstage":
            raise InvalidInput("Only format=backstage is supported.", fields={"format": ["Use 'backstage'."]})
        text = selectors.catalog_export(org=request.query_params.get("org") or None, user=request.user)
        return HttpResponse(text, content_type="application/yaml; charset=utf-8")
