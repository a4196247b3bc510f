"""Admin glue: writes in the admin go through the service layer, and a refusal from it
(limit, permission, conflict) comes back as an error message, never a 500."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from core.errors import DomainError


class BoundedSearchAdmin(admin.ModelAdmin):
    """The changelist search uses at most MAX_SEARCH_WORDS words of what was typed: each word is
    an OR over the search fields, and a thousand of them make a query SQLite refuses (500)."""

    MAX_SEARCH_WORDS = 10

    def get_search_results(self, request, queryset, search_term):
        term = " ".join(search_term.split()[: self.MAX_SEARCH_WORDS])[:200]
        return super().get_search_results(request, queryset, term)


class ServiceLayerAdmin(BoundedSearchAdmin):
    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, *args, **kwargs):
        try:
            return super().delete_view(request, *args, **kwargs)
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the service layer
        return actions


class ReadOnlyAdmin(BoundedSearchAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
