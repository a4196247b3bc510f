from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.filtersets import DomainFilterSet, ResourceFilterSet, ServiceListFilterSet, SystemFilterSet
from catalog.forms import (
    ApiDeprecationForm,
    ApiEditForm,
    ApiForm,
    KeyIssueForm,
    KeyLimitsForm,
    KeyRequestForm,
    KeyRevokeForm,
    KeyRotateForm,
    LocationRemoteForm,
    LocationUploadForm,
    ServiceEditForm,
    ServiceForm,
)
from catalog.models import ApiKey
from core.errors import DomainError
from core.forms import form_page, form_submit
from core.htmx import render_page
from teams import selectors as teams_selectors


@login_required
def search(request):
    return render(
        request,
        "htmx/search_results.html",
        {"hits": selectors.catalog_search(q=request.GET.get("q", "")), "q": request.GET.get("q", "")},
    )


SERVICES_PER_PAGE = 100


@login_required
def service_list(request):
    """Filters (tier and lifecycle default to any), sorting (``o``), a total count and pages."""
    filterset = ServiceListFilterSet(
        request.GET or None, queryset=selectors.service_list(api_count=True).order_by("name", "slug")
    )
    page = Paginator(filterset.qs, SERVICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "catalog/service_list.html",
        "catalog/htmx/service_results.html",
        {
            "filterset": filterset,
            "services": page.object_list,
            "page": page,
            "query": query.urlencode(),
            "total": selectors.service_count(),
        },
        status=400 if filterset.form.errors else 200,
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
    # Teams at their service limit, so the page says so when one is chosen, before sending.
    full = teams_selectors.teams_full_of_services()
    return render(
        request,
        "form.html",
        {"form": form, "title": "Register a service", "team_limits": full},
        status=400 if form.errors else 200,
    )


def _delete_page(request, obj, kind: str, delete, blockers):
    """GET: what deleting ``obj`` means and what stops it; POST: delete it through the service
    layer, or show its refusal with the service's status (403 not allowed, 409 still in use)."""
    error, status = "", 200
    if request.method == "POST":
        try:
            delete()
        except DomainError as exc:
            error, status = exc.detail, exc.status
        else:
            messages.success(request, f"{kind.capitalize()} {obj.slug} deleted.")
            return redirect("catalog:service_list" if kind == "service" else "catalog:api_list")
    return render(
        request,
        "catalog/delete_confirm.html",
        {"obj": obj, "kind": kind, "blockers": blockers, "error": error},
        status=status,
    )


@login_required
def service_delete(request, slug):
    service = get_object_or_404(selectors.service_list(), slug=slug)
    return _delete_page(
        request,
        service,
        "service",
        lambda: services.service_delete(actor=request.user, service=service),
        [f"It provides API {a.slug}: delete or move that first." for a in service.apis.order_by("slug")],
    )


@login_required
def api_delete(request, slug):
    api = get_object_or_404(selectors.api_list(), slug=slug)
    return _delete_page(
        request,
        api,
        "API",
        lambda: services.api_delete(actor=request.user, api=api),
        [],
    )


@login_required
def service_edit(request, slug):
    service = get_object_or_404(selectors.service_list(), slug=slug)
    form = ServiceEditForm(request.POST or None, instance=selectors.service_get(slug=slug))
    if form_submit(request, form, lambda data: services.service_update(actor=request.user, service=service, **data)):
        return redirect(service.get_absolute_url())
    return form_page(request, form, f"Edit {service.slug}")


@login_required
def api_edit(request, slug):
    """Edit an API. A spec that breaks the old one's clients without a new major version is
    refused (409) with each change listed and a box to confirm it; sent again with the box
    ticked, it is saved and the consumer teams are told."""
    api = get_object_or_404(selectors.api_list(), slug=slug)
    confirm = "confirm_breaking" in request.POST
    form = ApiEditForm(request.POST or None, instance=selectors.api_list().get(pk=api.pk), confirm=confirm)
    refused = None

    def save(data):
        nonlocal refused
        try:
            return services.api_update(actor=request.user, api=api, **data)
        except DomainError as exc:
            if exc.code != "breaking_change":
                raise
            refused = exc
            return None

    if form_submit(request, form, save):
        messages.success(request, f"API {api.slug} saved.")
        return redirect(api.get_absolute_url())
    if refused is not None:
        form = ApiEditForm(request.POST, instance=selectors.api_list().get(pk=api.pk), confirm=True)
        form.is_valid()
        form.add_error(
            None,
            "This spec breaks the old one's clients and the major version is the same. Raise the major "
            "version, or tick 'Publish the breaking change' to save it; the consumer teams are told.",
        )
        for change in refused.extra.get("changes", []):
            form.add_error(None, f"{change['message']} ({change['kind']} at {change['location'] or '/'})")
        response = form_page(request, form, f"Edit {api.slug}")
        response.status_code = 409
        return response
    return form_page(request, form, f"Edit {api.slug}")


@login_required
def api_list(request):
    return render(request, "catalog/api_list.html", {"apis": selectors.api_list().order_by("slug")[:500]})


@login_required
def api_create(request):
    form = ApiForm(request.POST or None, initial={"provider": request.GET.get("provider")})
    api = form_submit(request, form, lambda data: services.api_create(actor=request.user, **data))
    if api:
        return redirect(api.get_absolute_url())
    return form_page(request, form, "New API")


KEYS_PER_PAGE = 50


@login_required
def key_list(request):
    """Search (``q``), a state filter (``state``), pages of KEYS_PER_PAGE, and first the
    requests this user may approve."""
    q, state = request.GET.get("q", "")[:100], request.GET.get("state", "")
    page = Paginator(selectors.key_search(user=request.user, q=q, state=state), KEYS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    usage = selectors.key_quota_usage(page.object_list)  # today's use of each daily quota, one Redis read
    for key in page.object_list:
        key.quota_used = usage.get(key.pk)
    return render(
        request,
        "catalog/key_list.html",
        {
            "keys": page.object_list,
            "page": page,
            "query": query.urlencode(),
            "q": q,
            "state": state if state in ApiKey.STATES else "",
            "states": ApiKey.STATES,
            "awaiting": selectors.keys_awaiting_approval(user=request.user)[:100],
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


# --- Systems, domains, resources ------------------------------------------------------------
_OWNED_PAGES = {
    "system": ("Systems", SystemFilterSet, selectors.system_list, selectors.system_get),
    "domain": ("Domains", DomainFilterSet, selectors.domain_list, selectors.domain_get),
    "resource": ("Resources", ResourceFilterSet, selectors.resource_list, selectors.resource_get),
}


def _owned_list(request, kind):
    title, filterset_class, list_selector, _ = _OWNED_PAGES[kind]
    filterset = filterset_class(request.GET or None, queryset=list_selector().order_by("slug"))
    return render_page(
        request,
        "catalog/owned_list.html",
        "catalog/htmx/owned_rows.html",
        {"filterset": filterset, "rows": filterset.qs[:500], "kind": kind, "title": title},
    )


def _owned_detail(request, kind, slug):
    _, _, list_selector, get_selector = _OWNED_PAGES[kind]
    obj = get_object_or_404(list_selector(), slug=slug)
    return render(
        request,
        "catalog/owned_detail.html",
        {"obj": get_selector(slug=obj.slug), "kind": kind, "managed": selectors.managed_entity(kind=kind, slug=slug)},
    )


@login_required
def system_list(request):
    return _owned_list(request, "system")


@login_required
def system_detail(request, slug):
    return _owned_detail(request, "system", slug)


@login_required
def domain_list(request):
    return _owned_list(request, "domain")


@login_required
def domain_detail(request, slug):
    return _owned_detail(request, "domain", slug)


@login_required
def resource_list(request):
    return _owned_list(request, "resource")


@login_required
def resource_detail(request, slug):
    return _owned_detail(request, "resource", slug)


# --- Catalog as code: uploaded descriptor files ---------------------------------------------
@login_required
def location_list(request):
    return render(
        request,
        "catalog/location_list.html",
        {"locations": selectors.location_list()[:200], "form": LocationUploadForm()},
    )


@login_required
def location_new(request):
    """A URL or git location; the webhook secret is shown on the page that answers, once."""
    form = LocationRemoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            location, secret, run = services.location_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            return render(
                request,
                "catalog/location_created.html",
                {"location": location, "secret": secret, "run": run},
            )
    return render(request, "catalog/location_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def location_detail(request, pk):
    location = get_object_or_404(selectors.location_list(), pk=pk)
    return render(
        request,
        "catalog/location_detail.html",
        {
            "location": location,
            "runs": selectors.location_run_list(location=location)[:50],
            "may_refresh": services.location_may_refresh(request.user, location),
        },
    )


@login_required
@require_POST
def location_refresh(request, pk):
    location = get_object_or_404(selectors.location_list(), pk=pk)
    try:
        run = services.location_refresh(actor=request.user, location=location, trigger="manual")
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("catalog:location_detail", pk=pk)
    messages.success(request, f"Refresh #{run.pk} queued.")
    return redirect("catalog:location_run_detail", pk=run.pk)


@login_required
def location_run_detail(request, pk):
    run = get_object_or_404(selectors.location_run_list(), pk=pk)
    return render(
        request, "catalog/location_run_detail.html", {"run": run, "progress": selectors.location_run_progress(run)}
    )


@login_required
def location_run_progress(request, pk):
    """Polled by htmx every second while a run is going; stops polling when it ends."""
    run = get_object_or_404(selectors.location_run_list(), pk=pk)
    return render(
        request,
        "catalog/htmx/location_run_progress.html",
        {"run": run, "progress": selectors.location_run_progress(run)},
    )


@login_required
def location_upload(request):
    """GET: the form; POST: import the file all or nothing, or show every error with its line."""
    form = LocationUploadForm(request.POST or None, request.FILES or None)
    errors, status = [], 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            location, plan = services.location_import(actor=request.user, target=upload.name, content=upload.read())
        except DomainError as exc:
            errors, status = (
                exc.extra.get("errors") or [{"file": upload.name, "line": 0, "field": "", "message": exc.detail}],
                400,
            )
        else:
            counts = ", ".join(f"{kind}: {sum(c.values())}" for kind, c in plan.summary().items())
            messages.success(request, f"Imported {location.target} ({counts}).")
            return redirect("catalog:location_list")
    elif request.method == "POST":
        status = 400
    return render(request, "catalog/location_upload.html", {"form": form, "errors": errors}, status=status)


@login_required
def key_limits(request, pk):
    """A key's rate limit and daily quota (the provider's team)."""
    key = _key(request, pk)
    initial = {"rate_limit": key.rate_limit, "rate_period": key.rate_period, "daily_quota": key.daily_quota}
    form = KeyLimitsForm(request.POST or None, initial=initial)
    if form_submit(request, form, lambda data: services.key_limits_set(actor=request.user, key=key, **data)):
        messages.success(request, f"Limits of key {key.key_id} saved; gateways apply them within a second.")
        return redirect("catalog:key_list")
    return form_page(request, form, f"Rate limit and daily quota of key {key.key_id or key.pk}")


@login_required
def api_deprecation(request, slug):
    """Deprecate an API (or change its sunset date and successor); its consumers are told."""
    api = get_object_or_404(selectors.api_list(), slug=slug)
    initial = {"sunset_at": api.sunset_at, "successor": api.successor.slug if api.successor_id else None}
    form = ApiDeprecationForm(request.POST or None, initial=initial)
    if form_submit(request, form, lambda data: services.api_deprecate(actor=request.user, api=api, **data)):
        messages.success(request, f"API {api.slug} is deprecated; its consumers are notified.")
        return redirect(api.get_absolute_url())
    return form_page(request, form, f"Deprecate {api.slug}")


@login_required
@require_POST
def api_deprecation_withdraw(request, slug):
    api = get_object_or_404(selectors.api_list(), slug=slug)
    try:
        services.api_undeprecate(actor=request.user, api=api)
        messages.success(request, f"The deprecation of {api.slug} is withdrawn.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect(api.get_absolute_url())
