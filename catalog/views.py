from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.filtersets import ServiceFilterSet
from catalog.forms import (
    ApiForm,
    KeyIssueForm,
    KeyRequestForm,
    KeyRevokeForm,
    KeyRotateForm,
    ServiceEditForm,
    ServiceForm,
)
from catalog.models import ApiKey
from core.errors import DomainError
from core.forms import form_page, form_submit
from core.htmx import render_page
from graph import selectors as graph_selectors
from teams import permissions
from teams.selectors import teams_near_limits


@login_required
def dashboard(request):
    from catalog.models import Api, Service
    from teams.models import Team

    counts, graph_error = graph_selectors.graph_read(graph_selectors.graph_counts, {})
    newest, _ = graph_selectors.graph_read(lambda: graph_selectors.newest_edges(limit=10), [])
    endpoints, _ = graph_selectors.graph_read(lambda: graph_selectors.unknown_endpoints(limit=10), [])
    last_run = graph_selectors.crawl_run_list().first()
    return render(
        request,
        "dashboard.html",
        {
            "counts": {
                "teams": Team.objects.count(),
                "services": Service.objects.count(),
                "apis": Api.objects.count(),
                **counts,
            },
            "last_run": last_run,
            "last_progress": graph_selectors.crawl_progress(last_run) if last_run else 0,
            "near_limits": teams_near_limits(),
            "newest": newest,
            "endpoints": endpoints,
            "graph_error": graph_error,
        },
    )


@login_required
def search(request):
    return render(
        request,
        "htmx/search_results.html",
        {"hits": selectors.catalog_search(q=request.GET.get("q", "")), "q": request.GET.get("q", "")},
    )


@login_required
def service_list(request):
    filterset = ServiceFilterSet(request.GET or None, queryset=selectors.service_list().order_by("slug"))
    services_page = filterset.qs[:500]
    return render_page(
        request,
        "catalog/service_list.html",
        "catalog/htmx/service_rows.html",
        {"filterset": filterset, "services": services_page},
    )


@login_required
def service_detail(request, slug):
    """The page renders from the catalog alone; graph panels (dependencies, blast radius,
    drift) load into it with htmx, so a slow or down graph never holds the page up."""
    from graph.models import CrawlResult

    service = get_object_or_404(selectors.service_list().prefetch_related("apis", "consumes"), slug=slug)
    history = CrawlResult.objects.filter(service=service).select_related("run").order_by("-run_id")[:10]
    return render(
        request,
        "catalog/service_detail.html",
        {
            "service": service,
            "history": history,
            "health": history[0] if history else None,
            "can_edit": permissions.can_manage_assets(request.user, service.team),
        },
    )


@login_required
def service_impact(request, slug):
    """Blast radius and declared-versus-observed drift (htmx partial)."""
    service = get_object_or_404(selectors.service_list(), slug=slug)
    radius, graph_error = graph_selectors.graph_read(lambda: graph_selectors.blast_radius(slug=slug), None)
    drift, _ = graph_selectors.graph_read(lambda: graph_selectors.drift(slug=slug), None)
    return render(
        request,
        "catalog/htmx/impact.html",
        {"service": service, "radius": radius, "drift": drift, "graph_error": graph_error},
    )


@login_required
def service_dependencies(request, slug):
    """The upstream/downstream lists at a chosen depth (htmx partial)."""
    service = get_object_or_404(selectors.service_list(), slug=slug)
    depth = request.GET.get("depth", "1")
    both, error = graph_selectors.graph_read(
        lambda: graph_selectors.callees_and_callers(slug=slug, depth=depth), {"down": [], "up": []}
    )
    return render(
        request, "catalog/htmx/dependencies.html", {"service": service, "depth": depth, "error": error, **both}
    )


@login_required
def service_create(request):
    form = ServiceForm(
        request.POST or None,
        initial={k: request.GET[k] for k in ("base_url", "name", "slug") if k in request.GET}
        | ({"aliases": [request.GET["alias"]]} if "alias" in request.GET else {}),
    )
    service = form_submit(request, form, lambda data: services.service_create(actor=request.user, **data))
    if service:
        messages.success(request, f"Service {service.slug} registered.")
        return redirect(service.get_absolute_url())
    return form_page(request, form, "Register a service")


@login_required
def service_edit(request, slug):
    service = get_object_or_404(selectors.service_list(), slug=slug)
    form = ServiceEditForm(request.POST or None, instance=selectors.service_get(slug=slug))
    if form_submit(request, form, lambda data: services.service_update(actor=request.user, service=service, **data)):
        return redirect(service.get_absolute_url())
    return form_page(request, form, f"Edit {service.slug}")


@login_required
def api_list(request):
    return render(request, "catalog/api_list.html", {"apis": selectors.api_list().order_by("slug")[:500]})


@login_required
def api_detail(request, slug):
    api = get_object_or_404(selectors.api_list().prefetch_related("declared_consumers"), slug=slug)
    observed, graph_error = graph_selectors.graph_read(
        lambda: graph_selectors.dependencies(slug=api.provider.slug, direction="up", depth=1), []
    )
    can_manage = permissions.can_manage_assets(request.user, api.provider.team)
    keys = selectors.key_list_for(user=request.user).filter(api=api)
    return render(
        request,
        "catalog/api_detail.html",
        {
            "api": api,
            "observed": observed,
            "graph_error": graph_error,
            "keys": keys,
            "can_manage": can_manage,
        },
    )


@login_required
def api_create(request):
    form = ApiForm(request.POST or None, initial={"provider": request.GET.get("provider")})
    api = form_submit(request, form, lambda data: services.api_create(actor=request.user, **data))
    if api:
        return redirect(api.get_absolute_url())
    return form_page(request, form, "New API")


@login_required
def key_list(request):
    keys = selectors.key_list_for(user=request.user).order_by("-created_at")[:500]
    return render(
        request,
        "catalog/key_list.html",
        {
            "keys": keys,
            "issue_form": KeyIssueForm(),
            "request_form": KeyRequestForm(),
        },
    )


def _key_form_view(request, form_class, action, title):
    form = form_class(request.POST or None, initial=request.GET.dict())
    outcome = form_submit(request, form, action)
    if isinstance(outcome, tuple):  # (key, secret): show the secret once, never again
        key, secret = outcome
        return render(request, "catalog/key_secret.html", {"key": key, "secret": secret})
    if outcome:
        messages.success(request, "Key request sent to the provider team.")
        return redirect("catalog:key_list")
    return form_page(request, form, title)


@login_required
def key_issue(request):
    return _key_form_view(
        request, KeyIssueForm, lambda d: services.key_issue(actor=request.user, **d), "Issue an API key"
    )


@login_required
def key_request(request):
    return _key_form_view(
        request, KeyRequestForm, lambda d: services.key_request(actor=request.user, **d), "Request an API key"
    )


def _key(request, pk) -> ApiKey:
    return get_object_or_404(selectors.key_list_for(user=request.user), pk=pk)


@login_required
@require_POST
def key_approve(request, pk):
    try:
        key, secret = services.key_approve(actor=request.user, key=_key(request, pk))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("catalog:key_list")
    return render(request, "catalog/key_secret.html", {"key": key, "secret": secret})


@login_required
@require_POST
def key_reject(request, pk):
    try:
        services.key_reject(actor=request.user, key=_key(request, pk), reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("catalog:key_list")


@login_required
def key_rotate(request, pk):
    key = _key(request, pk)
    form = KeyRotateForm(request.POST or None)
    rotated = form_submit(request, form, lambda data: services.key_rotate(actor=request.user, key=key, **data))
    if rotated:
        new, secret = rotated
        key.refresh_from_db()
        return render(request, "catalog/key_secret.html", {"key": new, "secret": secret, "rotated_from": key})
    return form_page(request, form, f"Rotate key {key.key_id}")


@login_required
def key_revoke(request, pk):
    """GET shows who would break; POST revokes."""
    key = _key(request, pk)
    form = KeyRevokeForm(request.POST or None)
    if form_submit(request, form, lambda data: services.key_revoke(actor=request.user, key=key, **data)):
        messages.success(request, f"Key {key.key_id} revoked; gateways refuse it within a second.")
        return redirect("catalog:key_list")
    return render(
        request,
        "catalog/key_revoke.html",
        {"key": key, "form": form, "impact": selectors.key_revoke_impact(key=key)},
        status=400 if form.errors else 200,
    )
