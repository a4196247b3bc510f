from django import forms
from django.contrib import admin

from core.admin import ReadOnlyAdmin, ServiceLayerAdmin
from graph import services
from graph.models import CrawlResult, CrawlRun, IngestKey, MetricsBackend, TracingSource


@admin.register(TracingSource)
class TracingSourceAdmin(ServiceLayerAdmin):
    list_display = ["name", "kind", "base_url", "lookback_minutes", "enabled", "aggregator"]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["aggregator"]

    def save_model(self, request, obj, form, change):
        services.tracing_source_save(actor=request.user, source=obj, changed=form.changed_data)


class MetricsBackendForm(forms.ModelForm):
    # Write-only: the stored credential is never rendered back (blank keeps it).
    secret = forms.CharField(
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bearer token or basic-auth password; stored sealed, never shown. Leave blank to keep the current one.",
    )

    class Meta:
        model = MetricsBackend
        fields = [
            "name",
            "url",
            "auth",
            "username",
            "window_seconds",
            "service_graph",
            "istio",
            "otel_client",
            "enabled",
        ]


@admin.register(MetricsBackend)
class MetricsBackendAdmin(ServiceLayerAdmin):
    """Superusers only (the service layer refuses anyone else as well)."""

    form = MetricsBackendForm
    list_display = ["name", "url", "auth", "window_seconds", "service_graph", "istio", "otel_client", "enabled"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_add_permission = has_module_permission
    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in services.backends.FIELDS}
        secret = form.cleaned_data.get("secret") or ""
        if change:
            extra = {"secret": secret} if secret or obj.auth == "none" else {}
            fresh = MetricsBackend.objects.get(pk=obj.pk)
            services.metrics_backend_update(actor=request.user, backend=fresh, **data, **extra)
        else:
            fields = {f: form.cleaned_data[f] for f in services.backends.FIELDS if f in form.cleaned_data}
            obj.pk = services.metrics_backend_create(actor=request.user, secret=secret, **fields).pk

    def delete_model(self, request, obj):
        services.metrics_backend_delete(actor=request.user, backend=obj)


class CrawlResultInline(admin.TabularInline):
    model = CrawlResult
    extra = 0
    can_delete = False
    readonly_fields = [
        "target",
        "ok",
        "health",
        "status_code",
        "latency_ms",
        "edges",
        "skipped_series",
        "error",
        "worker",
    ]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CrawlRun)
class CrawlRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "trigger", "total", "done", "failed", "edges_seen", "edges_new", "created_at"]
    list_filter = ["status", "trigger"]
    inlines = [CrawlResultInline]


@admin.register(IngestKey)
class IngestKeyAdmin(ReadOnlyAdmin):
    """Ingestion keys (OTLP push): read-only, like API keys; issued over REST by the service's
    team (the secret is shown once there). Revoking goes through the service layer."""

    list_display = ["key_id", "name", "service", "created_by", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["key_id", "name", "service__slug"]
    exclude = ["secret_hash"]
    actions = ["revoke_selected"]

    def get_queryset(self, request):  # as the REST list: staff org admins see their orgs' keys only
        from graph.selectors import ingest_key_list

        return ingest_key_list(user=request.user)

    @admin.action(description="Revoke the selected ingestion keys")
    def revoke_selected(self, request, queryset):
        from django.contrib import messages

        from core.errors import DomainError
        from graph.services import ingest_key_revoke

        for key in queryset.filter(revoked_at__isnull=True):
            try:
                ingest_key_revoke(actor=request.user, key=key, reason="revoked in the admin")
            except DomainError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
