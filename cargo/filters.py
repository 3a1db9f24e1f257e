import django_filters
from django.db.models import Q
from django.utils import timezone

from .models import Cargo


class CargoFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Cargo.Status.choices)
    origin = django_filters.CharFilter(field_name="origin__code")
    destination = django_filters.CharFilter(field_name="destination__code")
    station = django_filters.CharFilter(method="filter_station", label="Origin or destination")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="In transit past its ETA")

    class Meta:
        model = Cargo
        fields = ("status", "origin", "destination", "station", "overdue")

    def filter_station(self, queryset, name, value):
        return queryset.filter(Q(origin__code=value) | Q(destination__code=value))

    def filter_overdue(self, queryset, name, value):
        late = Q(status=Cargo.Status.IN_TRANSIT, eta__lt=timezone.now())
        return queryset.filter(late) if value else queryset.exclude(late)
