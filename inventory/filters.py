import django_filters
from django.contrib.postgres.search import SearchVectorExact

from core.api.filters import ChoicesFilter, CodeFilter, FilterSet, UTCIsoDateTimeFilter
from core.text import text_vector, words_query

from .models import Station, StockMovement


class MovementFilter(FilterSet):
    commodity = CodeFilter(model="inventory.Commodity", fields=("commodity_id",))
    kind = ChoicesFilter(choices=StockMovement.Kind.choices)
    bucket = django_filters.ChoiceFilter(choices=StockMovement.Bucket.choices)
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created at or after (ISO 8601)"
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", label="Created at or before (ISO 8601)"
    )
    search = django_filters.CharFilter(
        method="filter_search", label="Words of the reason (whole words, all of them)"
    )

    class Meta:
        model = StockMovement
        fields = ("commodity", "kind", "bucket", "created_after", "created_before", "search")

    def filter_search(self, queryset, name, value):
        words = words_query(value)
        if words is None:
            return queryset
        return queryset.filter(SearchVectorExact(text_vector("reason"), words))


class StationFilter(FilterSet):
    kind = ChoicesFilter(choices=Station.Kind.choices)

    class Meta:
        model = Station
        fields = ("kind",)
