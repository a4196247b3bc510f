"""Portal partials of SLOs (htmx): the SLOs of a service's APIs on the service page and of one
API on the API page, loaded after the page so its shell never waits for the history sums."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from changes import selectors
from core.errors import NotFound


@login_required
def service_slo(request, slug):
    try:
        statuses = selectors.slo_for_service(slug=slug)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    return render(request, "changes/htmx/slo.html", {"statuses": statuses})


@login_required
def api_slo(request, slug):
    try:
        status = selectors.slo_for_api(slug=slug)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    return render(request, "changes/htmx/slo.html", {"statuses": [status]})
