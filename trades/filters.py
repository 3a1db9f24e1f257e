import django_filters
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Upper

from inventory.models import Station
from tradenet.api.filters import ChoicesFilter, CodeFilter, FilterSet, UTCIsoDateTimeFilter

from .models import Trade, TradeLine

STATION = "inventory.Station"


class TradeFilter(FilterSet):
    seller = CodeFilter(model=STATION, fields=("seller_id",), label="Seller code")
    buyer = CodeFilter(model=STATION, fields=("buyer_id",), label="Buyer code")
    station = CodeFilter(
        model=STATION, fields=("seller_id", "buyer_id"), label="Seller or buyer code"
    )
    status = ChoicesFilter(choices=Trade.Status.choices)
    commodity = django_filters.CharFilter(method="filter_commodity", label="Commodity code")
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created at or after (ISO 8601)"
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", label="Created at or before (ISO 8601)"
    )
    search = django_filters.CharFilter(
        method="filter_search", label="A transaction id, or a station code (seller or buyer)"
    )

    class Meta:
        model = Trade
        fields = (
            "seller",
            "buyer",
            "station",
            "status",
            "commodity",
            "created_after",
            "created_before",
            "search",
        )

    def filter_commodity(self, queryset, name, value):
        # EXISTS rather than a join: no duplicate trades, and the cursor stays exact.
        lines = TradeLine.objects.filter(trade=OuterRef("pk"), commodity__code=value)
        return queryset.filter(Exists(lines))

    def filter_search(self, queryset, name, value):
        # A station code or a transaction id, never both: asking for either in one OR would
        # make PostgreSQL read the whole table for a transaction id. Both case-insensitive.
        term = value.strip()
        stations = list(Station.objects.filter(code__iexact=term).values_list("pk", flat=True))
        if stations:
            return queryset.filter(Q(seller_id__in=stations) | Q(buyer_id__in=stations))
        return queryset.alias(upper_id=Upper("transaction_id")).filter(upper_id=term.upper())
