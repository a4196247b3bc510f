import django_filters
from django.db.models import Q

from teams.models import Team


class TeamFilterSet(django_filters.FilterSet):
    """Written once; serves the portal, REST and GraphQL."""

    org = django_filters.CharFilter(field_name="org__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Team
        fields = ["org", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))
