"""``POST /v1/traces`` and ``POST /v1/metrics``: the OTLP/HTTP receiver (OpenTelemetry
protocol). A plain Django view, not DRF: exporters send protobuf or OTLP JSON, expect the
spec's response messages in the same content type, and authenticate with an ingestion key
(``Authorization: Bearer <key>``, or ``X-Api-Key``), never a session. It parses and
aggregates in process and buffers in Redis; graph/services/otlp.py does the work."""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.clientip import client_ip
from graph.services import otlp_receive


def _receive(request, signal: str) -> HttpResponse:
    length = request.META.get("CONTENT_LENGTH") or ""
    answer = otlp_receive(
        signal=signal,
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        api_key=request.META.get("HTTP_X_API_KEY", ""),
        content_type=request.META.get("CONTENT_TYPE", ""),
        content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
        length=int(length) if length.isdigit() else None,
        read=request.read,
        client_ip=client_ip(request.META),
    )
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def otlp_traces(request):
    return _receive(request, "traces")


@csrf_exempt
@require_POST
def otlp_metrics(request):
    return _receive(request, "metrics")
