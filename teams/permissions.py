"""Who may do what, decided once. Services call ``require``; views only display."""

from core.errors import NotAuthenticated, PermissionDenied
from teams.constants import ROLE_LEAD


def is_org_admin(user, org) -> bool:
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return org.admins.filter(pk=user.pk).exists()


def team_role(user, team) -> str | None:
    if not user or not user.is_authenticated:
        return None
    return team.memberships.filter(user=user).values_list("role", flat=True).first()


def can_manage_org(user, org) -> bool:
    return is_org_admin(user, org)


def can_manage_members(user, team) -> bool:
    return is_org_admin(user, team.org) or team_role(user, team) == ROLE_LEAD


def can_manage_assets(user, team) -> bool:
    """Services and APIs of a team: its members, its leads and the org's admins."""
    return is_org_admin(user, team.org) or team_role(user, team) is not None


def can_start_crawl(user) -> bool:
    """Superusers, org admins, and members (lead or member) of any team. A signed-in user
    with neither a team nor an org to administer only reads."""
    if not user or not user.is_authenticated:
        return False
    return user.is_superuser or user.administered_orgs.exists() or user.memberships.exists()


def can_set_org_maxima(user) -> bool:
    """The per-team maxima of an org (max_members_per_team, max_services_per_team)."""
    return bool(user and user.is_authenticated and user.is_superuser)


def require(allowed: bool, user, message: str) -> None:
    if allowed:
        return
    if not user or not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    raise PermissionDenied(message)
