"""catalog listens to teams (core.events) instead of teams calling catalog."""

from catalog.gateway import key_cache_forget
from catalog.models import ApiKey


def forget_team_keys(sender, change, **kwargs) -> None:
    """A team changed (its name is in its services' key records): the gateway re-reads those records."""
    if change.kind != "team":
        return
    key_ids = (
        ApiKey.objects.filter(consumer__team__slug=change.key).exclude(key_id=None).values_list("key_id", flat=True)
    )
    if key_ids := list(key_ids):
        key_cache_forget(*key_ids)
