"""Date-part columns an edited script reads but no table has, made where its tables are read.

Asked to use "the columns timestamp_weekday, ..., timestamp_hour (pd.to_datetime(table['timestamp'])
.dt.day_of_week, ...)", the edit model on an office-energy probe once put the names in the
script's column list and made none of them: ``KeyError: "['timestamp_weekday', ...] not in
index"``, and the agent's next move copied a data file onto itself. A string the script uses
that is a date column's name joined to a part (``data_columns.date_part``), which no table has
and the script never assigns, is made right after each top-level ``name = pd.read_csv("path")``
whose table has that date column (its first rows hold dates, ``data_columns.is_date``).
"""
from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

from . import tables
from .data_columns import date_part, is_date

SAMPLE_ROWS = 50  # rows read of a table to see that a column holds dates


def add_date_parts(code: str, workspace: Path, headers: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
    """(``code`` with the date parts it reads but nothing makes added after its table reads, a
    note per table); ``code`` unchanged when it has none or does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    known = {c for _, columns in headers for c in columns}
    wanted = _wanted_parts(tree, known)
    pandas = _pandas_alias(tree)
    if not wanted or pandas is None:
        return code, []
    columns_of = {PurePosixPath(path).as_posix(): columns for path, columns in headers}
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    inserts: dict[int, list[str]] = {}
    notes = []
    for stmt, name, path in _table_reads(tree, pandas):
        columns = columns_of.get(PurePosixPath(path).as_posix().removeprefix("./"), [])
        dated = {column for _, column, _ in wanted if column in columns and _holds_dates(workspace / path, column)}
        made = [(part, column, attribute) for part, column, attribute in wanted if column in dated]
        if not made:
            continue
        inserts[stmt.end_lineno] = [f'{name}["{part}"] = {pandas}.to_datetime({name}["{column}"]).dt.{attribute}\n'
                                    for part, column, attribute in made]
        notes.append(f"made {', '.join(part for part, _, _ in made)} in {name} (from its dates), right after "
                     f"{name} is read: the script reads {'it' if len(made) == 1 else 'them'} and no table has "
                     f"{'it' if len(made) == 1 else 'them'}")
    if not inserts:
        return code, []
    out = []
    for number, line in enumerate(lines, start=1):
        out.append(line)
        out.extend(inserts.get(number, []))
    return "".join(out), notes


def _wanted_parts(tree: ast.Module, known: set[str]) -> list[tuple[str, str, str]]:
    """(part column, date column, pandas attribute) for each string of the script that names a
    known column's date part, which no table has and the script never assigns itself."""
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assigned = {t.slice.value for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)}
    assigned |= {k.arg for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Attribute) and node.func.attr == "assign" for k in node.keywords}
    return [(text, *found) for text in sorted(strings - known - assigned) if (found := date_part(text, known))]


def _pandas_alias(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pandas":
                    return alias.asname or "pandas"
    return None


def _table_reads(tree: ast.Module, pandas: str):
    """(statement, name, path) of each top-level ``name = pandas.read_csv("path", ...)``."""
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        call = stmt.value
        reads = isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in tables.PANDAS_READERS and isinstance(call.func.value, ast.Name) \
            and call.func.value.id == pandas
        if reads and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            yield stmt, stmt.targets[0].id, call.args[0].value


def _holds_dates(path: Path, column: str) -> bool:
    """Whether the table's first rows hold text dates in ``column`` (``data_columns.is_date``)."""
    try:
        return is_date(tables.read_rows(path, SAMPLE_ROWS)[column].dropna())
    except Exception:  # noqa: BLE001 - a table that cannot be read is not changed for
        return False
