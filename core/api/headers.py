"""Request headers every app's views read the same way."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

# As long as the columns that keep a key (trades' idempotency records, credits' transfers).
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def idempotency_key(request) -> str | None:
    """The request's Idempotency-Key without surrounding blanks, or None when it has none; a
    400 naming the header when the key is empty, too long or not printable."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            {
                "Idempotency-Key": [
                    f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters."
                ]
            }
        )
    return key
