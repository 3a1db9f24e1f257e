import django_filters
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Upper
from django.utils import timezone

from core.api.filters import (
    ChoicesFilter,
    CodeFilter,
    FilterSet,
    StrictBooleanFilter,
    UTCIsoDateTimeFilter,
)
from inventory import directory
from inventory.models import Station

from .models import Agreement, Proposal, Trade, TradeLine

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
    agreement = django_filters.CharFilter(
        method="filter_agreement", label="An agreement's id: the trades placed under it"
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
            "agreement",
        )

    def filter_agreement(self, queryset, name, value):
        return queryset.filter(agreement__agreement_id=value)

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


class ProposalFilter(FilterSet):
    station = CodeFilter(
        model=STATION, fields=("seller_id", "buyer_id"), label="Seller or buyer code"
    )
    status = ChoicesFilter(choices=Proposal.Status.choices, method="filter_status")
    awaiting = django_filters.CharFilter(
        method="filter_awaiting",
        label="A station code: the open proposals waiting for that station's answer",
    )

    class Meta:
        model = Proposal
        fields = ("station", "status", "awaiting")

    def filter_status(self, queryset, name, value):
        # As the proposals read (Proposal.current_status): an open one past its time is
        # expired, whether or not the sweep (manage.py expire_proposals) has recorded it.
        now = timezone.now()
        lapsed = Q(status=Proposal.Status.OPEN, expires_at__lte=now)
        condition = Q(status__in=[v for v in value if v not in ("open", "expired")])
        if "open" in value:
            condition |= Q(status=Proposal.Status.OPEN, expires_at__gt=now)
        if "expired" in value:
            condition |= Q(status=Proposal.Status.EXPIRED) | lapsed
        return queryset.filter(condition)

    def filter_awaiting(self, queryset, name, value):
        station = directory.stations.by_code([value]).get(value)
        if station is None:
            return queryset.none()
        waiting_on_seller = Q(seller_id=station.pk, proposed_by_side=Proposal.Side.BUYER)
        waiting_on_buyer = Q(buyer_id=station.pk, proposed_by_side=Proposal.Side.SELLER)
        return queryset.filter(
            waiting_on_seller | waiting_on_buyer,
            status=Proposal.Status.OPEN,
            expires_at__gt=timezone.now(),
        )


class AgreementFilter(FilterSet):
    buyer = CodeFilter(model=STATION, fields=("buyer_id",), label="Buyer code (who granted it)")
    seller = CodeFilter(model=STATION, fields=("seller_id",), label="Seller code (who holds it)")
    station = CodeFilter(
        model=STATION, fields=("seller_id", "buyer_id"), label="Seller or buyer code"
    )
    active = StrictBooleanFilter(method="filter_active", label="In force now")

    class Meta:
        model = Agreement
        fields = ("buyer", "seller", "station", "active")

    def filter_active(self, queryset, name, value):
        live = Q(revoked_at__isnull=True) & (
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        return queryset.filter(live if value else ~live)
