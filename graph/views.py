from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog import selectors as catalog_selectors
from core.errors import DomainError
from graph import selectors, services
from graph.forms import ScheduleForm
from teams import permissions
from teams import selectors as teams_selectors


@login_required
def explorer(request):
    return render(
        request,
        "graph/explorer.html",
        {
            "orgs": teams_selectors.org_list(),
            "teams": teams_selectors.team_list().order_by("slug"),
            "org": request.GET.get("org", ""),
            "team": request.GET.get("team", ""),
            "focus": request.GET.get("focus", ""),
            "systems": catalog_selectors.system_list().order_by("slug").values_list("slug", flat=True),
        },
    )


@login_required
def graph_data(request):
    """The explorer's graph (Cytoscape elements): a path (``from``, ``to``), a service's
    neighbourhood (``focus``, ``depth``), or the installation grouped by ``group`` (org, team,
    system; empty: flat) with the groups in ``expand`` shown as their services; filtered by
    org, team, tier, system, ``errors`` (%) and ``isolated=hide``."""
    params = request.GET
    try:
        filters = selectors.explorer_filters(params)
        if params.get("from") or params.get("to"):
            data = selectors.explorer_path(src=params.get("from", ""), dst=params.get("to", ""), filters=filters)
        elif params.get("focus"):
            data = selectors.explorer_neighbourhood(slug=params["focus"], depth=params.get("depth", 1), filters=filters)
        else:
            data = selectors.explorer_graph(
                by=params.get("group", ""), expand=params.getlist("expand"), filters=filters, only=params.get("only")
            )
        flat = not (params.get("group") or params.get("focus") or params.get("from") or params.get("to"))
        cycles = selectors.cycles(team=filters["team"], limit=selectors.EXPLORER_CYCLES) if flat else []
    except DomainError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse({**data, "cycles": cycles})


@login_required
def graph_find(request):
    """The Find box: services whose slug or name contains ``q`` and the exact match, if any."""
    return JsonResponse(selectors.explorer_find(q=request.GET.get("q", "")))


@login_required
def node_panel(request, slug):
    """The explorer's side panel for one node (htmx)."""
    service = catalog_selectors.service_list().filter(slug=slug).first()
    both, error = (
        selectors.graph_read(lambda: selectors.callees_and_callers(slug=slug), {"down": [], "up": []})
        if service
        else ({"down": [], "up": []}, "")
    )
    latest = selectors.crawl_history(service_id=service.pk, limit=1) if service else []
    health = latest[0].health or "unknown" if latest else "not crawled yet"
    return render(
        request, "graph/htmx/panel.html", {"slug": slug, "service": service, "error": error, "health": health, **both}
    )


@login_required
def discovery(request):
    runs = selectors.crawl_run_list()[:20]
    endpoints, graph_error = selectors.graph_read(selectors.unknown_endpoints, [])
    schedule = selectors.crawl_schedule()
    return render(
        request,
        "graph/discovery.html",
        {
            "runs": [(r, selectors.crawl_progress(r)) for r in runs],
            "endpoints": endpoints,
            "graph_error": graph_error,
            "schedule": schedule,
            "can_start_crawl": permissions.can_start_crawl(request.user),
            "schedule_form": ScheduleForm(
                initial={"every_minutes": schedule["every_minutes"], "enabled": schedule["enabled"]}
            ),
        },
    )


@login_required
def run_detail(request, pk):
    run = get_object_or_404(selectors.crawl_run_list(), pk=pk)
    results = selectors.crawl_result_list(run=run)
    return render(
        request, "graph/run_detail.html", {"run": run, "progress": selectors.crawl_progress(run), "results": results}
    )


@login_required
def run_progress(request, pk):
    """Polled by htmx every second while a run is going; stops polling when it ends."""
    run = get_object_or_404(selectors.crawl_run_list(), pk=pk)
    return render(request, "graph/htmx/run_progress.html", {"run": run, "progress": selectors.crawl_progress(run)})


@login_required
@require_POST
def crawl_now(request):
    try:
        run = services.crawl_start(trigger="manual", actor=request.user)
        messages.success(request, f"Crawl #{run.pk} queued.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("graph:discovery")


@login_required
@require_POST
def schedule_edit(request):
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            services.crawl_schedule_set(actor=request.user, **form.cleaned_data)
            messages.success(request, "Schedule saved.")
        except DomainError as exc:
            messages.error(request, exc.detail)
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("graph:discovery")
