"""A model field's limits, for the serializers, forms and services that check a value before it
reaches the column: read from the field, never restated, so that a column widened by a
migration widens every check with it."""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict, cast

from django.db import connection, models


class DecimalSize(TypedDict):
    """A DecimalField's size, as the keyword arguments of a model's, a serializer's or a form's
    DecimalField (`DecimalField(**size)`)."""

    max_digits: int
    decimal_places: int


class IntegerRange(TypedDict):
    """An integer column's range, as a serializer's or a form's IntegerField takes it."""

    min_value: int
    max_value: int


def field(model: type[models.Model], name: str) -> models.Field:
    # Every limit is a concrete column's, never a relation's reverse side.
    return cast(models.Field, model._meta.get_field(name))


def max_length(model: type[models.Model], name: str) -> int:
    """The longest text the column takes."""
    length = field(model, name).max_length
    assert length is not None, f"{model.__name__}.{name} has no max_length"
    return length


def decimal_size(model: type[models.Model], name: str) -> DecimalSize:
    """`max_digits` and `decimal_places` of a DecimalField, for a serializer's or a form's."""
    return size(cast(models.DecimalField, field(model, name)))


def size(decimal: models.DecimalField) -> DecimalSize:
    """The same, of a field that is no model's (an expression's output field)."""
    return {"max_digits": decimal.max_digits, "decimal_places": decimal.decimal_places}


def largest(model: type[models.Model], name: str) -> Decimal:
    """The largest value a DecimalField's column holds: 999.99 for 5 digits, 2 places."""
    size = decimal_size(model, name)
    unit = Decimal(10) ** -size["decimal_places"]
    return Decimal(10) ** (size["max_digits"] - size["decimal_places"]) - unit


def size_of(most: Decimal) -> DecimalSize:
    """The size of a decimal field that holds every amount up to `most` (999.99: 5 digits,
    2 places), for a limit narrower than the column's."""
    _, digits, exponent = most.as_tuple()
    assert isinstance(exponent, int), f"{most} is not a finite amount"
    return {"max_digits": len(digits), "decimal_places": -exponent}


def integer_range(model: type[models.Model], name: str) -> IntegerRange:
    """`min_value` and `max_value` of an integer column, as the database holds it."""
    low, high = connection.ops.integer_field_range(field(model, name).get_internal_type())
    return {"min_value": low, "max_value": high}
