"""Every change of credits goes through this module (docs/domain.md#credits).

Accounts are locked in one fixed order (their primary key) and always after the stock rows of
the same operation (the stock moves first: the inventory app's receivers run before this
app's), so concurrent trades, deposits and settlements serialise instead of overspending or
deadlocking. What an account may spend is checked under the lock, with the CHECK constraints
behind it; each change is written in one statement: the transfer, the accounts and their
entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from inventory.models import Station
from tradenet import events
from tradenet.actors import user_or_none
from tradenet.errors import DomainError

from .errors import CreditLimitInUse, IdempotencyKeyReused, InsufficientCredits, TransferFailed
from .models import ZERO, Account, Entry, Transfer, spendable

Kind = Entry.Kind
Status = Transfer.Status

CENT = Decimal("0.01")
# The most one transfer or credit limit may be: more than the largest trade the API accepts
# (200 lines of 10^9 units at 10^12 credits), so every allowed trade settles.
MAX_AMOUNT = Decimal(10) ** 24 - CENT
# The most the treasury may have issued, so that no balance can outgrow its column.
MAX_ISSUED = Decimal(10) ** 27


@dataclass(frozen=True)
class LockedAccount:
    id: int
    station_id: int | None
    code: str | None  # the station's; None for the treasury
    balance: Decimal
    held: Decimal
    incoming: Decimal
    credit_limit: Decimal

    @property
    def available(self) -> Decimal:
        return spendable(self.balance, self.held, self.credit_limit)


@dataclass(frozen=True)
class Move:
    account: LockedAccount
    kind: str
    balance: Decimal = ZERO
    held: Decimal = ZERO
    incoming: Decimal = ZERO
    credit_limit: Decimal | None = None  # the new limit, for Kind.CREDIT_LIMIT

    @property
    def after(self) -> LockedAccount:
        a = self.account
        return replace(
            a,
            balance=a.balance + self.balance,
            held=a.held + self.held,
            incoming=a.incoming + self.incoming,
            credit_limit=a.credit_limit if self.credit_limit is None else self.credit_limit,
        )


# ---------------------------------------------------------------------------------------------
# Trades: hold when placed, post or void when the shipment's journey ends.


def settlement_hold(*, trade, actor=None) -> Transfer:
    """Hold the trade's total from the buyer for the seller (a pending transfer), in the
    placing transaction. Raises InsufficientCredits naming what is needed and available."""
    amount = _amount(trade.total, field="items", zero_ok=True, what="The trade's total")
    buyer, seller = _lock_stations([trade.buyer_id, trade.seller_id])
    if buyer.available < amount:
        raise InsufficientCredits(station=buyer.code, needed=amount, available=buyer.available)
    transfer = Transfer(
        kind=Transfer.Kind.TRADE,
        status=Status.PENDING,
        debit_account_id=buyer.id,
        credit_account_id=seller.id,
        amount=amount,
        trade=trade,  # also caches trade.settlement, for the answer and the trade's events
        requested_by=user_or_none(actor),
    )
    moves = [Move(buyer, Kind.HOLD, held=amount), Move(seller, Kind.HOLD, incoming=amount)]
    _write(moves, transfer=transfer, actor=actor)
    return transfer


# A trade at the end of its journey: what becomes of its hold. A lost shipment follows the
# trade's terms: at the seller's risk the buyer pays nothing; at the buyer's, it pays for what
# was shipped.
RESOLUTION = {
    ("completed", "seller_risk"): Status.POSTED,
    ("completed", "buyer_risk"): Status.POSTED,
    ("cancelled", "seller_risk"): Status.VOIDED,
    ("cancelled", "buyer_risk"): Status.VOIDED,
    ("failed", "seller_risk"): Status.VOIDED,
    ("failed", "buyer_risk"): Status.POSTED,
}


def settlement_resolve(*, trade, actor=None) -> Transfer | None:
    """Post or void the trade's hold once its status is final (trades.services calls this as
    the status changes); nothing for a trade still under way, or one placed before credits."""
    outcome = RESOLUTION.get((trade.status, trade.terms))
    if outcome is None:
        return None
    transfer = Transfer.objects.select_for_update().filter(trade_id=trade.pk).first()
    if transfer is None:
        return None
    transfer.trade = trade
    if transfer.status != Status.PENDING:  # resolved already: each transfer resolves once
        raise TransferFailed(
            f"The settlement of {trade.transaction_id} is already {transfer.status}.",
            status=transfer.status,
        )
    buyer, seller = _lock_accounts([transfer.debit_account_id, transfer.credit_account_id])
    amount = transfer.amount
    if outcome == Status.POSTED:
        moves = [
            Move(buyer, Kind.SETTLEMENT, balance=-amount, held=-amount),
            Move(seller, Kind.SETTLEMENT, balance=amount, incoming=-amount),
        ]
    else:
        moves = [
            Move(buyer, Kind.RELEASE, held=-amount),
            Move(seller, Kind.RELEASE, incoming=-amount),
        ]
    transfer.status = outcome
    _write(moves, transfer=transfer, actor=actor, resolving=True)
    return transfer


# ---------------------------------------------------------------------------------------------
# Deposits, withdrawals and credit limits (dispatch staff).


@dataclass(frozen=True)
class TransferOutcome:
    transfer: Transfer
    replayed: bool = False  # the answer to an earlier request with the same Idempotency-Key
    # Why it was refused: raised by the caller once the transaction has committed (under an
    # Idempotency-Key the refusal is recorded, a failed transfer without entries, so that a
    # retry is refused again instead of tried anew).
    refusal: DomainError | None = None


def credits_deposit(
    *, station: Station, amount: Decimal, memo: str = "", actor=None, idempotency_key=None
) -> TransferOutcome:
    """Issue `amount` from the treasury to the station."""
    return _treasury_transfer(Transfer.Kind.DEPOSIT, station, amount, memo, actor, idempotency_key)


def credits_withdraw(
    *, station: Station, amount: Decimal, memo: str = "", actor=None, idempotency_key=None
) -> TransferOutcome:
    """Take `amount` from the station back to the treasury; refused (InsufficientCredits)
    beyond what the station may spend."""
    return _treasury_transfer(
        Transfer.Kind.WITHDRAWAL, station, amount, memo, actor, idempotency_key
    )


def credits_set_limit(*, station: Station, credit_limit: Decimal, actor=None) -> Account:
    """Set how far the station's balance may go below zero; never below what is spent."""
    credit_limit = _amount(credit_limit, field="credit_limit", zero_ok=True)
    with transaction.atomic(), events.batch():
        (account,) = _lock_stations([station.pk])
        lowest = max(ZERO, account.held - account.balance)
        if credit_limit < lowest:
            raise CreditLimitInUse(station=station.code, requested=credit_limit, lowest=lowest)
        if credit_limit != account.credit_limit:
            _write([Move(account, Kind.CREDIT_LIMIT, credit_limit=credit_limit)], actor=actor)
    return Account.objects.select_related("station").get(pk=account.id)


def _treasury_transfer(kind, station, amount, memo, actor, key) -> TransferOutcome:
    amount = _amount(amount, field="amount")
    fingerprint = hashlib.sha256(f"{kind}\n{station.code}\n{amount}\n{memo}".encode()).hexdigest()
    with transaction.atomic(), events.batch():
        if key is not None:
            earlier = _earlier_transfer(actor, key, fingerprint)
            if earlier is not None:
                refusal = None
                if earlier.status == Status.FAILED:
                    refusal = TransferFailed(earlier.failure, station=station.code)
                return TransferOutcome(earlier, replayed=True, refusal=refusal)
        treasury = treasury_account()
        own, bank = _lock_stations([station.pk], treasury=treasury)
        debit, credit = (bank, own) if kind == Transfer.Kind.DEPOSIT else (own, bank)
        transfer = Transfer(
            kind=kind,
            status=Status.POSTED,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=amount,
            memo=memo,
            idempotency_key=key or "",
            requested_by=user_or_none(actor),
            request_fingerprint=fingerprint if key is not None else "",
        )
        refusal = None
        if kind == Transfer.Kind.WITHDRAWAL and own.available < amount:
            refusal = InsufficientCredits(
                station=station.code, needed=amount, available=own.available
            )
        if kind == Transfer.Kind.DEPOSIT and -(bank.balance - amount) > MAX_ISSUED:
            raise ValidationError(
                {"amount": [f"The treasury may issue at most {MAX_ISSUED} credits in all."]}
            )
        if refusal is not None:
            if key is None:
                raise refusal
            transfer.status, transfer.failure = Status.FAILED, refusal.message
            transfer.save()
            return TransferOutcome(transfer, refusal=refusal)
        entry_kind = Kind.DEPOSIT if kind == Transfer.Kind.DEPOSIT else Kind.WITHDRAWAL
        moves = [
            Move(debit, entry_kind, balance=-amount),
            Move(credit, entry_kind, balance=amount),
        ]
        _write(moves, transfer=transfer, actor=actor, memo=memo)
    return TransferOutcome(transfer)


def _earlier_transfer(actor, key: str, fingerprint: str) -> Transfer | None:
    """The transfer this user made with this key, if any (waiting for a concurrent request
    with the same key to finish first). A key used for another request is refused."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"credits:{getattr(actor, 'pk', None)}:{key}"],
        )
    earlier = (
        Transfer.objects.select_related("debit_account__station", "credit_account__station")
        .filter(requested_by=user_or_none(actor), idempotency_key=key)
        .first()
    )
    if earlier is None:
        return None
    if earlier.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different transfer. "
            "Use a new key for a new transfer."
        )
    return earlier


# What seed_stations gives each station it funds.
OPENING_FUNDS = Decimal("100000.00")
OPENING_MEMO = "opening funds"


def credits_open_funds(*, stations, amount: Decimal = OPENING_FUNDS, actor=None) -> int:
    """Deposit `amount` to each of `stations` that has never had a deposit (so seeding again
    funds nobody twice); how many were funded."""
    funded = set(
        Entry.objects.filter(kind=Kind.DEPOSIT, account__station__isnull=False)
        .values_list("account__station_id", flat=True)
        .distinct()
    )
    count = 0
    for station in stations:
        if station.pk not in funded:
            credits_deposit(station=station, amount=amount, memo=OPENING_MEMO, actor=actor)
            count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Accounts.


def treasury_account() -> Account:
    account, _ = Account.objects.get_or_create(is_treasury=True)
    return account


def account_open(*, station: Station) -> Account:
    account, _ = Account.objects.get_or_create(station=station)
    return account


LOCK = """
SELECT a.id, a.station_id, s.code, a.balance, a.held, a.incoming, a.credit_limit
FROM credits_account a LEFT JOIN inventory_station s ON s.id = a.station_id
WHERE {where} ORDER BY a.id FOR UPDATE OF a
"""
# Formance's order: accounts that do not exist yet are inserted before anything is locked.
OPEN_MISSING = """
INSERT INTO credits_account
    (station_id, is_treasury, balance, held, incoming, credit_limit, updated_at)
SELECT unnest(%s::bigint[]), false, 0, 0, 0, 0, now()
ON CONFLICT (station_id) DO NOTHING
"""


def _lock(where: str, params) -> list[LockedAccount]:
    with connection.cursor() as cursor:
        cursor.execute(LOCK.format(where=where), params)
        return [LockedAccount(*row) for row in cursor.fetchall()]


def _lock_accounts(ids: list[int]) -> list[LockedAccount]:
    """The accounts `ids`, locked, in the order asked for."""
    locked = {a.id: a for a in _lock("a.id = ANY(%s)", [ids])}
    return [locked[i] for i in ids]


def _lock_stations(station_ids: list[int], *, treasury: Account | None = None):
    """The accounts of `station_ids` in the order asked for, then the treasury's when given,
    all locked in one statement. A station without an account (seeded in bulk) has it opened
    first and is locked with the others again."""
    where, params = "a.station_id = ANY(%s)", [station_ids]
    if treasury is not None:
        where, params = f"{where} OR a.id = %s", [*params, treasury.pk]
    locked = _lock(where, params)
    by_station = {a.station_id: a for a in locked if a.station_id is not None}
    if len(by_station) < len(set(station_ids)):
        with connection.cursor() as cursor:
            cursor.execute(OPEN_MISSING, [[i for i in station_ids if i not in by_station]])
        locked = _lock(where, params)
        by_station = {a.station_id: a for a in locked if a.station_id is not None}
    accounts = [by_station[i] for i in station_ids]
    if treasury is not None:
        accounts.append(next(a for a in locked if a.id == treasury.pk))
    return accounts


def _amount(value, *, field: str, zero_ok: bool = False, what: str = "The amount") -> Decimal:
    """An amount of credits as the columns hold it, or a 400 naming `field`."""
    amount = Decimal(value)
    if amount != amount.quantize(CENT):
        raise ValidationError({field: ["Credits have at most 2 decimal places."]})
    if amount < 0 or (amount == 0 and not zero_ok):
        raise ValidationError({field: ["Must be greater than zero."]})
    if amount > MAX_AMOUNT:
        raise ValidationError({field: [f"{what} may be at most {MAX_AMOUNT} credits."]})
    return amount.quantize(CENT)


# ---------------------------------------------------------------------------------------------
# The one writer: a transfer (new, or resolved), its accounts and their entries in one
# statement, then each station account's event.

WRITE = """
WITH transfer AS ({transfer}),
accounts AS (
    UPDATE credits_account AS a
    SET balance = v.balance, held = v.held, incoming = v.incoming,
        credit_limit = v.credit_limit, updated_at = statement_timestamp()
    FROM transfer, (VALUES {account_rows}) AS v(id, balance, held, incoming, credit_limit)
    WHERE a.id = v.id
    RETURNING a.id
)
INSERT INTO credits_entry
    (account_id, kind, transfer_id, balance_delta, held_delta, incoming_delta, balance_after,
     held_after, incoming_after, credit_limit_after, memo, actor_id, created_at)
SELECT e.account, e.kind, transfer.id, e.bd, e.hd, e.idl, e.ba, e.ha, e.ia, e.cl, %s, %s,
       statement_timestamp()
FROM transfer, (VALUES {entry_rows}) AS e(account, kind, bd, hd, idl, ba, ha, ia, cl)
RETURNING transfer_id, created_at
"""
NEW_TRANSFER = """
INSERT INTO credits_transfer
    (kind, status, debit_account_id, credit_account_id, amount, trade_id, memo, failure,
     idempotency_key, requested_by_id, request_fingerprint, created_at, resolved_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s, statement_timestamp(),
        CASE WHEN %s = 'pending' THEN NULL ELSE statement_timestamp() END)
RETURNING id
"""
RESOLVE_TRANSFER = """
UPDATE credits_transfer SET status = %s, resolved_at = statement_timestamp()
WHERE id = %s AND status = 'pending' RETURNING id
"""
NO_TRANSFER = "SELECT NULL::bigint AS id"
ACCOUNT_ROW = "(%s::bigint, %s::numeric, %s::numeric, %s::numeric, %s::numeric)"
ENTRY_ROW = "(%s::bigint, %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric)"  # noqa: E501


def _write(moves, *, transfer=None, actor=None, memo: str = "", resolving=False) -> None:
    params: list = []
    if transfer is None:
        transfer_sql = NO_TRANSFER
    elif resolving:
        transfer_sql = RESOLVE_TRANSFER
        params += [transfer.status, transfer.pk]
    else:
        transfer_sql = NEW_TRANSFER
        params += [
            transfer.kind,
            transfer.status,
            transfer.debit_account_id,
            transfer.credit_account_id,
            transfer.amount,
            transfer.trade_id,
            transfer.memo,
            transfer.idempotency_key,
            transfer.requested_by_id,
            transfer.request_fingerprint,
            transfer.status,
        ]
    for move in moves:
        after = move.after
        params += [after.id, after.balance, after.held, after.incoming, after.credit_limit]
    params += [memo, getattr(user_or_none(actor), "pk", None)]  # the entries' memo and actor
    for move in moves:
        after = move.after
        params += [
            after.id,
            move.kind,
            move.balance,
            move.held,
            move.incoming,
            after.balance,
            after.held,
            after.incoming,
            after.credit_limit,
        ]
    sql = WRITE.format(
        transfer=transfer_sql,
        account_rows=", ".join([ACCOUNT_ROW] * len(moves)),
        entry_rows=", ".join([ENTRY_ROW] * len(moves)),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = cursor.fetchall()
    if len(written) != len(moves):  # a resolved transfer matched nothing: resolved already
        raise TransferFailed("The transfer was resolved already.")
    if transfer is not None and not resolving:
        # statement_timestamp(): the same moment for the transfer and its entries.
        transfer.pk, transfer.created_at = written[0]
    for move in moves:
        if move.account.code is not None:  # the treasury's changes are nobody's stream
            events.announce(account_event(move.after, move.kind))


def account_event(account: LockedAccount, kind: str) -> events.DomainEvent:
    return events.DomainEvent(
        type=events.ACCOUNT_CHANGED,
        payload={
            "station": account.code,
            "balance": str(account.balance),
            "held": str(account.held),
            "incoming": str(account.incoming),
            "available": str(account.available),
            "credit_limit": str(account.credit_limit),
            "kind": kind,
        },
        stations=(account.code,),
    )
