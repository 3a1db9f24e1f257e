"""How credits are written: accounts locked in one fixed order, then each change in one
statement: the transfer, the accounts and their entries (docs/domain.md#credits). What an
account may spend is credits.models.spendable, which the trade's hold below checks in its SQL
(AVAILABLE_SQL); the other rules (what a trade's end does to its hold) are credits.services';
this module only locks and writes.

Accounts are locked in their primary key's order and always after the stock rows of the same
operation (placing a trade moves its stock, then holds its credits: trades.placement), so
concurrent trades, deposits and settlements serialise instead of overspending or deadlocking;
the CHECK constraints stand behind the services' checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.db import connection

from core import events
from core.actors import user_or_none
from credits.events import ACCOUNT_CHANGED

from .errors import TransferFailed
from .models import AVAILABLE_SQL, ZERO, Account, Entry, spendable


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


def open_accounts(station_ids: list[int]) -> None:
    """Open an account for each of `station_ids` that has none (a station seeded in bulk)."""
    with connection.cursor() as cursor:
        cursor.execute(OPEN_MISSING, [station_ids])


def _lock(where: str, params) -> list[LockedAccount]:
    with connection.cursor() as cursor:
        cursor.execute(LOCK.format(where=where), params)
        return [LockedAccount(*row) for row in cursor.fetchall()]


def lock_accounts(ids: list[int]) -> list[LockedAccount]:
    """The accounts `ids`, locked, in the order asked for."""
    locked = {a.id: a for a in _lock("a.id = ANY(%s)", [ids])}
    return [locked[i] for i in ids]


def lock_stations(station_ids: list[int], *, treasury: Account | None = None):
    """The accounts of `station_ids` in the order asked for, then the treasury's when given,
    all locked in one statement. A station without an account (seeded in bulk) has it opened
    first and is locked with the others again."""
    where, params = "a.station_id = ANY(%s)", [station_ids]
    if treasury is not None:
        where, params = f"{where} OR a.id = %s", [*params, treasury.pk]
    locked = _lock(where, params)
    by_station = {a.station_id: a for a in locked if a.station_id is not None}
    if len(by_station) < len(set(station_ids)):
        open_accounts([i for i in station_ids if i not in by_station])
        locked = _lock(where, params)
        by_station = {a.station_id: a for a in locked if a.station_id is not None}
    accounts = [by_station[i] for i in station_ids]
    if treasury is not None:
        accounts.append(next(a for a in locked if a.id == treasury.pk))
    return accounts


# The columns every new transfer and entry is written with, by HOLD and by WRITE alike.
INSERT_TRANSFER = """INSERT INTO credits_transfer
    (kind, status, debit_account_id, credit_account_id, amount, trade_id, memo, failure,
     idempotency_key, requested_by_id, request_fingerprint, created_at, resolved_at, consent,
     consented_by_id, agreement_id)"""
INSERT_ENTRY = """INSERT INTO credits_entry
    (account_id, kind, transfer_id, balance_delta, held_delta, incoming_delta, balance_after,
     held_after, incoming_after, credit_limit_after, memo, actor_id, created_at)"""


# ---------------------------------------------------------------------------------------------
# A trade's hold. Every trade takes this path, so it is one statement: it locks both accounts
# in id order (after the trade's stock rows), and only if the buyer may spend the amount writes
# the transfer, both accounts and their entries. A row per locked account: its station, its
# amounts after the hold (or as they stand, when refused), the transfer and when, its id.
HOLD = f"""
WITH locked AS (
    SELECT id, station_id, balance, held, incoming, credit_limit FROM credits_account
    WHERE station_id IN (%(buyer)s, %(seller)s) ORDER BY id FOR UPDATE
),
payer AS (
    SELECT id FROM locked
    WHERE station_id = %(buyer)s AND {AVAILABLE_SQL} >= %(amount)s
        AND (SELECT count(*) FROM locked) = 2
),
transfer AS (
    {INSERT_TRANSFER}
    SELECT 'trade', 'pending', payer.id, seller.id, %(amount)s, %(trade)s, '', '', '',
           %(user)s, '', statement_timestamp(), NULL, %(consent)s, %(consented_by)s::bigint,
           %(agreement)s::bigint
    FROM payer, locked AS seller WHERE seller.station_id = %(seller)s
    RETURNING id, debit_account_id, credit_account_id, created_at
),
moved AS (
    UPDATE credits_account AS a
    SET held = a.held + CASE WHEN a.id = t.debit_account_id THEN %(amount)s ELSE 0 END,
        incoming = a.incoming + CASE WHEN a.id = t.credit_account_id THEN %(amount)s ELSE 0 END,
        updated_at = statement_timestamp()
    FROM transfer AS t WHERE a.id IN (t.debit_account_id, t.credit_account_id)
    RETURNING a.id, a.balance, a.held, a.incoming, a.credit_limit, t.id AS transfer_id,
              t.created_at, a.id = t.debit_account_id AS pays
),
entries AS (
    {INSERT_ENTRY}
    SELECT id, 'hold', transfer_id, 0, CASE WHEN pays THEN %(amount)s ELSE 0 END,
           CASE WHEN pays THEN 0 ELSE %(amount)s END, balance, held, incoming, credit_limit,
           '', %(user)s, created_at
    FROM moved
)
SELECT l.station_id, l.id, coalesce(m.balance, l.balance), coalesce(m.held, l.held),
       coalesce(m.incoming, l.incoming), coalesce(m.credit_limit, l.credit_limit),
       m.transfer_id, m.created_at
FROM locked AS l LEFT JOIN moved AS m ON m.id = l.id
"""


@dataclass(frozen=True)
class Hold:
    buyer: LockedAccount  # after the hold, or as it stands when it was refused
    seller: LockedAccount
    transfer_id: int | None  # None: refused, the buyer may not spend the amount
    created_at: datetime | None


def hold(
    *,
    trade,
    amount: Decimal,
    user_id: int | None,
    consent: str,
    consented_by: int | None,
    agreement: int | None,
) -> Hold:
    """Hold `amount` from the trade's buyer for its seller, if the buyer may spend it, recording
    whose say allowed the debit; each account's event when it was held."""
    params = {
        "buyer": trade.buyer_id,
        "seller": trade.seller_id,
        "amount": amount,
        "trade": trade.pk,
        "user": user_id,
        "consent": consent,
        "consented_by": consented_by,
        "agreement": agreement,
    }
    with connection.cursor() as cursor:
        cursor.execute(HOLD, params)
        rows = cursor.fetchall()
        if len(rows) < 2:  # a station seeded in bulk has no account yet
            open_accounts([trade.buyer_id, trade.seller_id])
            cursor.execute(HOLD, params)
            rows = cursor.fetchall()
    by_station = {row[0]: row for row in rows}
    accounts = [
        LockedAccount(row[1], station.pk, station.code, *row[2:6])
        for station, row in (
            (trade.buyer, by_station[trade.buyer_id]),
            (trade.seller, by_station[trade.seller_id]),
        )
    ]
    transfer_id, created_at = by_station[trade.buyer_id][6:8]
    if transfer_id is not None:
        for account in accounts:
            events.announce(account_event(account, Entry.Kind.HOLD))
    return Hold(*accounts, transfer_id=transfer_id, created_at=created_at)


# ---------------------------------------------------------------------------------------------
# The writer of every other change: a transfer (new, or resolved), its accounts and their
# entries in one statement, then each station account's event.

WRITE = f"""
WITH transfer AS ({{transfer}}),
accounts AS (
    UPDATE credits_account AS a
    SET balance = v.balance, held = v.held, incoming = v.incoming,
        credit_limit = v.credit_limit, updated_at = statement_timestamp()
    FROM transfer, (VALUES {{account_rows}}) AS v(id, balance, held, incoming, credit_limit)
    WHERE a.id = v.id
    RETURNING a.id
)
{INSERT_ENTRY}
SELECT e.account, e.kind, transfer.id, e.bd, e.hd, e.idl, e.ba, e.ha, e.ia, e.cl, %s, %s,
       statement_timestamp()
FROM transfer, (VALUES {{entry_rows}}) AS e(account, kind, bd, hd, idl, ba, ha, ia, cl)
RETURNING transfer_id, created_at
"""
NEW_TRANSFER = f"""
{INSERT_TRANSFER}
VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s, statement_timestamp(),
        CASE WHEN %s = 'pending' THEN NULL ELSE statement_timestamp() END, %s, %s, NULL)
RETURNING id
"""
RESOLVE_TRANSFER = """
UPDATE credits_transfer SET status = %s, resolved_at = statement_timestamp()
WHERE id = %s AND status = 'pending' RETURNING id
"""
NO_TRANSFER = "SELECT NULL::bigint AS id"
ACCOUNT_ROW = "(%s::bigint, %s::numeric, %s::numeric, %s::numeric, %s::numeric)"
ENTRY_ROW = "(%s::bigint, %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric)"  # noqa: E501


def write(moves, *, transfer=None, actor=None, memo: str = "", resolving=False) -> None:
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
            transfer.consent,
            transfer.consented_by_id,
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
        type=ACCOUNT_CHANGED,
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
