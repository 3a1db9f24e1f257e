"""Credits: every station's account, the treasury's, the transfers between them and the
append-only entries that record every change (docs/domain.md#credits).

An account keeps its posted `balance`, what it has `held` for pending outgoing transfers, its
`incoming` pending transfers and a `credit_limit`. What it may still spend is
`balance - held + credit_limit` (`spendable`, the one place the rule is written), never below
zero (a CHECK behind the services' row locks); only the treasury, which issues and withdraws
credits, goes negative. The balances of all accounts, treasury included, sum to zero at every
commit (a deferred constraint trigger, migration 0001).
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext
from typing import overload

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import CombinedExpression
from django.db.models.lookups import GreaterThanOrEqual

from core.limits import DecimalSize

# Credits to the centicredit. 32 digits: the largest trade the API accepts (200 lines of a
# billion units at a trillion credits less a centicredit) settles with room to spare.
DIGITS: DecimalSize = {"max_digits": 32, "decimal_places": 2}
ZERO = Decimal("0.00")
# Enough digits for a sum of amounts as the columns hold them, kept to the cent.
EXACT = Context(prec=DIGITS["max_digits"] + 2)


class Column(str):
    """A column in SQL text, that arithmetic writes out as SQL (for AVAILABLE_SQL)."""

    def __sub__(self, other: str) -> Column:
        return Column(f"({self} - {other})")

    def __add__(self, other: str) -> Column:
        return Column(f"({self} + {other})")


@overload
def spendable(balance: Decimal, held: Decimal, credit_limit: Decimal) -> Decimal: ...
@overload
def spendable(balance: Column, held: Column, credit_limit: Column) -> Column: ...
@overload
def spendable(balance: F, held: F, credit_limit: F) -> CombinedExpression: ...
def spendable(balance, held, credit_limit):
    """What an account may still spend (its `available`): never below zero but for the
    treasury's. The spend rule, written once: applied to Decimals it is the Python answer,
    to F() the expression of queries and of the CHECK (AVAILABLE), to SQL columns the text of
    the trade's hold (AVAILABLE_SQL); tests/credits/test_spend_rule.py holds the three to
    agree. Decimals are added exactly (the default context keeps 28 digits, the columns 32)."""
    with localcontext(EXACT):
        return balance - held + credit_limit


# The rule for queries over accounts and for the CHECK; and as SQL over the columns of
# credits_account (or of a row with its column names: credits.ledger's HOLD).
AVAILABLE = spendable(F("balance"), F("held"), F("credit_limit"))
AVAILABLE_SQL = spendable(Column("balance"), Column("held"), Column("credit_limit"))


def acting_user() -> models.ForeignKey:
    """Who asked for a transfer or made an entry: kept as long as the record (PROTECT) and not
    indexed, as nothing looks records up by user and users are deactivated, never deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )


class Account(models.Model):
    station = models.OneToOneField(
        "inventory.Station",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="account",
        help_text="Empty for the treasury.",
    )
    is_treasury = models.BooleanField(default=False, editable=False)
    balance = models.DecimalField(default=ZERO, editable=False, **DIGITS)
    held = models.DecimalField(
        default=ZERO, editable=False, help_text="Pending outgoing transfers.", **DIGITS
    )
    incoming = models.DecimalField(
        default=ZERO, editable=False, help_text="Pending incoming transfers.", **DIGITS
    )
    credit_limit = models.DecimalField(
        default=ZERO, help_text="How far the balance may go below zero.", **DIGITS
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_treasury=True) | Q(GreaterThanOrEqual(AVAILABLE, 0)),
                name="account_available_non_negative",
                violation_error_message="An account may not spend more than it has.",
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="account_held_non_negative"),
            models.CheckConstraint(
                condition=Q(incoming__gte=0), name="account_incoming_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__gte=0), name="account_credit_limit_non_negative"
            ),
            # The treasury has no station, takes part in no pending transfer and has no limit;
            # every other account has its station.
            models.CheckConstraint(
                condition=Q(is_treasury=False, station__isnull=False)
                | Q(is_treasury=True, station__isnull=True, held=0, incoming=0, credit_limit=0),
                name="account_treasury_or_station",
            ),
            models.UniqueConstraint(
                fields=["is_treasury"], condition=Q(is_treasury=True), name="account_one_treasury"
            ),
        ]

    def __str__(self) -> str:
        return "treasury" if self.is_treasury else f"{self.station.code}"

    @property
    def available(self) -> Decimal:
        return spendable(self.balance, self.held, self.credit_limit)


class Transfer(models.Model):
    """Credits moving from one account to another. A trade's is two-phase (TigerBeetle's
    pending transfer): held when the trade is placed, then posted or voided exactly once;
    deposits and withdrawals are posted at once."""

    class Kind(models.TextChoices):
        TRADE = "trade", "Trade"
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        VOIDED = "voided", "Voided"
        # Refused (a withdrawal beyond what is available) under an Idempotency-Key: kept so
        # that a retry with the key is refused again (TigerBeetle's id_already_failed).
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    # Every trade writes a transfer, so it carries only the indexes a read needs: nothing looks
    # transfers up by account, and accounts and users are never deleted (users are
    # deactivated), so their foreign keys go unindexed.
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = models.DecimalField(**DIGITS)
    trade = models.OneToOneField(
        "trades.Trade",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settlement",
    )

    class Consent(models.TextChoices):
        # Whose say let a trade's debit commit (trades.consent): the paying station's own
        # operator (placing or accepting it), a standing agreement it granted, dispatch staff,
        # or the server itself (a manage.py command). Deposits and withdrawals are dispatch's.
        OPERATOR = "operator", "The station's operator"
        AGREEMENT = "agreement", "A standing agreement"
        DISPATCH = "dispatch", "Dispatch staff"
        SYSTEM = "system", "The server (a command)"

    consent = models.CharField(
        max_length=16, choices=Consent.choices, blank=True, default="", db_default=""
    )
    consented_by = acting_user()
    agreement = models.ForeignKey(
        "trades.Agreement",  # by label: this app does not import the trades app
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # looked up through the trade
    )
    memo = models.CharField(max_length=255, blank=True, default="")
    failure = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    # Looked up only with its key (transfer_idempotency_key_unique).
    requested_by = acting_user()
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="transfer_amount_ok"),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")), name="transfer_two_accounts"
            ),
            models.CheckConstraint(
                condition=Q(trade__isnull=True) | Q(kind="trade"), name="transfer_trade_kind"
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="transfer_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.status})"


class Entry(models.Model):
    """One change of one account, with what the account holds after it. Append-only: a
    trigger (migration 0001) refuses UPDATE and DELETE; a correction is a new entry."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        HOLD = "hold", "Hold (trade placed)"
        SETTLEMENT = "settlement", "Settlement (trade posted)"
        RELEASE = "release", "Release (trade voided)"
        CREDIT_LIMIT = "credit_limit", "Credit limit"

    # What an entry records of the change and of the account after it (for its readers).
    AMOUNTS = (
        "balance_delta",
        "held_delta",
        "incoming_delta",
        "balance_after",
        "held_after",
        "incoming_after",
    )

    # Two entries per trade: indexed only as an account's entries are read (below), which
    # also serves the account's foreign key; transfers and users are never deleted.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    transfer = models.ForeignKey(
        Transfer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        db_index=False,
    )
    balance_delta = models.DecimalField(default=ZERO, **DIGITS)
    held_delta = models.DecimalField(default=ZERO, **DIGITS)
    incoming_delta = models.DecimalField(default=ZERO, **DIGITS)
    balance_after = models.DecimalField(**DIGITS)
    held_after = models.DecimalField(**DIGITS)
    incoming_after = models.DecimalField(**DIGITS)
    credit_limit_after = models.DecimalField(**DIGITS)
    memo = models.CharField(max_length=255, blank=True, default="")
    actor = acting_user()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "entries"
        indexes = [
            # An account's entries newest first, and its balances as of a moment.
            models.Index(fields=["account", "-created_at", "-id"], name="entry_account_idx"),
            models.Index(
                fields=["account", "kind", "-created_at", "-id"], name="entry_account_kind_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.account}"

    @property
    def available_after(self) -> Decimal:
        return spendable(self.balance_after, self.held_after, self.credit_limit_after)
