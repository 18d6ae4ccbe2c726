"""Small builders for WHERE clauses with parameters (never values spliced into SQL)."""
from __future__ import annotations


def month_range(column: str, first: str | None, last: str | None, params: list) -> str:
    """` AND column >= ? AND column <= ?` for the bounds given; appends them to `params`."""
    sql = ""
    if first:
        sql += f" AND {column} >= ?"
        params.append(first)
    if last:
        sql += f" AND {column} <= ?"
        params.append(last)
    return sql
