from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import form_page, form_submit
from teams import permissions, selectors, services
from teams.forms import OrgLimitsForm, TeamEditForm, TeamForm


@login_required
def team_list(request):
    teams = selectors.team_list(q=request.GET.get("q", "")).order_by("org__slug", "slug")
    rows = [(t, selectors.team_usage(t)) for t in teams]
    if request.GET.get("at_limit"):  # the dashboard's "teams at their limits"
        rows = [(t, u) for t, u in rows if selectors.usage_at_limit(u)]
    orgs = selectors.org_list()
    return render(
        request,
        "teams/team_list.html",
        {"rows": rows, "orgs": orgs, "can_create": selectors.org_list_manageable(user=request.user).exists()},
    )


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
def member_remove(request, slug, username):
    team = get_object_or_404(selectors.team_list(), slug=slug)
    user = get_object_or_404(selectors.user_list(), username=username)
    confirmed = request.POST.get("confirm") == "yes"
    if (
        not confirmed
        and permissions.can_manage_members(request.user, team)
        and selectors.is_only_lead(team=team, user=user)
    ):
        # The team's only lead: ask first (without a lead, only org admins manage its members).
        return render(request, "teams/member_remove_confirm.html", {"team": team, "member": user})
    try:
        services.member_remove(actor=request.user, team=team, user=user)
        messages.success(request, f"{username} left {team.slug}.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect(team.get_absolute_url())


@login_required
def org_limits(request, slug):
    org = get_object_or_404(selectors.org_list(), slug=slug)
    form = OrgLimitsForm(request.POST or None, instance=org)
    if form_submit(request, form, lambda data: services.org_update(actor=request.user, org=org, **data)):
        return redirect("teams:team_list")
    return form_page(request, form, f"Default limits of {org.slug}")


@login_required
def profile(request):
    return render(
        request,
        "teams/profile.html",
        {
            "token": selectors.token_get(user=request.user),
            "new_token": request.session.pop("new_token", None),
            "memberships": selectors.memberships_of(user=request.user),
        },
    )


@login_required
@require_POST
def token_create(request):
    """A new API token replaces the old one; it is shown once."""
    request.session["new_token"] = services.token_create(actor=request.user, user=request.user)
    return redirect("teams:profile")


@login_required
@require_POST
def token_revoke(request):
    services.token_revoke(actor=request.user, user=request.user)
    messages.success(request, "API token revoked.")
    return redirect("teams:profile")
