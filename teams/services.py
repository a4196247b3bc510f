"""Every write to orgs, teams and memberships. Limits, permissions and audit live here, so
REST, GraphQL, portal forms, admin and commands all share them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError

from core.audit import audit_record, audit_record_many, snapshot
from core.errors import Conflict, InvalidInput, TeamLimitExceeded
from core.events import announce
from core.persistence import locked, validated_create_many, validated_save
from teams import permissions
from teams.constants import ROLE_CHOICES, ROLE_MEMBER
from teams.models import Membership, Org, Team

User = get_user_model()

ORG_FIELDS = {"name", "description", "max_members_per_team", "max_services_per_team"}
ORG_MAXIMA = {"max_members_per_team", "max_services_per_team"}
TEAM_FIELDS = {"name", "description", "chat_channel", "oncall_contact"}
TEAM_LIMIT_FIELDS = {"max_members", "max_services"}


def team_lock(team: Team) -> Team:
    """Re-read the team under a row lock (PostgreSQL); SQLite runs IMMEDIATE transactions."""
    return locked(Team.objects.select_related("org"), team.pk)


def team_check_limit(team: Team, *, limit: str, adding: int = 1) -> None:
    """Raise if adding ``adding`` more members/services would pass the team's effective limit."""
    if limit == "members":
        current, maximum = team.memberships.count(), team.effective_max_members
    else:
        current, maximum = team.services.count(), team.effective_max_services
    if current + adding > maximum:
        raise TeamLimitExceeded(team=team, limit=limit, maximum=maximum, current=current)


def team_check_limits_within_org(team: Team) -> None:
    """A team's own limits may lower the org's per-team maxima, never exceed them."""
    for field, org_field, noun in (
        ("max_members", "max_members_per_team", "members"),
        ("max_services", "max_services_per_team", "services"),
    ):
        value, maximum = getattr(team, field), getattr(team.org, org_field)
        if isinstance(value, int) and value > maximum:
            raise InvalidInput(
                f"Team '{team.slug}' may have at most {maximum} {noun}: that is org '{team.org.slug}''s maximum.",
                code="limit_above_org_maximum",
                fields={field: [f"At most {maximum} (the org's maximum)."]},
                limit=noun,
                max=maximum,
            )


def org_create(*, actor, slug: str, name: str, **fields) -> Org:
    return orgs_create(actor=actor, specs=[{"slug": slug, "name": name, **fields}])[0]


def orgs_create(*, actor, specs: list[dict]) -> list[Org]:
    """Orgs (``org_create``'s arguments each) in one transaction: one insert, one audit insert,
    one announcement."""
    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers create orgs.")
    orgs = [
        Org(slug=s["slug"], name=s["name"], **{k: v for k, v in s.items() if k in ORG_FIELDS - {"name"}}) for s in specs
    ]
    with transaction.atomic():
        validated_create_many(Org, orgs)
        audit_record_many(actor=actor, action="org.create", entries=[(o, None, snapshot(o)) for o in orgs])
    announce("org", *(o.slug for o in orgs))
    return orgs


def org_update(*, actor, org: Org, **fields) -> Org:
    """Lowering a default limit deletes nothing: teams above it show as over and refuse more."""
    permissions.require(permissions.can_manage_org(actor, org), actor, "Only the org's admins change it.")
    if any(k in ORG_MAXIMA and fields[k] != getattr(org, k) for k in fields):
        permissions.require(
            permissions.can_set_org_maxima(actor), actor, "Only superusers change an org's per-team maxima."
        )
    with transaction.atomic():
        org = Org.objects.select_for_update().get(pk=org.pk)
        before = snapshot(org)
        for key, value in fields.items():
            if key in ORG_FIELDS:
                setattr(org, key, value)
        validated_save(org)
        audit_record(actor=actor, action="org.update", obj=org, before=before, after=snapshot(org))
    announce("org", org.slug)
    return org


def org_admin_set(*, actor, org: Org, user, admin: bool) -> None:
    permissions.require(permissions.can_manage_org(actor, org), actor, "Only the org's admins change admins.")
    with transaction.atomic():
        (org.admins.add if admin else org.admins.remove)(user)
        audit_record(
            actor=actor, action="org.admin_add" if admin else "org.admin_remove", obj=org, after={"user": user.username}
        )


def team_create(*, actor, org: Org, slug: str, name: str, **fields) -> Team:
    return teams_create(actor=actor, specs=[{"org": org, "slug": slug, "name": name, **fields}])[0]


def teams_create(*, actor, specs: list[dict]) -> list[Team]:
    """Teams (``team_create``'s arguments each, ``org`` an Org) in one transaction: the same
    permission (per org) and limit checks, one insert, one audit insert, one announcement."""
    allowed = TEAM_FIELDS | TEAM_LIMIT_FIELDS
    checked = set()
    for org in (s["org"] for s in specs):
        if org.pk not in checked:
            permissions.require(permissions.can_manage_org(actor, org), actor, "Only the org's admins create teams.")
            checked.add(org.pk)
    teams = [
        Team(org=s["org"], slug=s["slug"], name=s["name"], **{k: v for k, v in s.items() if k in allowed - {"name"}})
        for s in specs
    ]
    for team in teams:
        team_check_limits_within_org(team)
    with transaction.atomic():
        validated_create_many(Team, teams)
        audit_record_many(actor=actor, action="team.create", entries=[(t, None, snapshot(t)) for t in teams])
    announce("team", *(t.slug for t in teams))
    return teams


def team_update(*, actor, team: Team, **fields) -> Team:
    """Leads edit the team's description and contacts; only org admins change its limits."""
    if TEAM_LIMIT_FIELDS & fields.keys():
        permissions.require(permissions.can_manage_org(actor, team.org), actor, "Only org admins change team limits.")
    else:
        permissions.require(permissions.can_manage_members(actor, team), actor, "Only the team's leads edit it.")
    with transaction.atomic():
        team = team_lock(team)
        before = snapshot(team)
        for key, value in fields.items():
            if key in TEAM_FIELDS | TEAM_LIMIT_FIELDS:
                setattr(team, key, value)
        team_check_limits_within_org(team)
        validated_save(team)
        audit_record(actor=actor, action="team.update", obj=team, before=before, after=snapshot(team))
    announce("team", team.slug)  # catalog re-reads the gateway records of its keys (a rename changes them)
    return team


def team_delete(*, actor, team: Team) -> None:
    permissions.require(permissions.can_manage_org(actor, team.org), actor, "Only org admins delete teams.")
    with transaction.atomic():
        team = team_lock(team)
        owned = team.services.count()
        if owned:
            raise Conflict(
                f"Team '{team.slug}' still owns {owned} service(s); transfer or delete them first.",
                code="team_has_services",
            )
        before, slug = snapshot(team), team.slug
        audit_record(actor=actor, action="team.delete", obj=team, before=before)
        try:
            team.delete()
        except ProtectedError as exc:  # it still owns systems, domains or resources (catalog)
            kinds = sorted({str(o._meta.verbose_name_plural) for o in exc.protected_objects})
            raise Conflict(
                f"Team '{slug}' still owns {', '.join(kinds)}; transfer or delete them first.", code="team_in_use"
            ) from exc
    announce("team", slug)


def no_such_active_user(username: str) -> InvalidInput:
    """The refusal for an unknown or inactive user, the same from REST, GraphQL and forms."""
    message = f"Object with username={username[:150]} does not exist."
    return InvalidInput(f"username: {message}", fields={"username": [message]})


def member_add(*, actor, team: Team, user, role: str = ROLE_MEMBER, inactive_ok: bool = False) -> Membership:
    """``inactive_ok``: catalog imports record memberships of users who cannot sign in yet."""
    return members_add(actor=actor, seats=[(team, user, role)], inactive_ok=inactive_ok)[0]


def members_add(*, actor, seats: list[tuple], inactive_ok: bool = False) -> list[Membership]:
    """Memberships ((team, user, role) each) in one transaction, with ``member_add``'s checks:
    permission per team, active user, role, not already on the team, and each team's member
    limit for all its new members together (under the team's lock)."""
    allowed_teams = set()
    for team, user, role in seats:
        if team.pk not in allowed_teams:
            permissions.require(
                permissions.can_manage_members(actor, team), actor, "Only the team's leads add members."
            )
            allowed_teams.add(team.pk)
        if user is None or (not user.is_active and not inactive_ok):
            raise no_such_active_user(getattr(user, "username", ""))
        if role not in dict(ROLE_CHOICES):
            raise InvalidInput(f"Unknown role '{role}'.", fields={"role": ["Use 'lead' or 'member'."]})
    with transaction.atomic():
        teams = {}
        for team, _, _ in seats:
            if team.pk not in teams:
                teams[team.pk] = team_lock(team)
        have = set(
            Membership.objects.filter(team__in=list(teams), user__in=[u for _, u, _ in seats]).values_list(
                "team_id", "user_id"
            )
        )
        adding = {}
        for team, user, _ in seats:
            if (team.pk, user.pk) in have:
                raise Conflict(f"{user.username} is already on team '{team.slug}'.", code="already_member")
            have.add((team.pk, user.pk))
            adding[team.pk] = adding.get(team.pk, 0) + 1
        for pk, count in adding.items():
            team_check_limit(teams[pk], limit="members", adding=count)
        memberships = [Membership(team=teams[team.pk], user=user, role=role) for team, user, role in seats]
        validated_create_many(Membership, memberships)
        audit_record_many(
            actor=actor,
            action="member.add",
            entries=[(m.team, None, {"user": m.user.username, "role": m.role}) for m in memberships],
        )
    return memberships


def users_import(*, actor, specs: list[dict]) -> list:
    """Users described by catalog descriptors (username, email, first_name each), in one
    transaction: created inactive, without a usable password, so they cannot sign in until an
    admin enables them. Superusers only."""
    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers create users.")
    users = []
    for s in specs:
        user = User(
            username=s["username"], email=s.get("email", ""), first_name=s.get("first_name", ""), is_active=False
        )
        user.set_unusable_password()
        users.append(user)
    with transaction.atomic():
        validated_create_many(User, users)
        audit_record_many(
            actor=actor,
            action="user.import",
            entries=[(u, None, {"username": u.username, "email": u.email}) for u in users],
        )
    return users


def user_profile_update(*, actor, user, email: str, first_name: str):
    """E-mail and display name from a catalog descriptor. Superusers only."""
    permissions.require(bool(actor and actor.is_superuser), actor, "Only superusers change users.")
    with transaction.atomic():
        before = {"email": user.email, "first_name": user.first_name}
        user.email, user.first_name = email, first_name
        user.save(update_fields=["email", "first_name"])
        audit_record(
            actor=actor, action="user.update", obj=user, before=before, after={"email": email, "first_name": first_name}
        )
    return user


def member_remove(*, actor, team: Team, user) -> None:
    permissions.require(permissions.can_manage_members(actor, team), actor, "Only the team's leads remove members.")
    with transaction.atomic():
        team = team_lock(team)
        deleted, _ = team.memberships.filter(user=user).delete()
        if not deleted:
            raise InvalidInput(f"{user.username} is not on team '{team.slug}'.", code="not_member")
        audit_record(actor=actor, action="member.remove", obj=team, before={"user": user.username})


def token_create(*, actor, user) -> str:
    """Issue ``user``'s REST API token, replacing any old one; the key is returned to be shown once.
    ``actor`` is who asked (the user in the portal, None for ``manage.py api_token``). The audit
    event names the user, never the key (a token's primary key is its secret)."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(actor=actor, action="token.create", obj=user)
    return token.key


def token_revoke(*, actor, user) -> bool:
    """Delete ``user``'s REST API token; False if there was none."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        deleted, _ = Token.objects.filter(user=user).delete()
        if deleted:
            audit_record(actor=actor, action="token.revoke", obj=user)
    return bool(deleted)
