"""Rows written in hand-built PostgreSQL statements, with the values the ORM itself would send.

Why: the money and success paths fold several writes into one statement (data-modifying CTEs: one round trip
instead of three or four, bench/RESULTS.md), which the ORM cannot express. The column names and values still come
from the models' own fields (`pre_save`, `get_db_prep_save`), so defaults, auto_now_add and JSON encoding are the
ORM's; every value is a parameter. Table and column names come from the models, never from input.
"""

from collections.abc import Sequence
from functools import lru_cache

from django.db import connection


def column_list(fields: Sequence) -> str:
    """The fields' quoted column names, comma-separated."""
    return _column_list(tuple(fields), connection.vendor)


@lru_cache(maxsize=64)
def _column_list(fields: tuple, vendor: str) -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in fields)


@lru_cache(maxsize=64)
def _typed_row(fields: tuple, vendor: str) -> str:
    # Cached: the column types never change in a process, and working them out was ~3 % of a generation's CPU.
    return "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in fields) + ")"


def typed_values(fields: Sequence, instances: Sequence) -> tuple[str, list]:
    """`(…), (…)` rows for a VALUES list and their parameters: one row per instance, as the ORM's INSERT would
    send it. Each placeholder is cast to its column's type, as VALUES would otherwise guess (a NULL alone in its
    column is text)."""
    row = _typed_row(tuple(fields), connection.vendor)
    params = [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection)
        for instance in instances
        for field in fields
    ]
    return ", ".join([row] * len(instances)), params


def insert_statement(instance) -> tuple[str, list]:
    """`INSERT INTO table (…) VALUES (…)` for an unsaved instance with its primary key set (no RETURNING)."""
    fields = instance._meta.concrete_fields
    values, params = typed_values(fields, [instance])
    return f"INSERT INTO {instance._meta.db_table} ({column_list(fields)}) VALUES {values}", params  # noqa: S608


def mark_saved(instances: Sequence) -> None:
    """Tell the ORM that rows written by hand exist (a later save() updates rather than inserts)."""
    for instance in instances:
        instance._state.adding, instance._state.db = False, connection.alias
