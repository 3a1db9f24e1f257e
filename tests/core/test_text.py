"""Quantities with their unit read as English (core.text): the one rule every page, template
and admin list writes them by, and whose plurals the pages' scripts are given."""

from __future__ import annotations

import pytest

from core.text import quantity_text, unit_plural


@pytest.mark.parametrize(
    ("quantity", "unit", "text"),
    [
        (1, "unit", "1 unit"),
        (2, "unit", "2 units"),
        (1, "crate", "1 crate"),
        (100, "crate", "100 crates"),
        (250, "t", "250 t"),
        (1, "t", "1 t"),
        (2_500, "unit", "2,500 units"),
        (1_040, "kg", "1,040 kg"),
        (0, "crate", "0 crates"),
        (-1, "crate", "-1 crate"),
        (-40, "unit", "-40 units"),
        (1_000_000, "", "1,000,000"),
    ],
)
def test_a_quantity_reads_as_english(quantity, unit, text):
    assert quantity_text(quantity, unit) == text


@pytest.mark.parametrize(
    ("unit", "plural"),
    [
        ("unit", "units"),
        ("crate", "crates"),
        ("tonne", "tonnes"),
        ("barrel", "barrels"),
        ("box", "boxes"),
        ("batch", "batches"),
        ("flask", "flasks"),
        ("glass", "glasses"),
        ("battery", "batteries"),
        ("tray", "trays"),
    ],
)
def test_a_unit_that_is_a_word_takes_a_plural(unit, plural):
    assert unit_plural(unit) == plural


@pytest.mark.parametrize("symbol", ["t", "kg", "g", "l", "lb", "m³", "kWh", "L", "mol", ""])
def test_a_symbol_never_does(symbol):
    assert unit_plural(symbol) == symbol
    assert quantity_text(3, symbol) == f"3 {symbol}".rstrip()
