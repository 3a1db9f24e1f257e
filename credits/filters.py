from core.api.filters import ChoicesFilter, FilterSet, UTCIsoDateTimeFilter

from .models import Entry


class EntryFilter(FilterSet):
    kind = ChoicesFilter(choices=Entry.Kind.choices)
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created at or after (ISO 8601)"
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", label="Created at or before (ISO 8601)"
    )

    class Meta:
        model = Entry
        fields = ("kind", "created_after", "created_before")
