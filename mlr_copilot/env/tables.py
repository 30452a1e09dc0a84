"""Reading a data table of any format tasks ship: CSV, TSV, JSON Lines and Parquet.

Task data come as Kaggle's CSVs, Hugging Face's Parquet files and JSON lines alike. Every
piece of advice built from the data (its free-text column, its categories, the column names a
``KeyError`` is checked against, Understand File's preview) reads tables through here, so a
task whose reviews are in ``train.jsonl`` gets the same help as one whose are in ``train.csv``.
Reads are bounded: a sample of rows, a header line, Parquet's metadata.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

TABLE_KINDS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON Lines", ".ndjson": "JSON Lines", ".parquet": "Parquet"}
HEADER_BYTES = 64 << 10  # of a header line (CSV) or a first record (JSON Lines)
MAX_COUNT_BYTES = 256 << 20  # bytes scanned to count the rows of a text table
PANDAS_READERS = frozenset({"read_csv", "read_json", "read_parquet", "read_table"})  # how scripts read them


def is_table(path: Path) -> bool:
    return Path(path).suffix.lower() in TABLE_KINDS


def kind(path: Path) -> str | None:
    """"CSV", "TSV", "JSON Lines" or "Parquet"; None for other files."""
    return TABLE_KINDS.get(Path(path).suffix.lower())


def read_rows(path: Path, rows: int):
    """The first ``rows`` rows of a table as a pandas DataFrame. Raises what pandas or pyarrow
    raise for a file that is not a readable table of its kind (callers decide how to say so)."""
    import pandas as pd

    found = kind(path)
    if found in ("CSV", "TSV"):
        return pd.read_csv(path, sep="\t" if found == "TSV" else ",", nrows=rows, low_memory=False)
    if found == "JSON Lines":
        return pd.read_json(path, lines=True, nrows=rows)
    if found == "Parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as pf:
            batch = next(pf.iter_batches(batch_size=rows), None)
            return batch.to_pandas() if batch is not None else pf.schema_arrow.empty_table().to_pandas()
    raise ValueError(f"{Path(path).name} is not a table (CSV, TSV, JSON Lines or Parquet)")


def column_names(path: Path) -> list[str]:
    """The table's column names, read cheaply (a header line, a first record, the Parquet
    schema); [] when they cannot be read."""
    found = kind(path)
    try:
        if found == "Parquet":
            import pyarrow.parquet as pq

            return [str(name) for name in pq.read_schema(path).names]
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            line = f.readline(HEADER_BYTES)
    except Exception:  # noqa: BLE001 - a damaged file has no columns to tell
        return []
    if found == "JSON Lines":
        try:
            record = json.loads(line)
        except ValueError:
            return []
        return [str(key) for key in record] if isinstance(record, dict) else []
    if found in ("CSV", "TSV"):
        row = next(csv.reader([line], delimiter="\t" if found == "TSV" else ","), [])
        return [c.strip() for c in row if c.strip()]
    return []


def count_rows(path: Path) -> tuple[int, bool]:
    """(data rows, whether the count is exact): Parquet's metadata, else the newlines in at most
    ``MAX_COUNT_BYTES`` (a CSV's header line not counted)."""
    if kind(path) == "Parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as pf:
            return pf.metadata.num_rows, True
    lines, read, last = 0, 0, b"\n"
    with open(path, "rb") as fh:
        while read < MAX_COUNT_BYTES:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            read += len(chunk)
            last = chunk[-1:]
        exact = not fh.read(1)
    if last != b"\n":
        lines += 1
    header = kind(path) in ("CSV", "TSV")
    return max(0, lines - (1 if header else 0)), exact
