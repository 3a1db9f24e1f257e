from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Opaque cursors over an indexed, append-mostly ordering: stable under inserts and
    constant-time at any depth, unlike page numbers or offsets."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CodeCursorPagination(NewestFirstCursorPagination):
    ordering = ("code",)
