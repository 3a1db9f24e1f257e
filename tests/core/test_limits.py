"""A column's limits (a text's length, a decimal's size) are the model's: the serializers, forms
and services read them (core.limits), and the few constants that cannot are held to them
here."""

from __future__ import annotations

import re
from decimal import Decimal

from core.limits import decimal_size, largest, max_length
from credits.models import Account, Entry, Transfer
from tests.packages import PACKAGES, ROOT
from trades.models import Agreement, IdempotencyRecord, TradeLine

# A literal length or size outside the models, with why it is no column's.
LITERAL = re.compile(r"\b(?:max_length|max_digits|decimal_places)=\d+")
NOT_A_COLUMN = {
    ("core/api/auth_views.py", "max_length=4096"): "a password as typed, before hashing",
    ("trades/serializers.py", "max_length=200"): "how many commodities a list names",
    ("updates/integrations/webhooks/api.py", "max_length=64"): "a station's code: to read from "
    "inventory.Station.code",
}


def test_no_serializer_form_or_service_restates_a_column_limit():
    written = {
        (str(path.relative_to(ROOT)), literal)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "models.py"
        for literal in LITERAL.findall(path.read_text())
    }
    assert written - NOT_A_COLUMN.keys() == set()


def test_the_idempotency_header_is_as_long_as_the_keys_columns():
    # core.api.headers is below the apps that keep the key, so it states the length.
    from core.api.headers import MAX_IDEMPOTENCY_KEY_LENGTH

    assert max_length(IdempotencyRecord, "key") == MAX_IDEMPOTENCY_KEY_LENGTH
    assert max_length(Transfer, "idempotency_key") == MAX_IDEMPOTENCY_KEY_LENGTH


def test_the_highest_unit_price_is_the_columns():
    from trades.services import MAX_UNIT_PRICE

    assert largest(TradeLine, "unit_price") == MAX_UNIT_PRICE
    assert largest(Agreement, "max_unit_price") == MAX_UNIT_PRICE


def test_credits_have_one_size_and_the_largest_amount_fits_it():
    from credits.services import CENT, MAX_AMOUNT
    from trades.models import CREDITS

    columns = [
        (Account, "balance"),
        (Account, "held"),
        (Account, "incoming"),
        (Account, "credit_limit"),
        (Transfer, "amount"),
        (Entry, "balance_after"),
        (Agreement, "max_trade_total"),
        (Agreement, "max_outstanding"),
        (Agreement, "outstanding"),
    ]
    assert {tuple(decimal_size(model, name).items()) for model, name in columns} == {
        tuple(CREDITS.items())
    }
    assert Decimal(10) ** -CREDITS["decimal_places"] == CENT
    assert largest(Transfer, "amount") >= MAX_AMOUNT
