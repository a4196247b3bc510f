"""Portal pages of scorecards: the list, one scorecard (roll-ups per org and team, trend chart),
the YAML editor for superusers and org admins, and the htmx panels of the service and team
pages (loaded after the page, so neither page's shell waits for them). Thin: one selector or
service each."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render

from core.errors import DomainError
from scorecards import selectors, services

EXAMPLE = """slug: production-readiness
name: Production readiness
description: What every production service should meet.
filter:
  lifecycle: production
levels: [Bronze, Silver, Gold]
checks:
  - type: has_owner_oncall
    level: Bronze
  - type: seen_recently
    level: Bronze
    params: {days: 7}
  - type: no_deprecated_calls
    level: Silver
  - type: no_lower_tier_dependency
    level: Silver
  - type: inbound_error_rate_below
    level: Gold
    params: {threshold: 0.01, window: 24h}
"""


class DefinitionForm(forms.Form):
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 80, "spellcheck": "false"}),
        strip=False,
        help_text="YAML, one scorecard per document. Check types: " + ", ".join(sorted(services.REGISTRY)) + ".",
    )


def _not_found(exc: DomainError):
    raise Http404(exc.detail) from exc


@login_required
def scorecard_list(request):
    cards = selectors.scorecard_list()
    rows = [(c, selectors.rollup(scorecard=c, by="org")) for c in cards]
    return render(
        request,
        "scorecards/scorecard_list.html",
        {"rows": rows, "can_manage": services.can_manage(request.user)},
    )


@login_required
def scorecard_detail(request, slug):
    try:
        card = selectors.scorecard_get(slug=slug)
    except DomainError as exc:
        _not_found(exc)
    by_org = selectors.rollup(scorecard=card, by="org")
    by_team = selectors.rollup(scorecard=card, by="team", org=request.GET.get("org") or None)
    return render(
        request,
        "scorecards/scorecard_detail.html",
        {
            "card": card,
            "levels": ["none", *card.levels],
            "by_org": by_org,
            "by_team": by_team,
            "can_manage": services.can_manage(request.user, card),
        },
    )


def _editor(request, card):
    if request.method == "POST":
        form = DefinitionForm(request.POST)
        if form.is_valid():
            try:
                loaded = services.scorecards_load(
                    actor=request.user, text=form.cleaned_data["definition"], file="definition"
                )
            except DomainError as exc:
                errors = exc.extra.get("errors") or [
                    {"file": "definition", "line": 0, "field": "", "message": exc.detail}
                ]
                status = exc.status
                return render(
                    request,
                    "scorecards/scorecard_edit.html",
                    {"form": form, "card": card, "errors": errors},
                    status=status,
                )
            messages.success(request, f"Saved {', '.join(c.slug for c in loaded)}; results are being recomputed.")
            return redirect("scorecards:scorecard_detail", loaded[0].slug)
    else:
        form = DefinitionForm(initial={"definition": card.source if card else EXAMPLE})
    return render(request, "scorecards/scorecard_edit.html", {"form": form, "card": card})


@login_required
def scorecard_new(request):
    if not services.can_manage(request.user):
        raise PermissionDenied("Only superusers and org admins define scorecards.")
    return _editor(request, None)


@login_required
def scorecard_edit(request, slug):
    try:
        card = selectors.scorecard_get(slug=slug)
    except DomainError as exc:
        _not_found(exc)
    if not services.can_manage(request.user, card):
        raise PermissionDenied("Only superusers and this org's admins edit it.")
    return _editor(request, card)


@login_required
def service_panel(request, slug):
    try:
        results = selectors.results_for_service(slug=slug)
    except DomainError as exc:
        _not_found(exc)
    return render(request, "scorecards/htmx/service_panel.html", {"results": results})


@login_required
def team_panel(request, slug):
    try:
        rows = selectors.rollups_for_team(team_slug=slug)
    except DomainError as exc:
        _not_found(exc)
    return render(request, "scorecards/htmx/team_panel.html", {"rows": rows, "team": slug})
