"""Deploys, deploy keys, the event log, webhook subscriptions and their deliveries."""

import uuid

from django.conf import settings
from django.db import models

from catalog.models import Api, Service
from teams.models import Org, Team, org_of_team


class DeployKey(models.Model):
    """A per-service credential a pipeline records deploys with. Same format and hash as API
    keys (core.keys: ``swb_<id>_<secret>``, SHA-256 of the secret stored), shown once."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="deploy_keys")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=8, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.service.team_id)


class Deploy(models.Model):
    """One deploy of a service, recorded by its pipeline. ``client_id`` makes the write
    idempotent: a retried step finds the deploy it recorded."""

    STATUS_CHOICES = [
        ("started", "Started"),
        ("succeeded", "Succeeded"),
        ("failed", "Failed"),
        ("rolled_back", "Rolled back"),
    ]
    FINAL = ("succeeded", "failed", "rolled_back")

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="deploys")
    client_id = models.CharField(max_length=100)
    version = models.CharField(max_length=100)
    environment = models.CharField(max_length=64, default="production")
    commit = models.CharField(max_length=64, blank=True)
    url = models.CharField(max_length=500, blank=True)
    deployer = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="succeeded")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deploy_key = models.ForeignKey(DeployKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["service", "client_id"], name="changes_deploy_client_id")]

    def __str__(self) -> str:
        return f"{self.service_id}@{self.version} ({self.environment})"

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.service.team_id)


class Event(models.Model):
    """One change, in the order it was recorded. ``id`` is the polling cursor; ``uid`` the
    stable public id. The org/team/service ids are plain integers (no foreign keys), so the
    log outlives what it talks about; they scope reading and webhook matching."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(auto_now_add=True)
    subject = models.JSONField(default=dict)
    payload = models.JSONField(default=dict)
    org_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    team_id = models.BigIntegerField(null=True, blank=True)
    service_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["service_id", "id"]), models.Index(fields=["team_id", "id"])]

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"

    @property
    def public_id(self) -> str:
        return f"evt_{self.uid.hex}"


class Webhook(models.Model):
    """A subscription: event types of one org, team or service (or, for superusers, the whole
    installation) POSTed to ``url``, signed with ``secret`` (shown once, at creation)."""

    name = models.CharField(max_length=100)
    url = models.CharField(max_length=500)
    org = models.ForeignKey(Org, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    types = models.JSONField(default=list)
    secret = models.CharField(max_length=80)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        return "service" if self.service_id else "team" if self.team_id else "org" if self.org_id else "installation"

    @property
    def audit_org_id(self) -> int | None:
        if self.org_id:
            return self.org_id
        if self.team_id:
            return org_of_team(self.team_id)
        if self.service_id:
            return org_of_team(self.service.team_id)
        return None


class Delivery(models.Model):
    """One event owed to one subscription. Written in the event's transaction, so nothing the
    log records is lost; delivered oldest first per subscription."""

    STATUS_CHOICES = [("pending", "Pending"), ("succeeded", "Succeeded"), ("dead", "Dead-lettered")]

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["webhook", "status", "id"])]
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="changes_delivery_once")]

    def __str__(self) -> str:
        return f"{self.uid} ({self.status})"


class DeliveryAttempt(models.Model):
    """The delivery log: every POST and what came back (status code or error), never the body."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error}"


# --- Edge history ---------------------------------------------------------------------------------
# What discovery saw on each call edge over time (graph announces it: graph.signals.edges_observed).
# Narrow rows keyed by a small integer per edge: full resolution (one row per crawl, push window
# or central query) for EDGE_HISTORY_RAW_HOURS, hourly roll-ups for EDGE_HISTORY_HOURLY_DAYS.
# Times are epoch seconds, rates calls per minute, error rates 0..1, latencies ms.
class EdgeSeries(models.Model):
    """One call edge: a caller's slug and what it calls (a service slug or an endpoint key)."""

    src = models.CharField(max_length=300)
    dst = models.CharField(max_length=300, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["src", "dst"], name="changes_edgeseries_pair")]

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}"


class EdgeSample(models.Model):
    """One observation window of an edge."""

    series = models.ForeignKey(EdgeSeries, on_delete=models.CASCADE, related_name="samples", db_index=False)
    at = models.BigIntegerField()
    rate = models.FloatField(null=True)
    error_rate = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)
    p99_ms = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["series", "at"], name="changes_edgesample_series_at"),
            models.Index(fields=["at"], name="changes_edgesample_at"),
        ]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.at}"


class EdgeHourly(models.Model):
    """An hour of an edge: mean calls per minute, error rate weighted by calls, the worst
    window's p95 and p99 and how many windows it sums up."""

    series = models.ForeignKey(EdgeSeries, on_delete=models.CASCADE, related_name="hourly", db_index=False)
    hour = models.BigIntegerField()
    rate = models.FloatField(null=True)
    error_rate = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)
    p99_ms = models.FloatField(null=True)
    samples = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "hour"], name="changes_edgehourly_series_hour")]
        indexes = [models.Index(fields=["hour"], name="changes_edgehourly_hour")]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.hour}"


# --- SLOs and once-only announcements --------------------------------------------------------------
class SloAlert(models.Model):
    """Whether an API's multi-window burn-rate alert fires: ``slo.burn_alert`` is raised when it
    starts firing and ``slo.recovered`` when it stops, never again while it stays as it is. A
    row exists once an API first fired; it is written only when the state changes."""

    api = models.OneToOneField(Api, on_delete=models.CASCADE, related_name="+")
    firing = models.BooleanField(default=False)
    rule = models.CharField(max_length=16, blank=True)
    burn_rate = models.FloatField(null=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.api_id}: {'firing' if self.firing else 'ok'}"


class Notice(models.Model):
    """An announcement made once (``key.expiring`` per key and expiry): the unique pair is
    written in the event's transaction, so two beat runs cannot both announce it."""

    kind = models.CharField(max_length=64)
    ref = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "ref"], name="changes_notice_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


# --- Regressions after deploys (changes/regressions.py) -------------------------------------------
class Regression(models.Model):
    """An edge into or out of a deployed service whose error rate or p95 latency rose after the
    deploy beyond the thresholds (REGRESSION_*): the deploy is its likely cause. ``before`` and
    ``after`` are the metric in the window before and after the deploy (error rate 0..1, p95 in
    ms), ``calls_*`` the calls each window counted."""

    METRIC_CHOICES = [("error_rate", "Error rate"), ("p95_ms", "p95 latency")]

    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="regressions")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    src = models.CharField(max_length=300)
    dst = models.CharField(max_length=300)
    direction = models.CharField(max_length=3)  # "in": calls into the deployed service; "out": its calls
    metric = models.CharField(max_length=16, choices=METRIC_CHOICES)
    before = models.FloatField()
    after = models.FloatField()
    calls_before = models.FloatField()
    calls_after = models.FloatField()
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "src", "dst", "metric"], name="changes_regression_once")
        ]
        indexes = [models.Index(fields=["service", "detected_at"], name="changes_regression_service_at")]

    def __str__(self) -> str:
        return f"{self.metric} {self.src}->{self.dst} after deploy {self.deploy_id}"
