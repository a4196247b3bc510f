from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One write: who, what, to which object, and the object before and after. No secrets.

    The table is the one catalog created (``catalog_auditevent``); core took the model over
    without touching the data (core/migrations/0001_initial.py)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_repr = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # The org whose admins may read the event (None: superusers only, e.g. the crawl schedule).
    org = models.ForeignKey(
        "teams.Org", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "catalog_auditevent"
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="catalog_aud_object__257788_idx")]

    def __str__(self) -> str:
        return f"{self.actor_repr} {self.action} {self.object_type}:{self.object_repr}"
