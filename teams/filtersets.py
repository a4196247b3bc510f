import django_filters

from core.search import contains
from teams.models import Team


class TeamFilterSet(django_filters.FilterSet):
    """Written once; serves the portal, REST and GraphQL."""

    org = django_filters.CharFilter(field_name="org__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Team
        fields = ["org", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value)
