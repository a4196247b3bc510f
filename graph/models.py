from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.validators import validate_http_url


class TracingSource(models.Model):
    """A Zipkin- or Jaeger-compatible query endpoint crawled for service dependencies."""

    KIND_CHOICES = [("zipkin", "Zipkin"), ("jaeger", "Jaeger")]

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    base_url = models.CharField(max_length=500, validators=[validate_http_url])
    lookback_minutes = models.PositiveIntegerField(default=15)
    enabled = models.BooleanField(default=True)
    aggregator = models.BooleanField(
        default=False,
        help_text="Trusted to report calls between any services. Only superusers set it; until then the "
        "source's links are skipped (and counted in its crawl result).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class CrawlRun(models.Model):
    """One scheduled or manual discovery run over every crawlable target."""

    STATUS_CHOICES = [(s, s.title()) for s in ("queued", "running", "finishing", "succeeded", "partial", "failed")]

    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="queued")
    trigger = models.CharField(max_length=16, default="manual")  # manual | schedule | api | cli
    requested_by = models.CharField(max_length=150, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    edges_seen = models.PositiveIntegerField(default=0)
    edges_new = models.PositiveIntegerField(default=0)
    edges_stale = models.PositiveIntegerField(default=0)
    edges_removed = models.PositiveIntegerField(default=0)
    skipped_series = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"crawl #{self.pk} ({self.status})"


class CrawlResult(models.Model):
    """What one target of a discovery source (a service's metrics and health, a tracing
    source, the gateway's usage) gave in one run."""

    run = models.ForeignKey(CrawlRun, on_delete=models.CASCADE, related_name="results")
    target = models.CharField(max_length=200)  # the label: a service slug, "zipkin:name", "gateway"
    source = models.CharField(max_length=64, blank=True, default="")  # the registered source's name
    target_key = models.CharField(max_length=200, blank=True, default="")  # the target within its source
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ok = models.BooleanField(default=False)
    health = models.CharField(max_length=16, blank=True)  # up | down | unknown
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    edges = models.PositiveIntegerField(default=0)
    skipped_series = models.PositiveIntegerField(default=0)
    # Of the skipped series: those naming another caller from a source that is no aggregator.
    foreign_callers = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    # The Celery worker (its node name, ``name@host``) that observed the target; "inline" for
    # `manage.py crawl --inline`. Tells operators which host fetched what (a worker on a host
    # without a route to a network fails all of its targets).
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["target"]
        constraints = [models.UniqueConstraint(fields=["run", "target"], name="unique_result_per_target")]

    def __str__(self) -> str:
        return f"{self.target}: {'ok' if self.ok else self.error}"


class IngestKey(models.Model):
    """A key a service presents when it pushes OpenTelemetry data (OTLP ``/v1/traces``,
    ``/v1/metrics``). Same format and hashing as API keys (core/keys.py): only SHA-256 of the
    secret is stored, the key is shown once. Telemetry is accepted for resources whose
    ``service.name`` is the key's service or one it may report for (a collector)."""

    service = models.ForeignKey("catalog.Service", on_delete=models.CASCADE, related_name="ingest_keys")
    may_report_for = models.ManyToManyField("catalog.Service", blank=True, related_name="+")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=8, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def audit_org_id(self) -> int | None:
        return getattr(self.service, "audit_org_id", None)


class MetricsBackend(models.Model):
    """A Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics) that
    holds other services' call metrics: the central source (graph/discovery/sources/central.py)
    queries it over a window. Registered by superusers; it reports calls between any services."""

    AUTH_CHOICES = [("none", "None"), ("bearer", "Bearer token"), ("basic", "Basic auth")]

    name = models.SlugField(max_length=64, unique=True)
    url = models.CharField(
        max_length=500,
        validators=[validate_http_url],
        help_text="Base URL of the query API (…/api/v1/query is appended), e.g. http://10.0.0.9:9090.",
    )
    auth = models.CharField(max_length=8, choices=AUTH_CHOICES, default="none")
    username = models.CharField(max_length=200, blank=True, help_text="Basic auth only.")
    # The bearer token or basic-auth password, sealed (graph/credentials.py); never shown back.
    secret_sealed = models.TextField(blank=True, editable=False)
    window_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(86400)],
        help_text="Lookback window of each query (increase over it), 10 s to 1 day.",
    )
    service_graph = models.BooleanField(default=True, help_text="traces_service_graph_* (Collector, Tempo).")
    istio = models.BooleanField(default=True, help_text="istio_requests_total.")
    otel_client = models.BooleanField(default=True, help_text="OpenTelemetry HTTP client metrics.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"central:{self.name}"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_sealed)
