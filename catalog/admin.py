from django import forms
from django.contrib import admin

from catalog import services
from catalog.forms import SpecField
from catalog.models import Api, ApiKey, Domain, Location, ManagedEntity, Resource, Service, System
from core.admin import ReadOnlyAdmin, ServiceLayerAdmin
from core.models import AuditEvent


@admin.register(Service)
class ServiceAdmin(ServiceLayerAdmin):
    list_display = ["slug", "name", "team", "tier", "lifecycle", "crawl_enabled"]
    list_filter = ["tier", "lifecycle", "team__org"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["consumes"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in services.SERVICE_FIELDS if f in form.cleaned_data}
        if not change:
            obj.pk = services.service_create(actor=request.user, team=obj.team, slug=obj.slug, **data).pk
            return
        current = Service.objects.get(pk=obj.pk)
        if "team" in form.changed_data and form.cleaned_data["team"] != current.team:
            services.service_transfer(actor=request.user, service=current, team=form.cleaned_data["team"])
        services.service_update(actor=request.user, service=current, **data)

    def save_related(self, request, form, formsets, change):
        service = Service.objects.get(pk=form.instance.pk)
        services.service_consumes_set(actor=request.user, service=service, apis=list(form.cleaned_data["consumes"]))

    def delete_model(self, request, obj):
        services.service_delete(actor=request.user, service=obj)


class ApiAdminForm(forms.ModelForm):
    confirm_breaking = forms.BooleanField(
        required=False,
        label="Publish a breaking change",
        help_text="Save a spec that breaks the old one's clients without a new major version; its consumers are told.",
    )

    class Meta:
        model = Api
        fields = ["provider", "slug", "name", "kind", "version", "base_path", "spec", "lifecycle"]
        fields += ["slo_availability", "slo_p99_ms"]  # the lifecycle dates: api_deprecate, not here


@admin.register(Api)
class ApiAdmin(ServiceLayerAdmin):
    form = ApiAdminForm
    list_display = ["slug", "name", "provider", "kind", "version", "lifecycle"]
    list_filter = ["kind", "lifecycle"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "provider"] if obj else []

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "spec":  # the portal's field: bounded JSON parsing (JSON_MAX_DEPTH)
            return SpecField(required=False, help_text="OpenAPI (JSON) is validated")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in services.API_FIELDS if f in form.cleaned_data}
        if change:
            confirm = bool(form.cleaned_data.get("confirm_breaking"))
            services.api_update(actor=request.user, api=obj, confirm_breaking=confirm, **data)
        else:
            obj.pk = services.api_create(actor=request.user, provider=obj.provider, slug=obj.slug, **data).pk

    def delete_model(self, request, obj):
        services.api_delete(actor=request.user, api=obj)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys are issued, rotated and revoked in the portal or API; here they are only read."""

    list_display = ["key_id", "name", "api", "consumer", "status", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["status"]
    exclude = ["secret_hash"]

    def get_queryset(self, request):  # as the REST key list: staff org admins see their orgs' keys only
        from catalog.selectors import key_list_for

        return key_list_for(user=request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_repr", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_repr", "actor_repr"]

    def get_queryset(self, request):
        from catalog.selectors import audit_list

        return audit_list(user=request.user)


class _OwnedAdmin(ServiceLayerAdmin):
    """Domains, systems and resources: every write through catalog.services (limits, loops, audit)."""

    kind = ""
    list_display = ["slug", "name", "team"]
    list_filter = ["team__org"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in services.owned_fields(self.kind) if f in form.cleaned_data}
        if not change:
            obj.pk = services.owned_create(self.kind, actor=request.user, team=obj.team, slug=obj.slug, **data).pk
            return
        current = type(obj).objects.get(pk=obj.pk)
        services.owned_update(self.kind, actor=request.user, obj=current, team=form.cleaned_data.get("team"), **data)

    def delete_model(self, request, obj):
        services.owned_delete(self.kind, actor=request.user, obj=obj)


@admin.register(Domain)
class DomainAdmin(_OwnedAdmin):
    kind = "domain"
    list_display = ["slug", "name", "team", "parent"]


@admin.register(System)
class SystemAdmin(_OwnedAdmin):
    kind = "system"
    list_display = ["slug", "name", "team", "domain"]


@admin.register(Resource)
class ResourceAdmin(_OwnedAdmin):
    kind = "resource"
    list_display = ["slug", "name", "type", "team", "system"]
    list_filter = ["type", "team__org"]
    exclude = ["dependents"]  # declared by the services (catalog.services.service_resources_set)


@admin.register(Location)
class LocationAdmin(ReadOnlyAdmin):
    """Locations are imported through the portal, REST or manage.py; here they are only read."""

    list_display = ["target", "kind", "imported_at", "created_by"]
    exclude = ["body"]


@admin.register(ManagedEntity)
class ManagedEntityAdmin(ReadOnlyAdmin):
    list_display = ["kind", "slug", "location", "line", "orphaned_at"]
    list_filter = ["kind"]
    search_fields = ["slug"]
