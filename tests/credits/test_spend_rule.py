"""The spend rule is written once (credits.models.spendable) and read three ways: by Python
(an account's `available`, the services' checks), by PostgreSQL in the trade's hold
(AVAILABLE_SQL, and AVAILABLE in queries) and by the CHECK account_available_non_negative. For
account states across the columns' whole range, the three agree: on what may be spent, and on
whether the row may stand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credits.ledger import HOLD
from credits.models import AVAILABLE, AVAILABLE_SQL, DIGITS, Account, spendable
from tests.factories import StationFactory

pytestmark = pytest.mark.django_db

LARGEST = 10 ** DIGITS["max_digits"] - 1  # in cents, as the columns hold them


def cents(c: int) -> Decimal:
    return Decimal(f"{c}E-2")  # exact, where arithmetic would round to 28 digits


def credits(low: int) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=low, max_value=LARGEST).map(cents)


# Near zero most of the time, where the rule's edge is; anywhere in the columns' range too.
near = st.integers(min_value=-10_000, max_value=10_000).map(cents)
balances = near | credits(-LARGEST)
non_negative = near.map(abs) | credits(0)

IN_SQL = f"""
SELECT {AVAILABLE_SQL}, {AVAILABLE_SQL} >= %s
FROM (VALUES (%s::numeric, %s::numeric, %s::numeric)) AS a(balance, held, credit_limit)
"""


@pytest.fixture
def account() -> Account:
    station = StationFactory()
    return Account.objects.get_or_create(station=station)[0]


def in_sql(balance: Decimal, held: Decimal, credit_limit: Decimal, amount: Decimal):
    with connection.cursor() as cursor:
        cursor.execute(IN_SQL, [amount, balance, held, credit_limit])
        return cursor.fetchone()


def the_check_accepts(account: Account, **amounts: Decimal) -> bool:
    try:
        with transaction.atomic():
            Account.objects.filter(pk=account.pk).update(**amounts)
    except IntegrityError as refused:
        assert "account_available_non_negative" in str(refused)
        return False
    return True


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(balance=balances, held=non_negative, credit_limit=non_negative, amount=non_negative)
@example(balance=Decimal("-0.01"), held=Decimal(0), credit_limit=Decimal("0.01"), amount=Decimal(0))
@example(balance=Decimal(0), held=Decimal("0.01"), credit_limit=Decimal(0), amount=Decimal(0))
@example(
    balance=cents(LARGEST),
    held=cents(LARGEST),
    credit_limit=Decimal("0.01"),
    amount=Decimal("0.01"),
)
def test_python_sql_and_the_check_agree_on_what_an_account_may_spend(
    account, balance, held, credit_limit, amount
):
    python = spendable(balance, held, credit_limit)
    sql, sql_may_pay = in_sql(balance, held, credit_limit, amount)
    assert sql == python
    assert sql_may_pay == (python >= amount)  # the trade's hold
    with transaction.atomic():  # undone: the accounts' zero sum is checked as the test ends
        accepted = the_check_accepts(account, balance=balance, held=held, credit_limit=credit_limit)
        assert accepted == (python >= 0)
        if accepted:
            row = Account.objects.annotate(spends=AVAILABLE).get(pk=account.pk)
            assert row.spends == python == row.available
        transaction.set_rollback(True)


def test_the_trades_hold_checks_the_buyer_by_the_rule():
    """Every trade's one statement pays only from an account the rule lets pay the amount."""
    assert f"station_id = %(buyer)s AND {AVAILABLE_SQL} >= %(amount)s" in HOLD
