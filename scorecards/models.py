"""Scorecards: a named set of checks with ordered levels, applied to the services a filter
selects; one result per (scorecard, service) and a bounded daily history of level counts."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Service
from teams.models import slug_validator


class Scorecard(models.Model):
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    # {org, team, system, lifecycle: slug/str, tier: [int, ...]}; an empty filter: every service
    filter = models.JSONField(default=dict, blank=True)
    levels = models.JSONField(default=list)  # ordered names, lowest first: ["Bronze", "Silver", "Gold"]
    enabled = models.BooleanField(default=True)
    source = models.TextField(blank=True)  # the YAML it was last loaded from (the portal editor shows it)
    org = models.ForeignKey("teams.Org", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("scorecards:scorecard_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return self.org_id


class ScorecardCheck(models.Model):
    """One check of a scorecard: a built-in check type (scorecards.checks.REGISTRY) at a level."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="checks")
    key = models.CharField(max_length=64)  # unique within the scorecard; the check type unless named
    type = models.CharField(max_length=64)
    level = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "position"]
        constraints = [models.UniqueConstraint(fields=["scorecard", "key"], name="scorecards_check_key")]

    def __str__(self) -> str:
        return f"{self.scorecard_id}:{self.key}"


class ScorecardResult(models.Model):
    """A service's standing on a scorecard: the level reached (0: none; n: levels[n-1]) and each
    check's outcome with its reason ([{key, type, level, passed, reason}])."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="results")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="scorecard_results")
    level_index = models.PositiveSmallIntegerField(default=0)
    level = models.CharField(max_length=64, blank=True)
    passed = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveSmallIntegerField(default=0)
    checks = models.JSONField(default=list)
    # A digest of the level and outcomes: a recompute compares it instead of reading every
    # result's outcomes back (scorecards.services.outcomes_digest).
    digest = models.CharField(max_length=32, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["scorecard", "service"]
        constraints = [models.UniqueConstraint(fields=["scorecard", "service"], name="scorecards_result_pair")]
        indexes = [models.Index(fields=["service"], name="scorecards_result_service")]

    def __str__(self) -> str:
        return f"{self.scorecard_id}/{self.service_id}: {self.level or '-'}"


class ScorecardSnapshot(models.Model):
    """How many services stood at each level on one UTC day, per team, per org and for the whole
    scorecard (scope ``all``, key ``""``); rewritten by every run that day, pruned after
    SCORECARD_HISTORY_DAYS."""

    SCOPES = ("all", "org", "team")

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="snapshots")
    day = models.DateField()
    scope = models.CharField(max_length=8)
    key = models.CharField(max_length=64, blank=True)  # the org's or team's slug
    counts = models.JSONField(default=list)  # services at level 0 (none), 1, ... len(levels)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["scorecard", "scope", "key", "day"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "scope", "key", "day"], name="scorecards_snapshot_day")
        ]
        indexes = [models.Index(fields=["day"], name="scorecards_snapshot_dayidx")]

    def __str__(self) -> str:
        return f"{self.scorecard_id} {self.scope}:{self.key} {self.day}"
