"""Input serializers that take only what they name, in the JSON types they name.

DRF's defaults are lenient in two ways a write API should not be: fields it does not know are
dropped without a word (`{"status": "completed"}` on a new trade looked accepted), and an
IntegerField takes `"3"`, `2.0` or `true`. Here an unknown field is a 400 naming it, and a
whole number must be a JSON integer.
"""

from __future__ import annotations

import copy

from rest_framework import serializers


# A serializer whose fields are copied from the class's declared ones shallowly. DRF
# deep-copies every declared field for every serializer instance, which re-runs each field's
# __init__ (its validators made anew): an eighth of a worker's time answering trades
# (docs/performance.md, "Where a trade's CPU goes"). A field's declared instance is never bound
# or used itself, so a copy of its attributes, bound to the new serializer, is the same field.
# Nested serializers and list fields get their own copy of their child, bound to them. (No
# docstring: the API schema would take it for every serializer's description.)
class CopiedFields:
    def get_fields(self):
        return {name: fresh_copy(field) for name, field in self._declared_fields.items()}


# What a field caches once used (a nested serializer's bound fields, a validation's results):
# never carried into a copy, should a declared field have been used after all.
_CACHED = ("fields", "_validated_data", "_errors", "_data", "initial_data")


def fresh_copy(field):
    new = copy.copy(field)
    for name in _CACHED:
        new.__dict__.pop(name, None)
    child = getattr(field, "child", None)
    if child is not None:
        # Bound to its parent when the parent was made: all that binding set is the same for
        # the copy but the parent.
        new.child = fresh_copy(child)
        new.child.parent = new
    return new


# Refuses fields a serializer does not declare (StrictInputSerializer says how). No docstring:
# the API schema would take it for a serializer's description.
class RefusesUnknownFields:
    aliases: dict[str, str] = {}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = dict(data)
            for alias, name in self.aliases.items():
                if alias in data and name not in data:
                    data[name] = data.pop(alias)
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                allowed = ", ".join(sorted(writable))
                raise serializers.ValidationError(
                    {name: [f"Unknown field; allowed: {allowed}."] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictInputSerializer(RefusesUnknownFields, CopiedFields, serializers.Serializer):
    """Refuses fields it does not declare. A declared read-only field is let through (and
    ignored, as DRF does), so that a client may send back what it read. `aliases` maps another
    accepted name onto a declared field."""


# Its fields come from the model, so they are not CopiedFields.
class StrictModelInputSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    """StrictInputSerializer for a ModelSerializer that both reads and writes."""


class JSONIntegerField(serializers.IntegerField):
    """A whole number sent as a JSON integer: not a string, a fraction, an exponent or a bool."""

    default_error_messages = {
        "not_integer": "Must be a JSON integer (like 3), not {kind}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_integer", kind=_json_kind(data))
        return super().to_internal_value(data)


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object"
