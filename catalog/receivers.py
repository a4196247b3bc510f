"""catalog listens to teams (core.events) instead of teams calling catalog."""

from catalog.gateway import key_cache_forget
from catalog.models import ApiKey


def forget_team_keys(sender, changes, **kwargs) -> None:
    """Teams changed (a team's name is in its services' key records): the gateway re-reads those records."""
    slugs = [c.key for c in changes if c.kind == "team"]
    if not slugs:
        return
    key_ids = (
        ApiKey.objects.filter(consumer__team__slug__in=slugs).exclude(key_id=None).values_list("key_id", flat=True)
    )
    if key_ids := list(key_ids):
        key_cache_forget(*key_ids)
