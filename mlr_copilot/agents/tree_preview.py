"""What the tree strategy reads of the workspace before the first node, once per run.

* ``data_preview``: a small, deterministic preview of the workspace (files and sizes; for
  each table (CSV, TSV, JSON Lines, Parquet) its shape, columns with types and first rows;
  the start of small text files), shown in the system prompt.
* ``text_column``: the free-text column of its tables, if any, which turns the model ideas of
  ``tree_models`` to text ones.
* ``mixed_columns``: input columns of text categories and with missing values, which the
  drafts are told to encode and fill.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from ..env import tables
from ..env.data_columns import DATE_PARTS, is_date, table_headers

PREVIEW_MAX_FILES = 15
PREVIEW_MAX_CSV = 4
PREVIEW_HEAD_ROWS = 2
PREVIEW_MAX_COLUMNS = 8  # wider tables show their first and last columns and a count
PREVIEW_TEXT_CHARS = 400
SKIP_NAMES = {"__pycache__", "research_log.log", ".ipynb_checkpoints"}
TEXT_SUFFIXES = {".txt", ".md", ".json", ".yaml", ".yml", ".cfg", ".ini"}
TEXT_MIN_CHARS = 25  # a column is free text when its values average this many characters
TEXT_MIN_WORDS = 4  # and this many words
TEXT_MIN_LETTERS = 0.5  # and at least this share of their characters (spaces aside) are letters
TABLE_SAMPLE_ROWS = 500  # rows read of each table to judge its columns
CATEGORY_MAX_VALUES = 50  # a text column with more distinct values is a name or an id, not a category
SUBMISSION_NAME = re.compile(r"sample|submission", re.IGNORECASE)  # output formats, not data
TIME_OF_DAY = re.compile(r"[ T](\d{1,2}):\d{2}")  # its hour
ID_NAME = re.compile(r"(^|[_\s])id$|^id[_\s]", re.IGNORECASE)


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_NAMES)
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".") and f not in SKIP_NAMES]
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _table_preview(path: Path) -> str:
    try:
        df = tables.read_rows(path, 200)
        rows, exact = tables.count_rows(path)
    except Exception as exc:  # noqa: BLE001 - a file pandas cannot read is described, not fatal
        return f"  (could not be read as a table: {type(exc).__name__})"
    cols = [f"{c} ({df[c].dtype})" for c in df.columns]
    if len(cols) > PREVIEW_MAX_COLUMNS:
        cols = cols[:PREVIEW_MAX_COLUMNS - 2] + [f"... {len(cols) - PREVIEW_MAX_COLUMNS} more ..."] \
            + cols[-2:]
    head = df.head(PREVIEW_HEAD_ROWS).to_string(index=False, max_cols=PREVIEW_MAX_COLUMNS, max_colwidth=24)
    return (f"  shape: {rows if exact else f'at least {rows}'} rows x {len(df.columns)} columns\n"
            f"  columns: {', '.join(cols)}\n  first rows:\n"
            + "\n".join("    " + line for line in head.splitlines()))


def text_column(workspace: Path) -> str | None:
    """The free-text column of the workspace's first tables (reviews, essays: values of at least
    ``TEXT_MIN_CHARS`` characters and ``TEXT_MIN_WORDS`` words on average, mostly letters), or
    None for tabular data: text asks for other model families than numeric columns do (``tree_models``)."""
    for _, df in _tables(workspace):
        for name in df.columns:
            if _is_text(df[name].dropna()):
                return str(name)
    return None


@dataclass(frozen=True)
class InputColumns:
    """The input columns two tables of the workspace share, by kind (``mixed_columns``)."""
    categories: tuple[str, ...] = ()  # text categories (plan names, regions)
    numbers: tuple[str, ...] = ()  # numeric, ids left out
    gaps: tuple[str, ...] = ()  # with missing values, of either kind
    names: tuple[str, ...] = ()  # every column of the data tables, ids and targets too (``table_columns``)
    dates: tuple[str, ...] = ()  # text dates ("2024-03-01"): their weekday, month and year are inputs to make
    timed: tuple[str, ...] = ()  # those of the dates whose times of day differ ("2023-03-01 08:00"): the hour too

    @property
    def date_parts(self) -> list[str]:
        """What the first date column gives as inputs (keys of ``env.data_columns.DATE_PARTS``): its weekday, month
        and year, and its hour when its times differ."""
        if not self.dates:
            return []
        return ["weekday", "month", "year", *(["hour"] if self.dates[0] in self.timed else [])]

    @property
    def date_attributes(self) -> list[str]:
        """pandas' attributes for ``date_parts``: ".dt.day_of_week", ..."""
        return [f".dt.{DATE_PARTS[part]}" for part in self.date_parts]

    @property
    def inputs(self) -> list[str]:
        """Every input column: the categories, then the numbers."""
        return [*self.categories, *self.numbers]


def mixed_columns(workspace: Path) -> InputColumns:
    """The input columns of the workspace's tables: those two tables share (the test table has
    no target); with a single table the target cannot be told apart, so none are given. Drafts
    copy the starter's column list and numeric-only models: on a churn table with plan, region
    and payment names and gaps, each draft of a tree run used two numeric columns of eight."""
    import pandas as pd

    frames = [df for path, df in _tables(workspace) if not SUBMISSION_NAME.search(path.name)]
    if len(frames) < 2:
        return InputColumns(names=table_columns(workspace))
    shared = [c for c in frames[0].columns if sum(c in df.columns for df in frames) > 1]
    categories, numbers, gaps, dates, timed = [], [], [], [], []
    for name in shared:
        first = frames[0][name]
        if any(df[name].isna().any() for df in frames if name in df.columns):
            gaps.append(str(name))
        present = first.dropna()
        if pd.api.types.is_numeric_dtype(first):
            counter = pd.api.types.is_integer_dtype(first) and present.is_unique and present.is_monotonic_increasing
            if not (ID_NAME.search(str(name)) or counter):  # an id, or a row number
                numbers.append(str(name))
        elif is_date(present):
            dates.append(str(name))
            if _has_times(present):
                timed.append(str(name))
        elif not present.empty and not _is_text(present) \
                and present.nunique() <= min(CATEGORY_MAX_VALUES, len(present) // 2):  # names repeat, ids do not
            categories.append(str(name))
    return InputColumns(tuple(categories), tuple(numbers), tuple(gaps), dates=tuple(dates), timed=tuple(timed),
                        names=table_columns(workspace))


def starter_code(workspace: Path, script: str) -> str | None:
    """The task's main script as the run began; None when it is missing or not UTF-8 text."""
    path = Path(workspace) / script
    try:
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def table_columns(workspace: Path) -> tuple[str, ...]:
    """Every column name of the workspace's data tables (submission formats left out), in order:
    a missing column in a script's error is then told apart as a misspelling or another table's."""
    names: dict[str, None] = {}
    for name, columns in table_headers(workspace):
        if not SUBMISSION_NAME.search(PurePosixPath(name).name):
            names.update(dict.fromkeys(columns))
    return tuple(names)


def _tables(workspace: Path):
    """(path, first rows) of the workspace's first tables that can be read (``env.tables``)."""
    for path in [p for p in _files(Path(workspace)) if tables.is_table(p)][:PREVIEW_MAX_CSV]:
        try:
            yield path, tables.read_rows(path, TABLE_SAMPLE_ROWS)
        except Exception:  # noqa: BLE001 - a file pandas cannot read tells us nothing
            continue


def _has_times(values) -> bool:
    """Whether dates carry hours of the day that differ (hourly readings, not midnights): an
    office building's energy use follows the hour far more than the date."""
    return values.astype(str).str.extract(TIME_OF_DAY, expand=False).dropna().nunique() > 1


def _is_text(values) -> bool:
    """Whether non-missing values are free text (not "12 34 56 ...": pixels, vectors as strings)."""
    import pandas as pd

    if values.empty or not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return False
    values = values.astype(str)
    letters = values.str.count(r"[^\W\d_]").sum() / max(1, values.str.count(r"\S").sum())
    return bool(values.str.len().mean() >= TEXT_MIN_CHARS and values.str.split().str.len().mean() >= TEXT_MIN_WORDS
                and letters >= TEXT_MIN_LETTERS)


def data_preview(workspace: Path, *, skip: Sequence[str] = ()) -> str:
    """A short description of the files in ``workspace`` (see the module docstring)."""
    workspace = Path(workspace)
    files = [p for p in _files(workspace) if str(p.relative_to(workspace)) not in skip]
    if not files:
        return "(the working directory is empty)"
    parts, shown_tables = [], 0
    for path in files[:PREVIEW_MAX_FILES]:
        rel = path.relative_to(workspace).as_posix()
        try:
            size = path.stat().st_size
        except OSError:
            continue
        line = f"- {rel} ({_size(size)})"
        suffix = path.suffix.lower()
        try:
            if tables.is_table(path) and shown_tables < PREVIEW_MAX_CSV:
                shown_tables += 1
                line += "\n" + _table_preview(path)
            elif suffix == ".py":
                line += f", a Python script of {len(path.read_text(encoding='utf-8', errors='replace').splitlines())} lines"
            elif suffix in TEXT_SUFFIXES and size <= 20_000:
                text = path.read_text(encoding="utf-8", errors="replace")[:PREVIEW_TEXT_CHARS].rstrip()
                line += "\n" + "\n".join("    " + ln for ln in text.splitlines())
        except OSError:
            pass
        parts.append(line)
    if len(files) > PREVIEW_MAX_FILES:
        parts.append(f"- ... and {len(files) - PREVIEW_MAX_FILES} more files")
    return "\n".join(parts)
