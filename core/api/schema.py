"""Document the shared error shape on every operation of the schema, and that request bodies
take no field they do not name (core/api/serializers.py refuses unknown fields)."""

from __future__ import annotations

ERROR_RESPONSES = {
    "400": "Invalid input: field-level messages in `errors`.",
    "401": "Not signed in: send `Authorization: Token <token>`.",
    "403": "Signed in, but you do not operate the station concerned.",
    "404": "No such record.",
    "405": "Method not allowed on this route.",
    "406": "Cannot answer in the requested format.",
    "409": "Business conflict (not enough stock, a forbidden transition): see `detail`.",
    "412": "If-Match does not match the current ETag.",
    "415": "Send JSON (`Content-Type: application/json`).",
    "429": "Too many requests: slow down (see `Retry-After`).",
}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "detail": {"type": "object", "additionalProperties": True},
    },
    "required": ["message", "code"],
}

PUBLIC_PATHS = ("/api/schema/", "/api/docs/")


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        # COMPONENT_SPLIT_REQUEST: the bodies clients send are the `...Request` components.
        if name.endswith("Request") and schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
    schemas["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            # A view that names an error status (to say when it comes, as `422: None`) answers
            # it in the error shape too: the body is the shared one unless it says otherwise.
            for status_code, declared in responses.items():
                if str(status_code).startswith("4") and "content" not in declared:
                    if declared.get("description") in (None, "", "No response body"):
                        declared["description"] = ERROR_RESPONSES.get(
                            str(status_code), "Refused: see `message` and `code`."
                        )
                    declared["content"] = {"application/json": {"schema": ref}}
            for status_code, description in ERROR_RESPONSES.items():
                if status_code in responses:
                    continue
                if path.startswith(PUBLIC_PATHS) and status_code in {"401", "403"}:
                    continue
                responses[status_code] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
    return result
