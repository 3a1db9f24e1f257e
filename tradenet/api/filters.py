from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Q
from django_filters.fields import IsoDateTimeRangeField


class UTCIsoDateTimeRangeField(IsoDateTimeRangeField):
    """ISO 8601 bounds, normalised to UTC.

    PostgreSQL refuses UTC offsets beyond ±15:59 that Python accepts (+17:54 is valid ISO), so
    bounds are converted before they reach the database; one that cannot be is a 400.
    """

    def compress(self, data_list):
        bounds = super().compress(data_list)
        if bounds is None:
            return None
        try:
            start = bounds.start.astimezone(UTC) if bounds.start else None
            stop = bounds.stop.astimezone(UTC) if bounds.stop else None
        except OverflowError:
            raise forms.ValidationError("Date out of range.", code="overflow") from None
        return slice(start, stop)


class UTCIsoDateTimeFromToRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    field_class = UTCIsoDateTimeRangeField


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
