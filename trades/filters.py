import django_filters
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Upper

from inventory import directory
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
        # The code as an id first, from the process's directory (inventory.directory), and the
        # statuses asked for on the lines' own copy too: PostgreSQL then estimates the pair
        # from the lines' statistics and, where it is rare, reads just its lines
        # (trade_line_commodity_idx) instead of walking every trade of the status. EXISTS
        # rather than a join: no duplicate trades, and the cursor stays exact.
        commodity = directory.commodities.by_code([value]).get(value)
        if commodity is None:
            return queryset.none()
        lines = TradeLine.objects.filter(trade=OuterRef("pk"), commodity_id=commodity.pk)
        if statuses := self.form.cleaned_data.get("status"):
            lines = lines.filter(trade_status__in=statuses)
        return queryset.filter(Exists(lines))

    def filter_search(self, queryset, name, value):
        # A station code or a transaction id, never both: asking for either in one OR would
        # make PostgreSQL read the whole table for a transaction id. Both case-insensitive.
        term = value.strip()
        stations = list(Station.objects.filter(code__iexact=term).values_list("pk", flat=True))
        if stations:
            return queryset.filter(Q(seller_id__in=stations) | Q(buyer_id__in=stations))
        return queryset.alias(upper_id=Upper("transaction_id")).filter(upper_id=term.upper())
