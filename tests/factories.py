from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from credits.services import credits_deposit
from inventory.models import Commodity, Station
from inventory.services import stock_open
from trades.services import LineSpec, trade_initiate


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-correct-horse-42")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


TEST_FUNDS = "1000000.00"


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"station-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = Station.Kind.STATION
    x = factory.Sequence(lambda n: float(n))
    y = 0.0
    z = 0.0

    @factory.post_generation
    def funds(obj, create, extracted, **kwargs):
        """Credits to buy with, deposited from the treasury: a million unless `funds=` says
        otherwise (`funds=0`: none)."""
        amount = Decimal(TEST_FUNDS if extracted is None else extracted)
        if create and amount:
            credits_deposit(station=obj, amount=amount, memo="test funds")


class CommodityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commodity

    code = factory.Sequence(lambda n: f"commodity-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    unit = "t"


def give_stock(station: Station, commodity: Commodity, quantity: int) -> None:
    """Opening stock through the ledger, as seeding records it."""
    stock_open([(station, commodity, quantity)])


def make_trade(seller, buyer, *lines, actor=None):
    """lines: (commodity, quantity) or (commodity, quantity, unit_price)."""
    specs = [
        LineSpec(line[0], line[1], Decimal(line[2]) if len(line) > 2 else Decimal("10.00"))
        for line in lines
    ]
    return trade_initiate(seller=seller, buyer=buyer, lines=specs, actor=actor)


def grant_agreement(buyer, seller, **limits):
    """A standing agreement `buyer` grants `seller`, as its operators would: every commodity
    and room for any test's trades unless `limits` say otherwise."""
    from trades.agreements import agreement_grant

    terms = {
        "max_unit_price": Decimal("999999999999.99"),
        "max_trade_total": Decimal(10) ** 20,
        "max_outstanding": Decimal(10) ** 21,
    }
    terms |= limits
    terms["max_trade_total"] = min(terms["max_trade_total"], terms["max_outstanding"])
    return agreement_grant(buyer=buyer, seller=seller, **terms)
