"""Reads of accounts, entries and settlements, as their callers (API, admin, pages) may see
them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import QuerySet, Sum

from inventory.access import visible_to
from inventory.models import Station
from inventory.selectors import bucket_ends

from .models import AVAILABLE, ZERO, Account, Entry, Transfer, spendable

# A trade's settlement as its clients read it.
SETTLEMENT_STATUS = {
    Transfer.Status.PENDING: "held",
    Transfer.Status.POSTED: "settled",
    Transfer.Status.VOIDED: "released",
}


def settlement_of(trade) -> dict | None:
    """{"status": held|settled|released, "amount"} for a trade, None before it is placed (or
    for a trade placed before credits existed). Served from the trade's cache when the hold
    was just written or the list selected it."""
    try:
        transfer = trade.settlement
    except ObjectDoesNotExist:
        return None
    return {"status": SETTLEMENT_STATUS[transfer.status], "amount": str(transfer.amount)}


@dataclass(frozen=True)
class Balances:
    station: str
    balance: Decimal
    held: Decimal
    incoming: Decimal
    credit_limit: Decimal
    as_of: datetime | None = None

    @property
    def available(self) -> Decimal:
        return spendable(self.balance, self.held, self.credit_limit)


def balances_of(station: Station) -> Balances:
    """A station's balances now (zeros for a station whose account is not opened yet)."""
    try:
        account = station.account  # selected with the station, or one query
    except ObjectDoesNotExist:
        return Balances(station.code, ZERO, ZERO, ZERO, ZERO)
    return Balances(
        station.code, account.balance, account.held, account.incoming, account.credit_limit
    )


def balances_as_of(station: Station, moment: datetime) -> Balances:
    """A station's balances as they stood at `moment`: its last entry at or before it (one
    index probe), as TigerBeetle's get_account_balances reads them."""
    last = (
        Entry.objects.filter(account__station=station, created_at__lte=moment)
        .order_by("-created_at", "-id")
        .values_list("balance_after", "held_after", "incoming_after", "credit_limit_after")
        .first()
    )
    balance, held, incoming, limit = last or (ZERO, ZERO, ZERO, ZERO)
    return Balances(station.code, balance, held, incoming, limit, as_of=moment)


def accounts_visible_to(user) -> QuerySet[Station]:
    """The stations whose accounts `user` may read (the same rule as their stock), each with
    its account in the same query."""
    return visible_to(Station.objects.select_related("account"), user, "pk")


def available_by_station() -> dict[int, Decimal]:
    """{station id: what its account may still spend}, every opened account in one query."""
    return {
        station_id: available
        for station_id, available in Account.objects.filter(station__isnull=False)
        .annotate(spendable=AVAILABLE)
        .values_list("station_id", "spendable")
    }


def lowest_available(user, count: int) -> list[dict]:
    """The `count` accounts of `user`'s stations with the least to spend."""
    accounts = (
        visible_to(Account.objects.filter(station__isnull=False), user, "station_id")
        .annotate(spendable=AVAILABLE)
        .order_by("spendable", "station__code")
        .values("station__code", "station__name", "spendable", "held", "balance")[:count]
    )
    return [
        {
            "station": a["station__code"],
            "name": a["station__name"],
            "available": a["spendable"],
            "held": a["held"],
            "balance": a["balance"],
        }
        for a in accounts
    ]


def entries_of(station: Station) -> QuerySet[Entry]:
    """A station's entries, newest first, with what their representation names."""
    return Entry.objects.filter(account__station=station).select_related(
        "transfer__trade", "transfer__consented_by", "transfer__agreement", "actor"
    )


def credits_total() -> Decimal:
    """The sum of every account's balance, the treasury's included: zero, always."""
    return Account.objects.aggregate(total=Sum("balance"))["total"] or ZERO


# An account's balances at the end of each bucket: its last entry at or before the moment
# (one probe of entry_account_idx per point).
HISTORY = """
SELECT e.at, last.balance_after, last.held_after, last.incoming_after, last.credit_limit_after
FROM unnest(%(ends)s::timestamptz[]) AS e(at)
LEFT JOIN LATERAL (
    SELECT balance_after, held_after, incoming_after, credit_limit_after FROM credits_entry
    WHERE account_id = %(account)s AND created_at <= e.at
    ORDER BY created_at DESC, id DESC LIMIT 1
) AS last ON true
ORDER BY e.at
"""


def balance_history(station: Station, *, start: datetime, end: datetime, interval: str) -> list:
    """[{"at", "balance", "available"}] at the end of each bucket from start to end."""
    account = Account.objects.filter(station=station).values_list("pk", flat=True).first()
    ends = bucket_ends(start, end, interval)
    if account is None:
        return [{"at": at, "balance": ZERO, "available": ZERO} for at in ends]
    with connection.cursor() as cursor:
        cursor.execute(HISTORY, {"ends": ends, "account": account})
        rows = cursor.fetchall()
    return [
        {
            "at": at,
            "balance": balance or ZERO,
            "available": spendable(balance or ZERO, held or ZERO, limit or ZERO),
        }
        for at, balance, held, _incoming, limit in rows
    ]
