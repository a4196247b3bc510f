"""Pages combining several apps. Each view calls selectors and services only; graph panels degrade
to a warning when Neo4j is down (graph_read)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog import selectors as catalog_selectors
from changes import selectors as changes_selectors
from core.forms import form_submit
from core.htmx import render_page
from graph import selectors as graph_selectors
from teams import permissions
from teams import selectors as teams_selectors
from teams import services as teams_services
from teams.forms import MemberAddForm, TeamLimitsForm


@login_required
def dashboard(request):
    counts, graph_error = graph_selectors.graph_read(graph_selectors.graph_counts, {})
    health, _ = graph_selectors.graph_read(graph_selectors.fleet_health, None)
    newest, _ = graph_selectors.graph_read(lambda: graph_selectors.newest_edges(limit=10), [])
    endpoints, _ = graph_selectors.graph_read(lambda: graph_selectors.unknown_endpoints(limit=10), [])
    last_run = graph_selectors.crawl_run_list().first()
    limits = teams_selectors.limits_overview()
    return render(
        request,
        "dashboard.html",
        {
            "counts": {"teams": teams_selectors.team_count(), **catalog_selectors.catalog_counts(), **counts},
            "health": health,
            "erroring_threshold": graph_selectors.ERRORING_EDGE_RATE,
            "teams_at_limits": limits["at_count"],
            "keys_awaiting": catalog_selectors.keys_awaiting_approval(user=request.user).count(),
            "last_run": last_run,
            "last_progress": graph_selectors.crawl_progress(last_run) if last_run else 0,
            "near_limits": limits["near"],
            "newest": newest,
            "endpoints": endpoints,
            "graph_error": graph_error,
        },
    )


@login_required
def edge_list(request):
    """The edges behind a dashboard number: ``?state=erroring`` or ``?state=stale`` (400 otherwise)."""
    state = request.GET.get("state", "erroring")
    edges, error = graph_selectors.graph_read(lambda: graph_selectors.edges_by_state(state=state), [])
    valid = state in graph_selectors.EDGE_STATES
    return render(
        request,
        "graph/edge_list.html",
        {
            "state": state if valid else "",
            "edges": edges,
            "error": error,
            "threshold": graph_selectors.ERRORING_EDGE_RATE,
        },
        status=200 if valid else 400,
    )


@login_required
def service_detail(request, slug):
    """The page renders from the catalog alone; graph panels (dependencies, blast radius,
    drift) load into it with htmx, so a slow or down graph never holds the page up."""
    service = catalog_selectors.service_page(slug=slug)
    if service is None:
        raise Http404
    history = graph_selectors.crawl_history(service_id=service.pk, limit=10)
    return render(
        request,
        "catalog/service_detail.html",
        {
            "service": service,
            "history": history,
            "health": history[0] if history else None,
            "deploys": changes_selectors.deploys_recent(service_id=service.pk, limit=10),
            "can_edit": permissions.can_manage_assets(request.user, service.team),
            "managed": catalog_selectors.managed_entity(kind="service", slug=service.slug),
            "deprecated_apis": catalog_selectors.deprecated_apis_consumed(service),
        },
    )


@login_required
def service_impact(request, slug):
    """Blast radius and declared-versus-observed drift (htmx partial)."""
    service = get_object_or_404(catalog_selectors.service_list(), slug=slug)
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
    service = get_object_or_404(catalog_selectors.service_list(), slug=slug)
    depth = request.GET.get("depth", "1")
    both, error = graph_selectors.graph_read(
        lambda: graph_selectors.callees_and_callers(slug=slug, depth=depth), {"down": [], "up": []}
    )
    calls, calls_error = graph_selectors.graph_read(lambda: graph_selectors.service_calls(slug=slug), None)
    tables = [("outbound", calls["out"], "Outbound calls"), ("inbound", calls["in"], "Inbound calls")] if calls else []
    return render(
        request,
        "catalog/htmx/dependencies.html",
        {
            "service": service,
            "depth": depth,
            "error": error or calls_error,
            "calls": calls,
            "calls_tables": tables,
            **both,
        },
    )


@login_required
def api_detail(request, slug):
    api = get_object_or_404(catalog_selectors.api_list().prefetch_related("declared_consumers"), slug=slug)
    observed, graph_error = graph_selectors.graph_read(
        lambda: graph_selectors.dependencies(slug=api.provider.slug, direction="up", depth=1), []
    )
    can_manage = permissions.can_manage_assets(request.user, api.provider.team)
    keys = catalog_selectors.key_list_for(user=request.user).filter(api=api)
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


# The team page: the team (teams) with its team-to-team graph and coupling table (graph). The two
# forms on it re-render the whole page when refused, so they live here too.


def _team_context(request, team, **extra):
    coupling, graph_error = graph_selectors.graph_read(lambda: graph_selectors.team_coupling(team=team.slug), [])
    return {
        "team": team,
        "usage": teams_selectors.team_usage(team),
        "members": teams_selectors.member_list(team=team),
        "services": catalog_selectors.service_list().filter(team=team).order_by("slug"),
        "coupling": coupling,
        "graph_error": graph_error,
        "can_manage_members": permissions.can_manage_members(request.user, team),
        "can_manage_org": permissions.can_manage_org(request.user, team.org),
        "member_form": MemberAddForm(),
        "limits_form": TeamLimitsForm(instance=team),
        **extra,
    }


@login_required
def team_detail(request, slug):
    team = get_object_or_404(teams_selectors.team_list(), slug=slug)
    return render(request, "teams/team_detail.html", _team_context(request, team))


@login_required
@require_POST
def team_limits(request, slug):
    team = get_object_or_404(teams_selectors.team_list(), slug=slug)
    form = TeamLimitsForm(request.POST, instance=teams_selectors.team_get(slug=slug))
    if form_submit(request, form, lambda data: teams_services.team_update(actor=request.user, team=team, **data)):
        messages.success(request, "Limits saved. Lowering a limit removes nobody and nothing.")
        return redirect(team.get_absolute_url())
    return render(request, "teams/team_detail.html", _team_context(request, team, limits_form=form), status=400)


@login_required
@require_POST
def member_add(request, slug):
    team = get_object_or_404(teams_selectors.team_list(), slug=slug)
    form = MemberAddForm(request.POST)
    membership = form_submit(
        request,
        form,
        lambda data: teams_services.member_add(actor=request.user, team=team, user=data["username"], role=data["role"]),
    )
    if membership:
        messages.success(request, f"{membership.user.username} joined {team.slug}.")
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": team.get_absolute_url()})
        return redirect(team.get_absolute_url())
    team = teams_selectors.team_get(slug=slug)
    return render_page(
        request,
        "teams/team_detail.html",
        "teams/htmx/member_form.html",
        _team_context(request, team, member_form=form),
        status=400,
    )
