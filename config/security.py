"""Web-facing hardening that is not a feature of one app: sign-in throttling hooks for
django-axes (client address, the 429 page), `Cache-Control: no-store` on dynamic responses, and
the Content-Security-Policy everywhere but the gateway check."""

from __future__ import annotations

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions

from core.clientip import client_ip

LOCKED_OUT_CODE = "login_throttled"
GATEWAY_PREFIX = ("/gateway/", "/v1/")  # answers to proxies and telemetry exporters, never to browsers


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, minus `/gateway/verify`: its answers go to a proxy, never to a
    browser, and building the policy (twice, enforced and report-only) was a third of that hot
    path's time."""

    def process_request(self, request):
        if not request.path_info.startswith(GATEWAY_PREFIX):
            super().process_request(request)

    def process_response(self, request, response):
        if request.path_info.startswith(GATEWAY_PREFIX):
            return response
        return super().process_response(request, response)


def login_client_ip(request) -> str:
    """The address sign-in failures are counted against (AXES_CLIENT_IP_CALLABLE): the peer,
    or the right-most untrusted X-Forwarded-For hop when the peer is in TRUSTED_PROXIES."""
    return client_ip(request.META)


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
    return (
        "Too many failed sign-in attempts for this account or from this address. "
        f"Sign-in is blocked for {minutes} minute{'s' if minutes != 1 else ''} after the last attempt."
    )


def login_locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the sign-in page again, with the reason, as 429. JSON clients get
    the project's error shape."""
    message = lockout_message()
    if "application/json" in request.headers.get("Accept", "") or request.headers.get("X-Requested-With"):
        response = JsonResponse({"code": LOCKED_OUT_CODE, "detail": message}, status=429)
    else:
        form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
        response = render(
            request,
            "registration/login.html",
            {"form": form, "locked_out": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
    return response


class NoStoreMiddleware:
    """Dynamic responses may carry secrets (new API keys, tokens, audit snapshots) or a signed-in
    user's data: no browser or proxy may store them unless the view chose a cache policy itself.
    Static files are answered by WhiteNoise before this middleware and keep their caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        chose = response.has_header("Cache-Control")
        if not chose or ("no-store" not in response["Cache-Control"] and request.path.startswith(NO_STORE_ALWAYS)):
            patch_cache_control(response, no_store=True)
        return response


# Paths whose responses carry secrets whatever the view says.
NO_STORE_ALWAYS = ("/api/v1/keys", "/graphql", "/keys", "/profile", "/accounts/")


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI without inline script. Like the schema it needs sign-in (SERVE_PERMISSIONS,
    unless API_DOCS_PUBLIC); an anonymous browser is sent to the sign-in page instead of a 401."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
