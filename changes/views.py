"""Portal pages of change over time: the webhooks a user manages, their delivery log and a
"Redeliver" button; the htmx panels of what changed, SLOs and a team's activity, loaded after
their page so its shell never waits for them. Thin: one selector or service each."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from changes import selectors, services, whatchanged
from core.errors import DomainError


@login_required
def webhook_list(request):
    """Every subscription the user manages, with its latest deliveries and their status codes."""
    webhooks = selectors.webhook_list(user=request.user)
    rows = [(w, list(selectors.delivery_list(webhook=w).order_by("-id")[:20])) for w in webhooks]
    return render(request, "changes/webhook_list.html", {"rows": rows})


@login_required
@require_POST
def delivery_redeliver(request, pk):
    try:
        item = selectors.delivery_get(user=request.user, pk=pk)
        services.delivery_redeliver(actor=request.user, delivery_obj=item)
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(exc.detail) from exc
        messages.error(request, exc.detail)
        return redirect("changes:webhook_list")
    messages.success(request, f"Delivery {item.uid} queued again.")
    return redirect("changes:webhook_list")


@login_required
def service_changes(request, slug):
    """What changed around a service (htmx partial of the service page, loaded when scrolled to)."""
    try:
        found = whatchanged.service_changes(slug=slug, since=request.GET.get("since"), depth=request.GET.get("depth"))
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(exc.detail) from exc
        return render(request, "changes/htmx/service_changes.html", {"error": exc.detail}, status=exc.status)
    return render(request, "changes/htmx/service_changes.html", {"changes": found})


@login_required
def team_activity(request, slug):
    """A team's recent events (htmx partial of the team page, loaded when scrolled to)."""
    try:
        team, events = selectors.team_activity(user=request.user, slug=slug)
    except DomainError as exc:
        raise Http404(exc.detail) from exc
    return render(request, "changes/htmx/team_activity.html", {"team": team, "events": events})


@login_required
def service_slo(request, slug):
    """The SLOs of a service's APIs (htmx partial of the service page)."""
    try:
        statuses = selectors.slo_for_service(slug=slug)
    except DomainError as exc:
        raise Http404(exc.detail) from exc
    return render(request, "changes/htmx/slo.html", {"statuses": statuses})


@login_required
def api_slo(request, slug):
    """One API's SLO (htmx partial of the API page)."""
    try:
        status = selectors.slo_for_api(slug=slug)
    except DomainError as exc:
        raise Http404(exc.detail) from exc
    return render(request, "changes/htmx/slo.html", {"statuses": [status]})
