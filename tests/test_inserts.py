"""Every INSERT written by hand (the trade's, the shipment's, the ledger's, the idempotency
claim's and the others) names only columns its model has, and every column the model cannot
do without: NOT NULL, with no database default. A new required field on Trade fails here
rather than on every trade.

The statements are the ones the code runs: each string literal holding `INSERT INTO`, in the
project's packages and the benchmarks; a module-level constant is read from its module once
imported (its f-string filled in: `{Trade._meta.db_table}`, an interpolated column list)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from django.apps import apps
from django.db import models

from tests.packages import PACKAGES, ROOT

# `INSERT INTO table (columns)`; a statement without its column list is reported.
INSERT = re.compile(r"\bINSERT\s+INTO\s+(\w+)\s*(?:\(([^()]*)\))?", re.IGNORECASE)
MENTION = re.compile(r"\bINSERT\s+INTO\b", re.IGNORECASE)
# The benchmarks' scripts are read, not imported: their statements are plain literals.
READ_ONLY = ("bench",)

# (table, column): why a statement may leave out a column the model requires. None yet.
EXCUSED: dict[tuple[str, str], str] = {}


def sources() -> list[Path]:
    return [
        path
        for folder in (*PACKAGES, *READ_ONLY)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def mentions_insert(node: ast.AST) -> bool:
    return any(
        isinstance(part, ast.Constant)
        and isinstance(part.value, str)
        and MENTION.search(part.value)
        for part in ast.walk(node)
    )


def statements(path: Path) -> list[tuple[str, str | None]]:
    """(where, text) for each literal holding an INSERT; text None where it cannot be read."""
    where = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str | None]] = []
    done: set[int] = set()
    for node in tree.body:  # module-level strings: as the module holds them
        if not (isinstance(node, ast.Assign) and mentions_insert(node.value)):
            continue
        [name] = [target.id for target in node.targets if isinstance(target, ast.Name)]
        if isinstance(node.value, ast.Constant):
            text = node.value.value
        elif where.startswith(READ_ONLY):
            continue
        else:
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            text = getattr(importlib.import_module(dotted), name)
            if not isinstance(text, str):
                continue
        found.append((f"{where}:{node.lineno} {name}", text))
        done |= {id(part) for part in ast.walk(node)}
    for node in ast.walk(tree):  # the others, as written
        if id(node) in done or not mentions_insert(node):
            continue
        if isinstance(node, ast.JoinedStr):  # an f-string in a function cannot be read here
            found.append((f"{where}:{node.lineno}", None))
            done |= {id(part) for part in ast.walk(node)}
        elif isinstance(node, ast.Constant):
            found.append((f"{where}:{node.lineno}", node.value))
    return found


def tables() -> dict[str, type[models.Model]]:
    return {model._meta.db_table: model for model in apps.get_models(include_auto_created=True)}


def required(model: type[models.Model]) -> set[str]:
    """The columns an INSERT must name: NOT NULL, no database default, not generated."""
    return {
        field.column
        for field in model._meta.concrete_fields
        if not field.null
        and field.db_default is models.NOT_PROVIDED
        and not getattr(field, "generated", False)
        and not isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)
    }


def insertable(model: type[models.Model]) -> set[str]:
    return {
        field.column
        for field in model._meta.concrete_fields
        if not getattr(field, "generated", False)
    }


def problems_of(where: str, text: str | None, by_table) -> list[str]:
    if text is None:
        return [f"{where}: an INSERT built in a function from an f-string; make it a constant"]
    problems = []
    for table, listed in INSERT.findall(text):
        model = by_table.get(table)
        if model is None:
            problems.append(f"{where}: {table} is no model's table")
            continue
        if not listed.strip():
            problems.append(f"{where}: INSERT INTO {table} names no columns")
            continue
        columns = {column.strip().strip('"') for column in listed.split(",")}
        for column in sorted(columns - insertable(model)):
            problems.append(f"{where}: {table}.{column} is not a column of {model.__name__}")
        for column in sorted(required(model) - columns):
            if (table, column) not in EXCUSED:
                problems.append(f"{where}: INSERT INTO {table} leaves out {column} (NOT NULL)")
    return problems


def problems() -> list[str]:
    by_table = tables()
    return [
        problem
        for path in sources()
        for where, text in statements(path)
        for problem in problems_of(where, text, by_table)
    ]


def test_every_hand_written_insert_names_every_column_its_model_requires():
    assert problems() == []


def test_the_statements_are_found():
    """The check reads the statements it is about (it would pass on none)."""
    written = {
        table
        for path in sources()
        for _, text in statements(path)
        for table, _ in INSERT.findall(text or "")
    }
    assert {
        "trades_trade",
        "trades_tradeline",
        "trades_idempotencyrecord",
        "cargo_cargo",
        "cargo_trackingevent",
        "credits_account",
        "credits_transfer",
        "credits_entry",
        "inventory_stockmovement",
        "tradenet_outbox",
    } <= written


def test_a_column_left_out_or_unknown_is_caught():
    """The failures the check exists for, on copies of the trade's statement."""
    from trades.services import RECORD

    by_table = tables()
    assert problems_of("RECORD", RECORD, by_table) == []
    assert problems_of("RECORD", RECORD.replace("terms, ", "", 1), by_table) == [
        "RECORD: INSERT INTO trades_trade leaves out terms (NOT NULL)"
    ]
    assert problems_of("RECORD", RECORD.replace("terms, ", "terms_x, ", 1), by_table) == [
        "RECORD: trades_trade.terms_x is not a column of Trade",
        "RECORD: INSERT INTO trades_trade leaves out terms (NOT NULL)",
    ]
