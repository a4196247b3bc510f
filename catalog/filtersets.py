import django_filters

from catalog import constants
from catalog.models import Api, Domain, Resource, Service, System
from catalog.selectors import SERVICE_SEARCH_FIELDS
from core.models import AuditEvent
from core.search import contains


class ServiceFilterSet(django_filters.FilterSet):
    """Written once; serves the portal, REST and GraphQL."""

    org = django_filters.CharFilter(field_name="team__org__slug")
    team = django_filters.CharFilter(field_name="team__slug")
    tier = django_filters.TypedChoiceFilter(choices=constants.TIER_CHOICES, coerce=int)
    lifecycle = django_filters.ChoiceFilter(choices=constants.LIFECYCLE_CHOICES)
    system = django_filters.CharFilter(field_name="system__slug")
    domain = django_filters.CharFilter(field_name="system__domain__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Service
        fields = ["org", "team", "tier", "lifecycle", "system", "domain", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value, SERVICE_SEARCH_FIELDS)


class ServiceListFilterSet(ServiceFilterSet):
    """The portal's services list: Tier and Lifecycle start at "any" (a select without an empty
    choice sent tier=1 with every search and dropped other tiers), and ``o`` sorts."""

    tier = django_filters.TypedChoiceFilter(
        choices=[("", "any"), *constants.TIER_CHOICES], coerce=int, empty_value=None, label="Tier"
    )
    lifecycle = django_filters.ChoiceFilter(choices=constants.LIFECYCLE_CHOICES, empty_label="any")
    o = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("team__slug", "owner"),
            ("tier", "tier"),
            ("lifecycle", "lifecycle"),
            ("api_count", "apis"),
        ),
        field_labels={
            "name": "Name",
            "team__slug": "Owner",
            "tier": "Tier",
            "lifecycle": "Lifecycle",
            "api_count": "APIs",
        },
        label="Sort by",
        empty_label="name",
    )


class ApiFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__slug")
    team = django_filters.CharFilter(field_name="provider__team__slug")
    kind = django_filters.ChoiceFilter(choices=constants.API_KIND_CHOICES)
    lifecycle = django_filters.ChoiceFilter(choices=constants.LIFECYCLE_CHOICES)
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Api
        fields = ["provider", "team", "kind", "lifecycle", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value)


class AuditEventFilterSet(django_filters.FilterSet):
    object_type = django_filters.CharFilter()
    action = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_repr")

    class Meta:
        model = AuditEvent
        fields = ["object_type", "action", "actor"]


class DomainFilterSet(django_filters.FilterSet):
    org = django_filters.CharFilter(field_name="team__org__slug")
    team = django_filters.CharFilter(field_name="team__slug")
    parent = django_filters.CharFilter(field_name="parent__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Domain
        fields = ["org", "team", "parent", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value)


class SystemFilterSet(django_filters.FilterSet):
    org = django_filters.CharFilter(field_name="team__org__slug")
    team = django_filters.CharFilter(field_name="team__slug")
    domain = django_filters.CharFilter(field_name="domain__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = System
        fields = ["org", "team", "domain", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value)


class ResourceFilterSet(django_filters.FilterSet):
    org = django_filters.CharFilter(field_name="team__org__slug")
    team = django_filters.CharFilter(field_name="team__slug")
    type = django_filters.ChoiceFilter(choices=constants.RESOURCE_TYPE_CHOICES)
    system = django_filters.CharFilter(field_name="system__slug")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Resource
        fields = ["org", "team", "type", "system", "q"]

    def search(self, queryset, name, value):
        return contains(queryset, value)
