"""Who manages a webhook subscription: of a service or team, that team's members and leads
(and the org's admins); of an org, its admins; of the whole installation, superusers."""

from teams import permissions


def can_manage_webhook_scope(user, *, org=None, team=None, service=None) -> bool:
    if not user or not user.is_authenticated:
        return False
    if service is not None:
        return permissions.can_manage_assets(user, service.team)
    if team is not None:
        return permissions.can_manage_assets(user, team)
    if org is not None:
        return permissions.is_org_admin(user, org)
    return user.is_superuser


def can_manage_webhook(user, webhook) -> bool:
    return can_manage_webhook_scope(user, org=webhook.org, team=webhook.team, service=webhook.service)
