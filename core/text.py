"""Text: what PostgreSQL cannot store, and word search on free text.

NUL characters and unpaired surrogates (which JSON's \\uD800 escapes can produce) would fail
deep in the database driver as a 500; the API refuses both at the door (the URL in
core.middleware, bodies in core.api.parsers).

Word search on free text (a shipment's location note, a ledger row's reason) uses PostgreSQL's
full-text search with the 'simple' configuration: no language, no stemming, so codes and
numbers are words as typed; every word of the query must appear, whole, in any case. It is
served by a GIN index on `text_vector(field)` (see the models), which needs no extension: the
embedded PostgreSQL has no pg_trgm, so substring search (`icontains`) would read every row.

Quantities with their unit read as English: "1 crate", "100 crates", "2,500 units", "250 t".
`quantity_text` is the one rule, for every page, template (the `quantity` filter) and the
admin; the pages' JavaScript gets each unit's plural from the server (`unit_plural`), so
`website/static/website/text.js` only picks the form a number takes.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchVector

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

TEXT_CONFIG = "simple"


def text_vector(field: str) -> SearchVector:
    """The indexed expression of a free-text field (the models' GinIndex uses the same)."""
    return SearchVector(field, config=TEXT_CONFIG)


def words_query(text: str) -> SearchQuery | None:
    """Every word of `text`, whole and in any case ("Beacon 996" finds "relay beacon 996"), or
    None when it holds no word. Whole words rather than prefixes: PostgreSQL then skips
    through a common word's long list of rows using a rare word's short one; a prefix makes
    it read them all (8 ms instead of 0.2 for two words over a million notes)."""
    if not re.search(r"\w", text):
        return None
    return SearchQuery(text, config=TEXT_CONFIG, search_type="plain")


# Units written as symbols never take a plural: "250 t", "3 kg". Every one- or two-letter unit
# is taken for one, as is anything but a plain lowercase word ("m³", "kWh", "L").
UNIT_SYMBOLS = frozenset({"mol", "kwh", "mwh", "gwh", "kcal"})
WORD = re.compile("[a-z]+")


def unit_plural(unit: str) -> str:
    """What `unit` reads as for any number but one: "crate" → "crates", "box" → "boxes",
    "battery" → "batteries"; a symbol ("t", "kg", "m³") as it is."""
    if len(unit) <= 2 or unit in UNIT_SYMBOLS or not WORD.fullmatch(unit):
        return unit
    if unit.endswith(("s", "x", "z", "ch", "sh")):
        return unit + "es"
    if unit.endswith("y") and unit[-2:-1] not in "aeiou":
        return unit[:-1] + "ies"
    return unit + "s"


def quantity_text(quantity: int, unit: str = "") -> str:
    """A whole quantity with its unit, grouped by thousands: "1 crate", "2,500 units",
    "250 t"; with no unit, the number alone."""
    unit = unit if abs(quantity) == 1 else unit_plural(unit)
    return f"{quantity:,} {unit}".rstrip()
