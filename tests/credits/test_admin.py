"""Accounts and entries in the admin: a station's operators read its account and entries and
no other station's; dispatch staff deposit, withdraw and set limits through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credits.models import Account, Entry

pytestmark = pytest.mark.django_db


def test_an_operator_sees_only_their_stations_account_and_cannot_change_it(client, ceres_op, vesta):
    client.force_login(ceres_op)
    listing = client.get("/admin/credits/account/").content.decode()
    assert "ceres-prime" in listing and "vesta-yards" not in listing
    own = Account.objects.get(station__code="ceres-prime")
    other = Account.objects.get(station=vesta)
    page = client.get(f"/admin/credits/account/{own.pk}/change/")
    assert page.status_code == 200 and b'name="deposit"' not in page.content  # view only
    assert client.get(f"/admin/credits/account/{other.pk}/change/").status_code == 302
    entries = client.get("/admin/credits/entry/").content.decode()
    assert "ceres-prime" in entries and "vesta-yards" not in entries


def test_dispatch_staff_deposit_and_set_a_limit_from_the_account_form(client, dispatcher, ceres):
    client.force_login(dispatcher)
    account = Account.objects.get(station=ceres)
    answer = client.post(
        f"/admin/credits/account/{account.pk}/change/",
        {"credit_limit": "250.00", "deposit": "40.50", "withdrawal": "", "memo": "grant"},
    )
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    account.refresh_from_db()
    assert (account.balance, account.credit_limit) == (Decimal("1000040.50"), 250)
    assert Entry.objects.filter(account=account, kind="deposit", memo="grant").count() == 1


def test_a_withdrawal_beyond_what_is_available_is_shown_and_moves_nothing(
    client, dispatcher, ceres
):
    client.force_login(dispatcher)
    account = Account.objects.get(station=ceres)
    answer = client.post(
        f"/admin/credits/account/{account.pk}/change/",
        {"credit_limit": "0.00", "deposit": "", "withdrawal": "2000000.00", "memo": ""},
        follow=True,
    )
    assert "Not enough credits at ceres-prime" in answer.content.decode()
    account.refresh_from_db()
    assert account.balance == Decimal("1000000.00")
