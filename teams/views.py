from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from core.errors import DomainError
from core.forms import form_page, form_submit
from core.htmx import render_page
from teams import permissions, selectors, services
from teams.forms import MemberAddForm, OrgLimitsForm, TeamEditForm, TeamForm, TeamLimitsForm
from teams.models import Org


@login_required
def team_list(request):
    teams = selectors.team_list(q=request.GET.get("q", "")).order_by("org__slug", "slug")
    rows = [(t, selectors.team_usage(t)) for t in teams]
    orgs = selectors.org_list()
    return render(
        request,
        "teams/team_list.html",
        {"rows": rows, "orgs": orgs, "can_create": selectors.org_list_manageable(user=request.user).exists()},
    )


def _team_context(request, team, **extra):
    from graph.selectors import graph_read, team_coupling

    coupling, graph_error = graph_read(lambda: team_coupling(team=team.slug), [])
    return {
        "team": team,
        "usage": selectors.team_usage(team),
        "members": selectors.member_list(team=team),
        "services": team.services.order_by("slug"),
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
    team = get_object_or_404(selectors.team_list(), slug=slug)
    return render(request, "teams/team_detail.html", _team_context(request, team))


@login_required
def team_create(request):
    form = TeamForm(request.POST or None)
    form.fields["org"].queryset = selectors.org_list_manageable(user=request.user)
    team = form_submit(request, form, lambda data: services.team_create(actor=request.user, **data))
    if team:
        messages.success(request, f"Team {team.slug} created.")
        return redirect(team.get_absolute_url())
    return form_page(request, form, "New team")


@login_required
def team_edit(request, slug):
    team = get_object_or_404(selectors.team_list(), slug=slug)
    form = TeamEditForm(request.POST or None, instance=team)
    if form_submit(request, form, lambda data: services.team_update(actor=request.user, team=team, **data)):
        return redirect(team.get_absolute_url())
    return form_page(request, form, f"Edit {team.slug}")


@login_required
@require_POST
def team_limits(request, slug):
    team = get_object_or_404(selectors.team_list(), slug=slug)
    form = TeamLimitsForm(request.POST, instance=selectors.team_get(slug=slug))
    if form_submit(request, form, lambda data: services.team_update(actor=request.user, team=team, **data)):
        messages.success(request, "Limits saved. Lowering a limit removes nobody and nothing.")
        return redirect(team.get_absolute_url())
    return render(request, "teams/team_detail.html", _team_context(request, team, limits_form=form), status=400)


@login_required
@require_POST
def member_add(request, slug):
    team = get_object_or_404(selectors.team_list(), slug=slug)
    form = MemberAddForm(request.POST)
    membership = form_submit(
        request,
        form,
        lambda data: services.member_add(actor=request.user, team=team, user=data["username"], role=data["role"]),
    )
    if membership:
        messages.success(request, f"{membership.user.username} joined {team.slug}.")
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": team.get_absolute_url()})
        return redirect(team.get_absolute_url())
    team = selectors.team_get(slug=slug)
    return render_page(
        request,
        "teams/team_detail.html",
        "teams/htmx/member_form.html",
        _team_context(request, team, member_form=form),
        status=400,
    )


@login_required
@require_POST
def member_remove(request, slug, username):
    team = get_object_or_404(selectors.team_list(), slug=slug)
    user = get_object_or_404(get_user_model(), username=username)
    try:
        services.member_remove(actor=request.user, team=team, user=user)
        messages.success(request, f"{username} left {team.slug}.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect(team.get_absolute_url())


@login_required
def org_limits(request, slug):
    org = get_object_or_404(Org, slug=slug)
    form = OrgLimitsForm(request.POST or None, instance=org)
    if form_submit(request, form, lambda data: services.org_update(actor=request.user, org=org, **data)):
        return redirect("teams:team_list")
    return form_page(request, form, f"Default limits of {org.slug}")


@login_required
def profile(request):
    token = Token.objects.filter(user=request.user).first()
    return render(
        request,
        "teams/profile.html",
        {
            "token": token,
            "new_token": request.session.pop("new_token", None),
            "memberships": request.user.memberships.select_related("team"),
        },
    )


@login_required
@require_POST
def token_create(request):
    """A new API token replaces the old one; it is shown once."""
    Token.objects.filter(user=request.user).delete()
    request.session["new_token"] = Token.objects.create(user=request.user).key
    return redirect("teams:profile")


@login_required
@require_POST
def token_revoke(request):
    Token.objects.filter(user=request.user).delete()
    messages.success(request, "API token revoked.")
    return redirect("teams:profile")
