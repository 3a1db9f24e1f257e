"""One JSON shape for every API error.

    {"message": "...", "code": "...", "errors": {"field": ["..."]}, "detail": {...}}

`errors` comes with 400 (field-level messages; `non_field_errors` for the body as a whole);
`detail` with 409 (what was asked and what is possible). The schema documents it as the
component `Error` (core/api/schema.py).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db.models import ProtectedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.dbconn import check_pool
from core.errors import DomainError

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since you read it (If-Match does not match)."
    default_code = "precondition_failed"


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail as {field path: [messages]}."""
    flat: dict[str, list[str]] = {}

    def walk(value, path):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "non_field_errors" and path:
                    walk(inner, path)  # errors about the nested object as a whole
                elif isinstance(key, int):
                    walk(inner, f"{path}[{key}]")  # a list item, as DRF reports them
                else:
                    walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                flat.setdefault(path or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for index, inner in enumerate(value):
                    if inner:
                        walk(inner, f"{path}[{index}]")
        else:
            flat.setdefault(path or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return flat


def error_response(status_code: int, message: str, code: str, **extra) -> Response:
    body = {"message": message, "code": code}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status=status_code)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return error_response(exc.http_status, exc.message, exc.code, detail=exc.detail)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, ProtectedError):
        return error_response(
            409, "This record has history and cannot be deleted.", "protected", detail={}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):  # DRF reads the body before any parser sees it
        exc = PayloadTooLarge(
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )

    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # PostgreSQL is away (or a connection died with it): a transient state the caller can
        # retry, not a server bug. Idle pooled connections are checked at once, so the next
        # requests after its return do not each meet a dead one.
        logger.warning("database unavailable: %s", exc)
        check_pool()
        response = error_response(
            503, "The database is unavailable; try again shortly.", "database_unavailable"
        )
        response["Retry-After"] = "5"
        return response

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging take over

    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.items()), ("", ["Invalid input."]))
        # A person's sentence: the field the caller sent and what is wrong with it, or only
        # what is wrong with the body as a whole (never DRF's internal `non_field_errors`).
        field, messages = first
        message = messages[0] if field in ("", "non_field_errors") else f"{field}: {messages[0]}"
        response.data = {"message": message, "code": "invalid", "errors": errors}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {
            "message": str(detail),
            "code": codes if isinstance(codes, str) else "error",
        }
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["detail"] = {"retry_after_seconds": int(exc.wait)}
    return response
