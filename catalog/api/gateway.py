"""``GET /gateway/verify``: for nginx ``auth_request``, Envoy ``ext_authz`` (HTTP) and Kong.

A plain Django view, not DRF: it is on every request of every gateway, so it does only
what the verdict needs. The key is the credential; no session or token applies.

Where the original request's method and path come from is fixed by ``GATEWAY_MODE``:
``envoy`` (default): the method of this request and the path Envoy appended to
``/gateway/verify``, read raw (gunicorn's ``RAW_URI``) so that escapes such as ``%2F`` are
seen before anything decodes them. ``nginx``: ``X-Original-Method`` and ``X-Original-URI``,
which the nginx snippet sets from ``$request_method`` and ``$request_uri``. ``X-Forwarded-*``
headers are never read: a client could send them."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from catalog.gateway import key_verify
from core import keys
from core.clientip import client_ip


def _raw_key(request) -> str:
    meta = request.META
    return keys.presented(meta.get("HTTP_AUTHORIZATION", ""), meta.get("HTTP_X_API_KEY", ""), scheme="api-key")


def _appended_path(request, path: str) -> str:
    """The path (and query) appended to /gateway/verify, undecoded when the server says
    what it received (gunicorn: RAW_URI, uWSGI: REQUEST_URI)."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        prefix = reverse("gateway-verify")
        if not raw.startswith(prefix):
            return raw  # an absolute-form or escaped request line: checked as it came
        rest = raw[len(prefix) :]
        return rest if rest.startswith("/") else "/" + rest
    query = request.META.get("QUERY_STRING", "")
    return "/" + path + ("?" + query if query else "")


def _original_request(request, path: str) -> tuple[str, str]:
    meta = request.META
    if settings.GATEWAY_MODE == "nginx" and "HTTP_X_ORIGINAL_URI" in meta:
        return meta.get("HTTP_X_ORIGINAL_METHOD") or request.method, meta["HTTP_X_ORIGINAL_URI"]
    return request.method, _appended_path(request, path)


@csrf_exempt  # no cookie is read here: the key in a header is the only credential
@require_http_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def gateway_verify(request, path: str = ""):
    method, original_path = _original_request(request, path)
    verdict = key_verify(
        raw_key=_raw_key(request),
        target_api=request.META.get("HTTP_X_TARGET_API", "")[:64],
        client_ip=client_ip(request.META),
        method=method,
        path=original_path,
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
    for name, value in verdict.headers:
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response
