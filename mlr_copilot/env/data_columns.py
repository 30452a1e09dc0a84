"""The column names of the workspace's tables, in a few lines for the edit model.

The edit model sees only the script it rewrites, so it guesses what the tables hold: on a
rentals probe it "validated" a new pipeline against ``test["rent"]`` (the test table has no
target) and the run failed with ``KeyError: 'rent'``; on a tumour probe a copied list of 30
columns came back with misspelt names. Each table's header is read (a CSV's first line, a JSON
Lines file's first record, a Parquet file's schema; no data rows), from a bounded walk of the
workspace, so a huge workspace or table costs little.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from . import tables

MAX_TABLES = 6
MAX_DEPTH = 2  # folders below the workspace looked into (data/, data/raw/)
MAX_ENTRIES = 2_000  # names looked at in all
MAX_LISTED = 40  # a wider table shows its first and last columns and its count


def tables_note(workspace: Path, headers: list[tuple[str, list[str]]] | None = None) -> str:
    """"The data files ... and their columns" with one line per table (``headers``, when the
    caller read them already); "" when there is none."""
    lines, listed = [], {}
    for name, columns in table_headers(workspace) if headers is None else headers:
        lines.append(f"- {name}: {_like_another(columns, listed) or _listing(columns)}")
        listed[name] = columns
    if not lines:
        return ""
    return ("The data files in the workspace and their columns (a column a file does not list is not in it: "
            "a test file has no target column):\n" + "\n".join(lines))


def tables_paragraph(workspace: Path, instruction: str = "") -> str:
    """``tables_note`` as a paragraph of an edit prompt (blank lines around it), with
    ``date_parts_note`` for ``instruction``; "" without tables."""
    headers = table_headers(workspace)
    note = tables_note(workspace, headers)
    if not note:
        return ""
    parts = date_parts_note(instruction, [c for _, columns in headers for c in columns])
    return f"\n{note}\n" + (f"{parts}\n" if parts else "")


# a column's part an instruction may name as "<column>_<part>": pandas' .dt attribute for it
DATE_PARTS = {"weekday": "day_of_week", "day_of_week": "day_of_week", "dayofweek": "day_of_week",
              "hour": "hour", "day": "day", "month": "month", "year": "year", "dayofyear": "dayofyear"}
DATE_VALUE = re.compile(r"\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*")


def is_date(values) -> bool:
    """Whether non-missing text values (a pandas Series) are calendar dates ("2024-03-01",
    "01/03/2024", with or without a time): a bike-hire probe's only strong signal was the
    weekday of its "day" column."""
    import pandas as pd

    if values.empty or not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return False
    return bool(values.astype(str).str.fullmatch(DATE_VALUE).mean() >= 0.95)


def date_part(name: str, columns) -> tuple[str, str] | None:
    """(the column, pandas' .dt attribute) when ``name`` is one of ``columns`` joined to a date
    part ("timestamp_hour"), the longest such column first; else None."""
    for column in sorted(columns, key=len, reverse=True):
        part = name[len(column) + 1:] if name.startswith(f"{column}_") else None
        if part in DATE_PARTS:
            return column, DATE_PARTS[part]
    return None


def date_parts_note(instruction: str, columns: list[str]) -> str:
    """How to make the columns ``instruction`` names as a table column's date part
    ("timestamp_hour") when no table has them; "" when it names none. On an office-energy probe
    the agent asked for "the features 'timestamp_weekday', 'timestamp_month', 'timestamp_year'"
    without saying how to make them, the edit model put the names in the script's column list,
    and the script failed with a KeyError."""
    known = set(columns)
    made = []
    for word in dict.fromkeys(re.findall(r"\w+", instruction)):
        found = date_part(word, known) if word not in known else None
        if found:
            made.append(f"{word} = pd.to_datetime(table['{found[0]}']).dt.{found[1]}")
    if not made:
        return ""
    return ("No table has the date parts the instruction names: make each in every table the script reads, "
            "before it selects its columns: " + "; ".join(made) + ".")


def table_headers(workspace: Path) -> list[tuple[str, list[str]]]:
    """(path relative to ``workspace``, column names) of each table found, in path order."""
    found = []
    for path in _tables(Path(workspace)):
        columns = tables.column_names(path)
        if columns:
            found.append((path.relative_to(workspace).as_posix(), columns))
    return found


def _listing(columns: list[str]) -> str:
    if len(columns) <= MAX_LISTED:
        return ", ".join(columns)
    return f"{', '.join(columns[:12] + ['...'] + columns[-4:])} ({len(columns)} columns)"


def _like_another(columns: list[str], listed: dict[str, list[str]]) -> str | None:
    """A table that has another's columns but a few (a test table and its training table), said
    so in a few words: two listings of 30 names would cost the edit model seconds to read."""
    for name, other in listed.items():
        missing = [c for c in other if c not in columns]
        extra = [c for c in columns if c not in other]
        if len(columns) > 3 and not (missing and extra) and 0 < len(missing) + len(extra) <= 3:
            if missing:
                return f"the columns of {name} except {', '.join(missing)}"
            return f"the columns of {name} and {', '.join(extra)}"
    return None


def _tables(root: Path) -> list[Path]:
    found, seen = [], 0
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and depth < MAX_DEPTH)
        seen += len(dirs) + len(files)
        found += [Path(folder) / f for f in sorted(files)  # a link could point out of the workspace
                  if tables.is_table(Path(f)) and not (Path(folder) / f).is_symlink()]
        if seen > MAX_ENTRIES or len(found) >= MAX_TABLES:
            break
    return found[:MAX_TABLES]
