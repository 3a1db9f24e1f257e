from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from tradenet.dbconn import planned_for_its_values


class NewestFirstCursorPagination(CursorPagination):
    """Opaque cursors over an indexed, append-mostly ordering: stable under inserts and
    constant-time at any depth, unlike page numbers or offsets."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        with planned_for_its_values(queryset.db):  # the page's query and its prefetches
            return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        """As DRF's (capped at max_page_size), but `page_size=abc` or `-1` is a 400 naming the
        parameter: DRF silently answers the default page size."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        if not raw.strip().isdigit() or int(raw) < 1:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return min(int(raw), self.max_page_size)


class CodeCursorPagination(NewestFirstCursorPagination):
    ordering = ("code",)
