from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from catalog import constants
from catalog.validators import validate_aliases, validate_path, validate_scopes
from core.validators import validate_http_url
from teams.models import Team, org_of_team, slug_validator


class Service(models.Model):
    """A deployable unit owned by exactly one team, crawled at ``base_url`` for telemetry."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    tier = models.PositiveSmallIntegerField(
        choices=constants.TIER_CHOICES, default=3, validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    lifecycle = models.CharField(max_length=16, choices=constants.LIFECYCLE_CHOICES, default="production")
    repository_url = models.CharField(max_length=500, blank=True, validators=[validate_http_url])
    base_url = models.CharField(max_length=500, blank=True, validators=[validate_http_url])
    aliases = models.JSONField(default=list, blank=True, validators=[validate_aliases])
    metrics_path = models.CharField(max_length=200, default="/metrics", validators=[validate_path])
    health_path = models.CharField(max_length=200, default="/health", validators=[validate_path])
    crawl_enabled = models.BooleanField(default=True)
    consumes = models.ManyToManyField("Api", blank=True, related_name="declared_consumers")
    system = models.ForeignKey("System", null=True, blank=True, on_delete=models.PROTECT, related_name="services")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        indexes = [models.Index(fields=["team", "slug"]), models.Index(fields=["tier"])]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("catalog:service_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.team_id)


class Api(models.Model):
    """An HTTP (or other) interface a service provides; the unit API keys are issued for."""

    provider = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="apis")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=constants.API_KIND_CHOICES, default="openapi")
    version = models.CharField(max_length=40, blank=True)
    base_path = models.CharField(max_length=200, default="/", validators=[validate_path])
    spec = models.JSONField(null=True, blank=True)
    lifecycle = models.CharField(max_length=16, choices=constants.LIFECYCLE_CHOICES, default="production")
    slo_availability = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    slo_p99_ms = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(600_000)])
    # Lifecycle (issue 15): set only through catalog.services.api_deprecate / api_undeprecate.
    deprecated_at = models.DateTimeField(null=True, blank=True)  # when the deprecation was announced
    sunset_at = models.DateTimeField(null=True, blank=True)  # from then on the gateway refuses (403 api_sunset)
    successor = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("catalog:api_detail", args=[self.slug])

    @property
    def deprecated(self) -> bool:
        return self.deprecated_at is not None

    @property
    def sunset_passed(self) -> bool:
        return self.sunset_at is not None and self.sunset_at <= timezone.now()

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.provider.team_id)


class ApiKey(models.Model):
    """A credential letting one consumer service call one API. Only a hash is stored."""

    STATUS_PENDING = "pending"
    STATUS_ACTIVE = "active"
    STATUS_REJECTED = "rejected"
    STATUS_CHOICES = [(STATUS_PENDING, "Pending"), (STATUS_ACTIVE, "Active"), (STATUS_REJECTED, "Rejected")]
    # Whether a key is usable, decided here only (REST, GraphQL, portal, graph and gateway).
    STATE_PENDING, STATE_ACTIVE, STATE_EXPIRED, STATE_REVOKED, STATE_REJECTED = (
        "pending",
        "active",
        "expired",
        "revoked",
        "rejected",
    )
    STATES = (STATE_PENDING, STATE_ACTIVE, STATE_EXPIRED, STATE_REVOKED, STATE_REJECTED)

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="keys")
    consumer = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=STATUS_ACTIVE)
    key_id = models.CharField(max_length=8, unique=True, null=True, blank=True)
    secret_hash = models.CharField(max_length=64, blank=True)
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scopes])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_reason = models.CharField(max_length=500, blank=True)
    rotated_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    usage_count = models.PositiveBigIntegerField(default=0)
    # Per-consumer quotas (issue 15), enforced by the gateway in Redis; null: no limit.
    RATE_PERIODS = {"second": 1, "minute": 60}
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    rate_period = models.CharField(
        max_length=8, choices=[("second", "per second"), ("minute", "per minute")], default="second"
    )
    daily_quota = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1_000_000_000)]
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["api", "consumer"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id or 'pending'})"

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.api.provider.team_id)

    @staticmethod
    def state_of(*, status: str, revoked: bool, expires_epoch: float | None, now_epoch: float) -> str:
        """The one rule: pending and rejected requests are what they are; an active key is
        revoked once revoked, else expired from its expiry instant on, else active."""
        if status != ApiKey.STATUS_ACTIVE:
            return status
        if revoked:
            return ApiKey.STATE_REVOKED
        if expires_epoch is not None and expires_epoch <= now_epoch:
            return ApiKey.STATE_EXPIRED
        return ApiKey.STATE_ACTIVE

    def state_at(self, at) -> str:
        return self.state_of(
            status=self.status,
            revoked=self.revoked_at is not None,
            expires_epoch=self.expires_at.timestamp() if self.expires_at else None,
            now_epoch=at.timestamp(),
        )

    @property
    def state(self) -> str:
        """pending, active, expired, revoked or rejected, now."""
        return self.state_at(timezone.now())

    @property
    def usable(self) -> bool:
        return self.state == self.STATE_ACTIVE


class Domain(models.Model):
    """A business area grouping systems (Backstage ``Domain``); may sit inside a parent domain."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="domains")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="subdomains")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("catalog:domain_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.team_id)


class System(models.Model):
    """A set of services, APIs and resources that together deliver one capability (Backstage ``System``)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="systems")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="systems")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("catalog:system_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.team_id)


class Resource(models.Model):
    """A typed dependency target (a database, a queue, a bucket) services declare they depend on."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="resources")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=constants.RESOURCE_TYPE_CHOICES, default="database")
    description = models.TextField(blank=True, max_length=5000)
    system = models.ForeignKey(System, null=True, blank=True, on_delete=models.PROTECT, related_name="resources")
    dependents = models.ManyToManyField(Service, blank=True, related_name="resources")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("catalog:resource_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.team_id)


class Location(models.Model):
    """Where descriptors come from: an uploaded file (its body kept, so a re-import can be compared)."""

    KIND_UPLOAD = "upload"
    KIND_URL = "url"
    KIND_GIT = "git"
    KIND_CHOICES = [(KIND_UPLOAD, "Uploaded file"), (KIND_URL, "URL"), (KIND_GIT, "Git repository")]
    ORPHAN_KEEP = "keep"
    ORPHAN_REMOVE = "remove"
    ORPHAN_CHOICES = [(ORPHAN_KEEP, "Keep orphans"), (ORPHAN_REMOVE, "Remove orphans after the grace period")]

    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default=KIND_UPLOAD)
    target = models.CharField(
        max_length=500, unique=True, help_text="the file name it was uploaded as, the URL, or the repository"
    )
    body = models.TextField(blank=True)
    # git locations: the branch and the glob of descriptor files inside the repository
    branch = models.CharField(max_length=200, blank=True)
    path_glob = models.CharField(max_length=200, blank=True)
    orphan_policy = models.CharField(max_length=8, choices=ORPHAN_CHOICES, default=ORPHAN_KEEP)
    orphan_grace_hours = models.PositiveIntegerField(default=168)
    # entities Switchboard cannot represent (an owner that is a user, an API no component
    # provides, a $text URL) are skipped with their reason instead of refusing the refresh
    skip_unmappable = models.BooleanField(default=False)
    # the webhook secret is derived from SECRET_KEY and this salt (never stored itself)
    webhook_salt = models.CharField(max_length=64, blank=True)
    revision = models.CharField(max_length=64, blank=True)  # git commit or body digest last applied
    digest = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["target"]

    def __str__(self) -> str:
        return self.target


class LocationRun(models.Model):
    """One refresh of a URL or git location: its progress and what each file gave."""

    STATUS_CHOICES = [(s, s.title()) for s in ("queued", "running", "succeeded", "unchanged", "failed")]

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="queued")
    trigger = models.CharField(max_length=16, default="manual")  # manual | schedule | webhook | api
    requested_by = models.CharField(max_length=150, blank=True)
    revision = models.CharField(max_length=64, blank=True)
    total = models.PositiveIntegerField(default=0)  # files
    done = models.PositiveIntegerField(default=0)
    files = models.JSONField(default=list, blank=True)  # [{file, entities, skipped, errors}]
    summary = models.JSONField(default=dict, blank=True)  # per kind: created, updated, ...
    errors = models.JSONField(default=list, blank=True)  # [{file, line, field, message}] (at most 500)
    skipped = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"location run #{self.pk} ({self.status})"


class ManagedEntity(models.Model):
    """Provenance: one catalog object (kind + slug) a location manages, its descriptor's line and
    what Switchboard has no field for (annotations, labels, tags, links), kept to be shown and
    exported. Unique per (kind, slug): two locations cannot claim the same object."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="entities")
    kind = models.CharField(max_length=16)  # org, team, user, service, api, system, domain, resource
    slug = models.CharField(max_length=150)
    line = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    orphaned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "slug"]
        constraints = [models.UniqueConstraint(fields=["kind", "slug"], name="unique_managed_entity")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.slug}"
