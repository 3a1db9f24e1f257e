from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
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
