from django.contrib import admin

from core.admin import ServiceLayerAdmin
from teams import services
from teams.models import Membership, Org, Team

ORG_EDITABLE = ["name", "description", "max_members_per_team", "max_services_per_team"]
TEAM_EDITABLE = ["name", "description", "chat_channel", "oncall_contact", "max_members", "max_services"]


@admin.register(Org)
class OrgAdmin(ServiceLayerAdmin):
    list_display = ["slug", "name", "max_members_per_team", "max_services_per_team"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "admins"] if obj else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ORG_EDITABLE if f in form.cleaned_data}
        if change:
            services.org_update(actor=request.user, org=obj, **data)
        else:
            saved = services.org_create(actor=request.user, slug=obj.slug, **data)
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        if not change and form.cleaned_data.get("admins"):
            org = form.instance
            for user in form.cleaned_data["admins"]:
                services.org_admin_set(actor=request.user, org=org, user=user, admin=True)


@admin.register(Team)
class TeamAdmin(ServiceLayerAdmin):
    list_display = ["slug", "name", "org", "max_members", "max_services"]
    list_filter = ["org"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "org"] if obj else []

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in TEAM_EDITABLE if f in form.cleaned_data}
        if change:
            changed = {k: v for k, v in data.items() if k in form.changed_data}
            services.team_update(actor=request.user, team=obj, **changed)
        else:
            obj.pk = services.team_create(actor=request.user, org=obj.org, slug=obj.slug, **data).pk

    def delete_model(self, request, obj):
        services.team_delete(actor=request.user, team=obj)


@admin.register(Membership)
class MembershipAdmin(ServiceLayerAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team__org"]
    search_fields = ["team__slug", "user__username"]

    def get_readonly_fields(self, request, obj=None):
        return ["team", "user", "role"] if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = services.member_add(actor=request.user, team=obj.team, user=obj.user, role=obj.role).pk

    def delete_model(self, request, obj):
        services.member_remove(actor=request.user, team=obj.team, user=obj.user)
