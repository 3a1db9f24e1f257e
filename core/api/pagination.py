"""Cursor pagination whose input, the page size and the cursor, is checked like any other.

A page size is ASCII digits: `str.isdigit()` also takes `²` or `①`, which int() refuses (a
500). A cursor's position is read as the ordering column's type before it reaches a query:
a NUL in a code, an unparsable or out-of-range moment, or a word for a number would otherwise
fail in the database driver (a 500) or as a 400 about a column the caller never named. Every
bad cursor answers as DRF answers one it cannot decode, a 404 ("Invalid cursor: ..."), with
the code `invalid_cursor`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

from core.dbconn import planned_for_its_values
from core.text import UNSTORABLE

ASCII_DIGITS = re.compile(r"[0-9]+")


class NewestFirstCursorPagination(CursorPagination):
    """Opaque cursors over an indexed, append-mostly ordering: stable under inserts and
    constant-time at any depth, unlike page numbers or offsets."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_cursor_message = "Invalid cursor: follow a `next` or `previous` link as it was given."

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # decode_cursor reads the position as its column's type
        with planned_for_its_values(queryset.db):  # the page's query and its prefetches
            return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        """As DRF's (capped at max_page_size), but `page_size=abc`, `-1` or `²` is a 400
        naming the parameter: DRF silently answers the default page size."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        digits = raw.strip()
        if not ASCII_DIGITS.fullmatch(digits) or not digits.strip("0"):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        # More digits than a few is over the cap whatever they say (int() refuses over 4,300).
        number = digits.lstrip("0")
        return self.max_page_size if len(number) > 9 else min(int(number), self.max_page_size)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        return Cursor(cursor.offset, cursor.reverse, self._checked_position(cursor.position))

    def _invalid_cursor(self) -> NotFound:
        return NotFound(self.invalid_cursor_message, code="invalid_cursor")

    def _checked_position(self, position: str) -> str:
        """The cursor's position as its column reads it (a moment in UTC), or 404."""
        if UNSTORABLE.search(position):
            raise self._invalid_cursor()
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        except (AttributeError, FieldDoesNotExist):
            return position
        try:
            value = field.to_python(position)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise self._invalid_cursor() from None
        if isinstance(value, datetime):
            try:
                # PostgreSQL refuses offsets beyond ±15:59 and years past 9999 in UTC.
                value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
            except OverflowError:
                raise self._invalid_cursor() from None
            return str(value)
        return position


class CodeCursorPagination(NewestFirstCursorPagination):
    ordering = ("code",)
