import django_filters
from django.contrib.postgres.search import SearchVectorExact

from tradenet.api.filters import ChoicesFilter, CodeFilter, UTCIsoDateTimeFromToRangeFilter
from tradenet.text import text_vector, words_query

from .models import Station, StockMovement


class MovementFilter(django_filters.FilterSet):
    commodity = CodeFilter(model="inventory.Commodity", fields=("commodity_id",))
    kind = ChoicesFilter(choices=StockMovement.Kind.choices)
    bucket = django_filters.ChoiceFilter(choices=StockMovement.Bucket.choices)
    created = UTCIsoDateTimeFromToRangeFilter(field_name="created_at")
    search = django_filters.CharFilter(
        method="filter_search", label="Words of the reason (whole words, all of them)"
    )

    class Meta:
        model = StockMovement
        fields = ("commodity", "kind", "bucket", "created", "search")

    def filter_search(self, queryset, name, value):
        words = words_query(value)
        if words is None:
            return queryset
        return queryset.filter(SearchVectorExact(text_vector("reason"), words))


class StationFilter(django_filters.FilterSet):
    kind = ChoicesFilter(choices=Station.Kind.choices)

    class Meta:
        model = Station
        fields = ("kind",)
