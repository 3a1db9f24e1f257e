"""A check of schemathesis's, loaded by tests/tradenet/test_api_live.py (SCHEMATHESIS_HOOKS): every
4xx the API answers is in its error shape (core/api/errors.py), whatever the request."""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def error_shape(ctx, response, case):
    """A 4xx body is a JSON object with a `message` and a `code` (strings); `errors`, when
    present (always with `code: invalid`), maps each field to a list of strings; `detail`, when
    present, is an object; and nothing else."""
    if not 400 <= response.status_code < 500:
        return None
    where = f"{response.status_code} to {case.method} {case.formatted_path}"
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{where}: the body is not JSON: {response.content[:200]!r}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"{where}: the body is not a JSON object: {body!r}")
    for key in ("message", "code"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise AssertionError(f"{where}: no `{key}` string in {body!r}")
    errors = body.get("errors")
    if body["code"] == "invalid" and errors is None:
        raise AssertionError(f"{where}: `code: invalid` without `errors`: {body!r}")
    if errors is not None and not (
        isinstance(errors, dict)
        and errors
        and all(
            isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
            for messages in errors.values()
        )
    ):
        raise AssertionError(f"{where}: `errors` is not a field -> [messages] object: {body!r}")
    if "detail" in body and not isinstance(body["detail"], dict):
        raise AssertionError(f"{where}: `detail` is not an object: {body!r}")
    unknown = set(body) - {"message", "code", "errors", "detail"}
    if unknown:
        raise AssertionError(f"{where}: keys outside the error shape {sorted(unknown)}: {body!r}")
    return None
