import django_filters
from django.contrib.postgres.search import SearchVectorExact
from django.db.models import Q
from django.db.models.functions import Upper

from core.api.filters import ChoicesFilter, CodeFilter, FilterSet, StrictBooleanFilter
from core.text import text_vector, words_query
from trades.models import Trade

from .models import Cargo

STATION = "inventory.Station"


class CargoFilter(FilterSet):
    status = ChoicesFilter(choices=Cargo.Status.choices)
    origin = CodeFilter(model=STATION, fields=("origin_id",), label="Origin code")
    destination = CodeFilter(model=STATION, fields=("destination_id",), label="Destination code")
    station = CodeFilter(
        model=STATION, fields=("origin_id", "destination_id"), label="Origin or destination code"
    )
    overdue = StrictBooleanFilter(
        method="filter_overdue", label="In transit past its ETA (true/false/1/0)"
    )
    search = django_filters.CharFilter(
        method="filter_search",
        label="A shipment id, a transaction id, or words of the location note (all, whole)",
    )

    class Meta:
        model = Cargo
        fields = ("status", "origin", "destination", "station", "overdue", "search")

    def filter_overdue(self, queryset, name, value):
        return queryset.overdue() if value else queryset.not_overdue()

    def filter_search(self, queryset, name, value):
        # Each alternative has its own index on cargo (the trade's id is looked up first), so
        # PostgreSQL combines them (BitmapOr) rather than reading the table.
        term = value.strip().upper()
        trades = list(
            Trade.objects.alias(upper_id=Upper("transaction_id"))
            .filter(upper_id=term)
            .values_list("pk", flat=True)
        )
        found = Q(upper_id=term) | Q(trade_id__in=trades)
        words = words_query(value)
        if words is not None:
            found |= Q(SearchVectorExact(text_vector("location_note"), words))
        return queryset.alias(upper_id=Upper("shipment_id")).filter(found)
