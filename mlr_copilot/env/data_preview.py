"""A deterministic, bounded preview of a structured data file (CSV, TSV, JSON, JSON Lines,
Parquet): shape, columns with their types and simple statistics, and the first rows.

Understand File gives this preview to the model instead of the raw text: a 30 KB CSV is
about 11,000 tokens of digits, which a small model on a CPU reads in minutes and cannot
summarise reliably anyway, while its preview is a few hundred tokens of exact facts.
Reads are bounded (``MAX_ROWS`` rows for statistics, ``tables.MAX_COUNT_BYTES`` for the row
count), so a huge or hostile file costs at most seconds.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import PreviewUnavailable
from . import tables

logger = logging.getLogger(__name__)

STRUCTURED_SUFFIXES = {**tables.TABLE_KINDS, ".json": "JSON"}
MAX_ROWS = 10_000  # rows read for types and statistics
MAX_JSON_BYTES = 32 << 20  # a JSON document larger than this is not parsed
HEAD_ROWS = 3
SHOWN_COLUMNS = (20, 5)  # columns listed from the start and from the end of a wide table
PREVIEW_CHARS = 3_000


def is_structured(path: Path) -> bool:
    return path.suffix.lower() in STRUCTURED_SUFFIXES


def preview(path: Path, shown_name: str) -> str:
    """The preview text of ``path`` (named ``shown_name`` in the text). Raises
    PreviewUnavailable when the file cannot be read as a table."""
    kind = STRUCTURED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PreviewUnavailable(f"{shown_name} is not a known data format")
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a dependency
        raise PreviewUnavailable("pandas is not installed") from exc
    try:
        if kind == "JSON":
            return _json_preview(path, shown_name, pd)
        frame = tables.read_rows(path, MAX_ROWS)
        rows, exact = tables.count_rows(path)
    except PreviewUnavailable:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        raise PreviewUnavailable(f"{shown_name} could not be read as {kind}: {exc}") from exc
    return _table_text(frame, shown_name, kind, rows, exact)


def _json_preview(path: Path, shown_name: str, pd) -> str:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise PreviewUnavailable(f"{shown_name} is larger than {MAX_JSON_BYTES >> 20} MB")
    data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data[:100]):
        return _table_text(pd.DataFrame(data[:MAX_ROWS]), shown_name, "JSON (a list of records)",
                           len(data), True)
    return f"{shown_name}: JSON, {_shape(data)}\n{_outline(data)}"[:PREVIEW_CHARS]


def _shape(value) -> str:
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a single {type(value).__name__}"


def _outline(value, indent: str = "  ", depth: int = 0) -> str:
    """Keys and value types of a JSON document, a few levels deep."""
    if depth > 3:
        return ""
    lines = []
    if isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            if i == 30:
                lines.append(f"{indent * (depth + 1)}... {len(value) - 30} more keys")
                break
            lines.append(f"{indent * (depth + 1)}{key}: {_shape(item) if isinstance(item, (dict, list)) else repr(item)[:60]}")
            if isinstance(item, (dict, list)):
                lines.append(_outline(item, indent, depth + 1))
    elif isinstance(value, list) and value:
        lines.append(f"{indent * (depth + 1)}first item: {_shape(value[0]) if isinstance(value[0], (dict, list)) else repr(value[0])[:60]}")
        if isinstance(value[0], (dict, list)):
            lines.append(_outline(value[0], indent, depth + 1))
    return "\n".join(line for line in lines if line)


def _table_text(frame, shown_name: str, kind: str, rows: int, exact: bool) -> str:
    n_cols = frame.shape[1]
    count = f"{rows:,}" if exact else f"at least {rows:,}"
    sampled = f" (statistics from the first {len(frame):,} rows)" if len(frame) < rows else ""
    lines = [f"{shown_name}: {kind}, {count} rows x {n_cols} columns{sampled}", "Columns (name: type, statistics):"]
    columns = list(frame.columns)
    first, last = SHOWN_COLUMNS
    shown = columns if len(columns) <= first + last else columns[:first] + [None] + columns[-last:]
    for col in shown:
        if col is None:
            lines.append(f"  ... {len(columns) - first - last} more columns of the same kinds ...")
            continue
        lines.append(f"  {col}: {_column_stats(frame[col])}")
    head = frame.head(HEAD_ROWS)
    if len(columns) > first + last:
        head = head[columns[:8] + columns[-2:]]
    lines.append(f"First {len(head)} rows{' (some columns)' if len(columns) > first + last else ''}:")
    lines.append(head.to_csv(index=False).rstrip())
    text = "\n".join(lines)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "\n[... preview cut]"


def _column_stats(series) -> str:
    import pandas as pd

    missing = int(series.isna().sum())
    miss = f", {missing} missing" if missing else ""
    dtype = str(series.dtype)
    values = series.dropna()
    if values.empty:
        return f"{dtype}, all missing"
    if pd.api.types.is_bool_dtype(series):
        return f"bool, {int(values.sum())} true of {len(values)}{miss}"
    if pd.api.types.is_numeric_dtype(series):
        distinct = values.nunique()
        if distinct <= 10:
            return f"{dtype}, {distinct} distinct values: {', '.join(map(_num, sorted(values.unique())))}{miss}"
        return (f"{dtype}, min {_num(values.min())}, max {_num(values.max())}, "
                f"mean {_num(values.mean())}{miss}")
    distinct = values.astype(str).nunique()
    sample = ", ".join(repr(v)[:30] for v in values.astype(str).unique()[:3])
    return f"text, {distinct} distinct values (e.g. {sample}){miss}"


def _num(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:.4g}"
