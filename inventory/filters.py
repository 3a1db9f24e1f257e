import django_filters

from tradenet.api.filters import UTCIsoDateTimeFromToRangeFilter

from .models import Station, StockMovement


class MovementFilter(django_filters.FilterSet):
    commodity = django_filters.CharFilter(field_name="commodity__code")
    kind = django_filters.MultipleChoiceFilter(choices=StockMovement.Kind.choices)
    bucket = django_filters.ChoiceFilter(choices=StockMovement.Bucket.choices)
    created = UTCIsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = StockMovement
        fields = ("commodity", "kind", "bucket", "created")


class StationFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Station.Kind.choices)

    class Meta:
        model = Station
        fields = ("kind",)
