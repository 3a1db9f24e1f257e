"""Every change of credits goes through this module (docs/domain.md#credits): what may be
spent, held, posted or voided, checked under the locks that credits.ledger takes and written by
it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import transaction

from core import events, idempotency
from core.actors import Actor, user_or_none
from core.errors import DomainError
from inventory.models import Station

from .errors import CreditLimitInUse, InsufficientCredits, TransferFailed
from .ledger import Move, hold, lock_accounts, lock_stations, write
from .models import ZERO, Account, Entry, Transfer, spendable

Kind = Entry.Kind
Status = Transfer.Status

CENT = Decimal("0.01")
# The most one transfer or credit limit may be: more than the largest trade the API accepts
# (200 lines of 10^9 units at 10^12 credits), so every allowed trade settles.
MAX_AMOUNT = Decimal(10) ** 24 - CENT
# The most the treasury may have issued, so that no balance can outgrow its column.
MAX_ISSUED = Decimal(10) ** 27


# ---------------------------------------------------------------------------------------------
# Trades: hold when placed, post or void when the shipment's journey ends.


class SettledTrade(Protocol):
    """A trade, as its settlement sees it: trades.models.Trade, from the app above this one,
    which it does not import (credits.ledger's hold reads its stations too)."""

    @property
    def pk(self) -> Any: ...
    @property
    def transaction_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def terms(self) -> str: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def buyer(self) -> Station: ...
    @property
    def seller(self) -> Station: ...
    @property
    def buyer_id(self) -> int: ...
    @property
    def seller_id(self) -> int: ...


def settlement_hold(
    *,
    trade: SettledTrade,
    actor: Actor = None,
    consent: str = Transfer.Consent.SYSTEM,
    consented_by_id: int | None = None,
    agreement_id: int | None = None,
) -> Transfer:
    """Hold the trade's total from the buyer for the seller (a pending transfer), in the
    placing transaction, recording whose say let the buyer be debited (the trades app decides
    it: trades.consent). Raises InsufficientCredits naming what is needed and available."""
    amount = _amount(trade.total, field="items", zero_ok=True, what="The trade's total")
    user = user_or_none(actor)
    held = hold(
        trade=trade,
        amount=amount,
        user_id=getattr(user, "pk", None),
        consent=consent,
        consented_by=consented_by_id,
        agreement=agreement_id,
    )
    if held.transfer_id is None:
        buyer = held.buyer
        assert buyer.code is not None, "a trade's buyer is a station, never the treasury"
        raise InsufficientCredits(
            station=buyer.code,
            needed=amount,
            available=buyer.available,
            station_id=buyer.station_id,
        )
    assert held.created_at is not None, "a hold that was written has its moment"
    # The trade is a Trade (SettledTrade).
    transfer = Transfer(  # type: ignore[misc]
        pk=held.transfer_id,
        kind=Transfer.Kind.TRADE,
        status=Status.PENDING,
        debit_account_id=held.buyer.id,
        credit_account_id=held.seller.id,
        amount=amount,
        trade=trade,  # also caches trade.settlement, for the answer and the trade's events
        requested_by=user,
        consent=consent,
        consented_by_id=consented_by_id,
        agreement_id=agreement_id,
        created_at=held.created_at,
    )
    transfer._state.adding = False  # written by the hold
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


def settlement_resolve(*, trade: SettledTrade, actor: Actor = None) -> Transfer | None:
    """Post or void the trade's hold once its status is final (trades.settlement calls this as
    the status changes); nothing for a trade still under way, or one placed before credits."""
    outcome = RESOLUTION.get((trade.status, trade.terms))
    if outcome is None:
        return None
    transfer = Transfer.objects.select_for_update().filter(trade_id=trade.pk).first()
    if transfer is None:
        return None
    transfer.trade = trade  # type: ignore[assignment]  # a Trade (SettledTrade)
    if transfer.status != Status.PENDING:  # resolved already: each transfer resolves once
        raise TransferFailed(
            f"The settlement of {trade.transaction_id} is already {transfer.status}.",
            status=transfer.status,
        )
    buyer, seller = lock_accounts([transfer.debit_account_id, transfer.credit_account_id])
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
    write(moves, transfer=transfer, actor=actor, resolving=True)
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
    *,
    station: Station,
    amount: Decimal,
    memo: str = "",
    actor: Actor = None,
    idempotency_key: str | None = None,
) -> TransferOutcome:
    """Issue `amount` from the treasury to the station."""
    return _treasury_transfer(Transfer.Kind.DEPOSIT, station, amount, memo, actor, idempotency_key)


def credits_withdraw(
    *,
    station: Station,
    amount: Decimal,
    memo: str = "",
    actor: Actor = None,
    idempotency_key: str | None = None,
) -> TransferOutcome:
    """Take `amount` from the station back to the treasury; refused (InsufficientCredits)
    beyond what the station may spend."""
    return _treasury_transfer(
        Transfer.Kind.WITHDRAWAL, station, amount, memo, actor, idempotency_key
    )


def credits_set_limit(*, station: Station, credit_limit: Decimal, actor: Actor = None) -> Account:
    """Set how far the station's balance may go below zero; never below what is spent."""
    credit_limit = _amount(credit_limit, field="credit_limit", zero_ok=True)
    with transaction.atomic(), events.batch():
        (account,) = lock_stations([station.pk])
        # The least limit the spend rule allows: what the account would lack without one.
        lowest = max(ZERO, -spendable(account.balance, account.held, ZERO))
        if credit_limit < lowest:
            raise CreditLimitInUse(station=station.code, requested=credit_limit, lowest=lowest)
        if credit_limit != account.credit_limit:
            write([Move(account, Kind.CREDIT_LIMIT, credit_limit=credit_limit)], actor=actor)
    return Account.objects.select_related("station").get(pk=account.id)


def _treasury_transfer(
    kind: str, station: Station, amount: Decimal, memo: str, actor: Actor, key: str | None
) -> TransferOutcome:
    amount = _amount(amount, field="amount")
    fingerprint = idempotency.fingerprint(kind, str(station.code), str(amount), memo)
    with transaction.atomic(), events.batch():
        if key is not None:
            earlier = _earlier_transfer(actor, key, fingerprint)
            if earlier is not None:
                refusal: DomainError | None = None
                if earlier.status == Status.FAILED:
                    refusal = TransferFailed(earlier.failure, station=station.code)
                return TransferOutcome(earlier, replayed=True, refusal=refusal)
        treasury = treasury_account()
        own, bank = lock_stations([station.pk], treasury=treasury)
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
            # Only dispatch staff may deposit or withdraw (credits.views); no user: a command.
            consent=Transfer.Consent.DISPATCH if user_or_none(actor) else Transfer.Consent.SYSTEM,
            consented_by=user_or_none(actor),
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
        write(moves, transfer=transfer, actor=actor, memo=memo)
    return TransferOutcome(transfer)


def _earlier_transfer(actor: Actor, key: str, fingerprint: str) -> Transfer | None:
    """The transfer this user made with this key, if any (waiting for a concurrent request
    with the same key to finish first). A key used for another request is refused."""
    idempotency.wait_for_key("credits", getattr(actor, "pk", None), key)
    earlier = (
        Transfer.objects.select_related("debit_account__station", "credit_account__station")
        .filter(requested_by=user_or_none(actor), idempotency_key=key)
        .first()
    )
    return idempotency.replay_or_refuse(
        earlier, request_fingerprint=fingerprint, reused=REUSED, detail={}
    )


REUSED = (
    "This Idempotency-Key was already used for a different transfer. "
    "Use a new key for a new transfer."
)


# What seed_stations gives each station it funds.
OPENING_FUNDS = Decimal("100000.00")
OPENING_MEMO = "opening funds"


def credits_open_funds(
    *, stations: Iterable[Station], amount: Decimal = OPENING_FUNDS, actor: Actor = None
) -> int:
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


def _amount(
    value: Decimal | int | str, *, field: str, zero_ok: bool = False, what: str = "The amount"
) -> Decimal:
    """An amount of credits as the columns hold it, or a 400 naming `field`."""
    amount = Decimal(value)
    if amount != amount.quantize(CENT):
        raise ValidationError({field: ["Credits have at most 2 decimal places."]})
    if amount < 0 or (amount == 0 and not zero_ok):
        raise ValidationError({field: ["Must be greater than zero."]})
    if amount > MAX_AMOUNT:
        raise ValidationError({field: [f"{what} may be at most {MAX_AMOUNT} credits."]})
    return amount.quantize(CENT)
