"""Helpers shared by the accounts tests."""

from collections.abc import Callable

import pytest
from django.db import connection


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@pytest.fixture
def columns_containing(db) -> Callable[[str], list[str]]:
    """Find `table.column` for every column of every table whose text form contains a string.

    Tables and columns come from the live schema (not the models), so a copy of a key in
    the session table, the admin log or any third-party table is found too.
    """

    def find(needle: str) -> list[str]:
        quote = connection.ops.quote_name
        found = []
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                for column in connection.introspection.get_table_description(cursor, table):
                    # Names come from the schema itself and are quoted; the needle is a parameter.
                    sql = f"SELECT 1 FROM {quote(table)} WHERE CAST({quote(column.name)} AS TEXT) LIKE %s ESCAPE '\\'"  # noqa: S608
                    cursor.execute(sql + " LIMIT 1", [f"%{_escape_like(needle)}%"])
                    if cursor.fetchone():
                        found.append(f"{table}.{column.name}")
        return found

    return find
