"""``GET /gateway/verify``: for nginx ``auth_request``, Envoy ``ext_authz`` (HTTP) and Kong.

A plain Django view, not DRF: it is on every request of every gateway, so it does only
what the verdict needs. The key is the credential; no session or token applies."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from catalog.gateway import key_verify


def _client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and remote in settings.GATEWAY_TRUSTED_PROXIES:
        return forwarded.split(",")[0].strip()[:64]
    return remote


def _raw_key(request) -> str:
    raw = request.META.get("HTTP_X_API_KEY", "")
    if not raw:
        auth = request.META.get("HTTP_AUTHORIZATION", "")
        if auth[:8].lower() == "api-key ":
            raw = auth[8:]
    return raw.strip()


@csrf_exempt  # no cookie is read here: the key in a header is the only credential
@require_http_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def gateway_verify(request, path: str = ""):
    meta = request.META
    verdict = key_verify(
        raw_key=_raw_key(request),
        target_api=meta.get("HTTP_X_TARGET_API", "")[:64],
        client_ip=_client_ip(request),
        # nginx passes the original request in headers; Envoy appends its path to ours.
        method=meta.get("HTTP_X_ORIGINAL_METHOD") or meta.get("HTTP_X_FORWARDED_METHOD") or request.method,
        path=meta.get("HTTP_X_ORIGINAL_URI") or meta.get("HTTP_X_FORWARDED_URI") or ("/" + path if path else "/"),
    )
    response = JsonResponse(
        {"code": verdict.code, "detail": verdict.detail}
        if verdict.status != 200
        else {"code": "ok", "consumer_service": verdict.consumer, "consumer_team": verdict.team},
        status=verdict.status,
    )
    if verdict.status == 200:
        response["X-Consumer-Service"] = verdict.consumer
        response["X-Consumer-Team"] = verdict.team
        response["X-Key-Id"] = verdict.key_id
    else:
        response["X-Auth-Error"] = verdict.code
    response["Cache-Control"] = "no-store"
    return response
