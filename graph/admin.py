from django.contrib import admin

from config.admin import ReadOnlyAdmin
from graph.models import CrawlResult, CrawlRun, TracingSource


@admin.register(TracingSource)
class TracingSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "lookback_minutes", "enabled"]


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
