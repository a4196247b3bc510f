"""Reads of orgs, teams and members. Annotated counts keep list queries constant."""

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from core.search import contains
from teams.constants import NEAR_LIMIT_RATIO
from teams.models import Membership, Org, Team


def org_list_manageable(*, user) -> QuerySet[Org]:
    """Orgs whose teams and limits the user manages (one query, not one per org)."""
    return Org.objects.all() if user.is_superuser else user.administered_orgs.all()


def org_list() -> QuerySet[Org]:
    return Org.objects.annotate(team_count=Count("teams", distinct=True)).order_by("slug")


def team_list(*, q: str = "") -> QuerySet[Team]:
    qs = Team.objects.select_related("org").annotate(
        member_count=Count("memberships", distinct=True), service_count=Count("services", distinct=True)
    )
    return contains(qs, q)


def team_count() -> int:
    return Team.objects.count()


def token_get(*, user):
    """The user's REST API token, or None."""
    from rest_framework.authtoken.models import Token

    return Token.objects.filter(user=user).first()


def active_user(username: str):
    """The active user of that username, or None: who may be added to a team or act in an import."""
    return get_user_model().objects.filter(username=username, is_active=True).first()


def user_list() -> QuerySet:
    """Every user, active or not (a page looks one up by username, e.g. to remove a member)."""
    return get_user_model().objects.all()


def memberships_of(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team")


def team_get(*, slug: str) -> Team:
    return team_list().get(slug=slug)


def member_list(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def team_usage(team: Team) -> dict:
    """Members and services against the effective limits, with a state per limit."""
    members = getattr(team, "member_count", None)
    services = getattr(team, "service_count", None)
    members = team.memberships.count() if members is None else members
    services = team.services.count() if services is None else services

    def state(current: int, maximum: int) -> str:
        if current > maximum:
            return "over"
        if current == maximum:
            return "at"
        return "near" if current >= maximum * NEAR_LIMIT_RATIO else "ok"

    return {
        "members": {
            "current": members,
            "max": team.effective_max_members,
            "state": state(members, team.effective_max_members),
        },
        "services": {
            "current": services,
            "max": team.effective_max_services,
            "state": state(services, team.effective_max_services),
        },
    }


def usage_at_limit(usage: dict) -> bool:
    """At or over a limit (members or services): the next add is refused."""
    return bool({usage["members"]["state"], usage["services"]["state"]} & {"at", "over"})


def teams_full_of_services() -> dict[str, dict]:
    """Teams where a new service would be refused, by primary key (as text, for a page's JSON):
    slug, org, limit, count and the team page, so a form can say so before it is sent."""
    out = {}
    for t in team_list():
        u = team_usage(t)["services"]
        if u["state"] in ("at", "over"):
            out[str(t.pk)] = {
                "slug": t.slug,
                "org": t.org.slug,
                "max": u["max"],
                "current": u["current"],
                "url": t.get_absolute_url(),
            }
    return out


def is_only_lead(*, team: Team, user) -> bool:
    """``user`` leads ``team`` and nobody else does."""
    leads = list(team.memberships.filter(role="lead").values_list("user_id", flat=True)[:2])
    return leads == [user.pk]


def limits_overview(*, limit: int = 20) -> dict:
    """The dashboard's view of limits in one pass: teams near, at or over (first ``limit``)
    and how many are at or over."""
    near, at = [], 0
    for t in team_list().order_by("slug"):
        u = team_usage(t)
        states = {u["members"]["state"], u["services"]["state"]}
        if states & {"near", "at", "over"} and len(near) < limit:
            near.append((t, u))
        at += usage_at_limit(u)
    return {"near": near, "at_count": at}


# --- Reads for the graph's projection, as plain rows --------------------------------------
def org_projection_rows(*, slug: str | None = None) -> list[dict]:
    orgs = Org.objects.all() if slug is None else Org.objects.filter(slug=slug)
    return [{"slug": o.slug, "name": o.name} for o in orgs]


def team_projection_rows(*, slug: str | None = None) -> list[dict]:
    teams = Team.objects.select_related("org") if slug is None else Team.objects.filter(slug=slug).select_related("org")
    return [
        {"slug": t.slug, "name": t.name, "org": t.org.slug, "oncall": t.oncall_contact, "chat": t.chat_channel}
        for t in teams
    ]
