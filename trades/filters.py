import django_filters
from django.db.models import Exists, OuterRef, Q

from tradenet.api.filters import UTCIsoDateTimeFromToRangeFilter

from .models import Trade, TradeLine


class TradeFilter(django_filters.FilterSet):
    seller = django_filters.CharFilter(field_name="seller__code")
    buyer = django_filters.CharFilter(field_name="buyer__code")
    station = django_filters.CharFilter(method="filter_station", label="Seller or buyer code")
    status = django_filters.MultipleChoiceFilter(choices=Trade.Status.choices)
    commodity = django_filters.CharFilter(method="filter_commodity", label="Commodity code")
    created = UTCIsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = Trade
        fields = ("seller", "buyer", "station", "status", "commodity", "created")

    def filter_station(self, queryset, name, value):
        return queryset.filter(Q(seller__code=value) | Q(buyer__code=value))

    def filter_commodity(self, queryset, name, value):
        # EXISTS rather than a join: no duplicate trades, and the cursor stays exact.
        lines = TradeLine.objects.filter(trade=OuterRef("pk"), commodity__code=value)
        return queryset.filter(Exists(lines))
