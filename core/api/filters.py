from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db import models
from django.db.models import Q
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class CodeFilter(django_filters.CharFilter):
    """A filter by a directory code (a station's, a commodity's) on foreign key columns.

    The code is turned into its id first (one indexed lookup) rather than joined: with the id
    as a value, PostgreSQL walks the (fk, -created_at, -id) index in the list's order and stops
    after a page, and estimates an OR of two columns (a station as seller or buyer) from that
    station's own statistics, instead of joining every matching row and sorting them (which
    grows with the table). `fields` lists the columns, any of which may match.
    """

    def __init__(self, *args, model: str, fields: tuple[str, ...], **kwargs):
        self.model_label, self.columns = model, fields
        super().__init__(*args, **kwargs)

    def filter(self, queryset, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return queryset
        from django.apps import apps

        model = apps.get_model(self.model_label)
        found = model.objects.filter(code=value).values_list("pk", flat=True).first()
        if found is None:
            return queryset.none()
        condition = Q()
        for column in self.columns:
            condition |= Q(**{column: found})
        return queryset.filter(condition)


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    """One or more values of a column (`?status=a&status=b`).

    django-filter's MultipleChoiceFilter adds DISTINCT, for filters that cross to-many
    relations; on a column of the row itself it can only cost: PostgreSQL then sorts every
    matching row by every selected column instead of reading a page from an index (a list of
    a million trades filtered by status took 800 ms instead of a few).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    """`true`, `false`, `1` or `0` (any case); anything else is refused, not ignored.

    django-filter's BooleanFilter reads its value through a select widget that knows only
    `true`/`false`: `?overdue=1` or `?overdue=maybe` silently became "no filter".
    """

    TRUE, FALSE = {"true", "1"}, {"false", "0"}

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(
            f"{value!r} is not a boolean: use true, false, 1 or 0.", code="invalid"
        )


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, normalised to UTC.

    PostgreSQL refuses UTC offsets beyond ±15:59 that Python accepts (+17:54 is valid ISO), so
    the moment is converted before it reaches the database; one that cannot be is a 400.
    """

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date out of range.", code="overflow") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """One bound of a time range. `created_after` and `created_before` are two filters rather
    than one range filter, so that a bad value is reported under the parameter the caller sent
    (a range filter reports either as `created`)."""

    field_class = UTCIsoDateTimeField


class FilterSet(django_filters.FilterSet):
    """The API's filter sets: a model's boolean column filters strictly (StrictBooleanFilter)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, building `filterset_fields` on the strict FilterSet."""

    filterset_base = FilterSet


class StrictOrderingFilter(OrderingFilter):
    """DRF's ordering, but an unknown field is a 400 naming `ordering` and what it allows (DRF
    drops it without a word, and the caller reads a list in an order they did not ask for).

    A view that names no `ordering_fields` is ordered only by the column it is sorted by: DRF
    would offer every field of its serializer, among them a related one (`actor__username`),
    which cursor pagination cannot read a position from (a 500 from the second page on), or a
    column of a few values (`kind`), which it cannot page through."""

    def get_default_valid_fields(self, queryset, view, context=None):
        ordering = self.get_default_ordering(view) or ()
        return [(name, name) for name in (field.lstrip("-") for field in ordering[:1])]

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) != len([field for field in fields if field]):
            allowed = sorted(
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            )
            asked = ", ".join(field for field in fields if field and field not in valid)
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {asked}; use {', '.join(allowed)} (- for descending)."
                    ]
                }
            )
        return valid
