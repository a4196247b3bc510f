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
        },
    )


@login_required
def graph_data(request):
    """Nodes, edges and cycles for the explorer (Cytoscape elements)."""
    org, team = request.GET.get("org") or None, request.GET.get("team") or None
    try:
        if request.GET.get("group") == "system":  # systems as nodes; ?expand=<slug> shows one's services
            data = selectors.system_graph(org=org, team=team, expand=request.GET.getlist("expand"))
            cycles = []
        else:
            data = selectors.graph(org=org, team=team)
            cycles = selectors.cycles(team=team, limit=50)
    except DomainError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status)
    if request.GET.get("tier"):
        keep = {n["id"] for n in data["nodes"] if str(n.get("tier")) == request.GET["tier"] or n["kind"] != "service"}
        data["nodes"] = [n for n in data["nodes"] if n["id"] in keep]
        data["edges"] = [e for e in data["edges"] if e["source"] in keep and e["target"] in keep]
    return JsonResponse({**data, "cycles": cycles})


@login_required
def node_panel(request, slug):
    """The explorer's side panel for one node (htmx)."""
    service = catalog_selectors.service_list().filter(slug=slug).first()
    both, error = (
        selectors.graph_read(lambda: selectors.callees_and_callers(slug=slug), {"down": [], "up": []})
        if service
        else ({"down": [], "up": []}, "")
    )
    return render(request, "graph/htmx/panel.html", {"slug": slug, "service": service, "error": error, **both})


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
