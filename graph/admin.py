from django.contrib import admin

from core.admin import ReadOnlyAdmin, ServiceLayerAdmin
from graph import services
from graph.models import CrawlResult, CrawlRun, TracingSource


@admin.register(TracingSource)
class TracingSourceAdmin(ServiceLayerAdmin):
    list_display = ["name", "kind", "base_url", "lookback_minutes", "enabled", "aggregator"]

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["aggregator"]

    def save_model(self, request, obj, form, change):
        services.tracing_source_save(actor=request.user, source=obj, changed=form.changed_data)


class CrawlResultInline(admin.TabularInline):
    model = CrawlResult
    extra = 0
    can_delete = False
    readonly_fields = ["target", "ok", "health", "status_code", "latency_ms", "edges", "skipped_series", "error"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CrawlRun)
class CrawlRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "trigger", "total", "done", "failed", "edges_seen", "edges_new", "created_at"]
    list_filter = ["status", "trigger"]
    inlines = [CrawlResultInline]
