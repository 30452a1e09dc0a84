"""What task graders share: the Grade record, submission checks and the metrics.

A grader reads the files a finished workspace holds and compares them with answers the
agent never saw. Everything the agent could get wrong about the submission (missing,
a link, unparsable, wrong columns, wrong or repeated ids, non-numbers) raises
``InvalidSubmission`` with a message that says what is wrong; the task wraps that into an
invalid ``Grade``. Graders never run the agent's code: they only read files.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import InvalidSubmission

MAX_SUBMISSION_BYTES = 512 * 1024 * 1024  # a submission bigger than this is refused unread
# A submission is also refused unread when larger than SIZE_SLACK times a generous estimate of
# the expected one (HEADER_BYTES + rows x (ID_BYTES + VALUE_BYTES per column)), so grading
# never holds more than a few times the expected submission in memory.
SIZE_SLACK, HEADER_BYTES, ID_BYTES, VALUE_BYTES = 4, 64 * 1024, 80, 40
_SHOW = 5  # how many offending ids a message names


@dataclass(frozen=True)
class Grade:
    """The outcome of grading one workspace. ``score`` is None whenever ``valid`` is False."""

    score: float | None
    valid: bool
    reason: str = ""

    @classmethod
    def ok(cls, score: float, reason: str = "") -> "Grade":
        return cls(float(score), True, reason)

    @classmethod
    def invalid(cls, reason: str) -> "Grade":
        return cls(None, False, reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _preview(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(x) for x in list(items)[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return shown + more


def submission_path(workspace: str | Path, name: str = "submission.csv") -> Path:
    """The submission file inside ``workspace``; refuses links and files that are not plain.

    A link could point at the hidden answers (in a sandbox that can see them), so it is
    never followed.
    """
    ws = Path(workspace)
    path = ws / name
    if path.is_symlink():
        raise InvalidSubmission(f"{name} is a symbolic link; the submission must be a plain file written by the script")
    if not path.exists():
        raise InvalidSubmission(f"{name} not found in the workspace (the script must write it)")
    if not path.is_file():
        raise InvalidSubmission(f"{name} is not a regular file")
    try:
        if path.resolve().parent != ws.resolve():
            raise InvalidSubmission(f"{name} resolves outside the workspace")
    except OSError as exc:
        raise InvalidSubmission(f"{name} cannot be resolved: {exc}") from None
    size = path.stat().st_size
    if size == 0:
        raise InvalidSubmission(f"{name} is empty")
    if size > MAX_SUBMISSION_BYTES:
        raise InvalidSubmission(f"{name} is {size} bytes, more than the {MAX_SUBMISSION_BYTES} allowed")
    return path


def read_csv_checked(path: Path, *, what: str | None = None, dtype: Any = None):
    """``pandas.read_csv`` with every parse failure turned into InvalidSubmission."""
    import pandas as pd

    label = what or path.name
    try:
        return pd.read_csv(path, dtype=dtype, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InvalidSubmission(f"{label} has no columns (empty or blank file)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidSubmission(f"{label} is not a readable CSV file: {first}") from None


def read_submission(workspace: str | Path, *, id_column: str, columns: Sequence[str],
                    expected_ids: Sequence[Any], name: str = "submission.csv",
                    numeric: bool = True):
    """Read and check a submission; return ``columns`` as rows in ``expected_ids`` order.

    Ids are compared as text, so ``7`` and ``"7"`` match but ``7.0`` does not. Extra
    columns (an index written by accident) are ignored; missing, repeated or unknown ids,
    missing columns and (with ``numeric``) non-finite values are refused.
    """
    import numpy as np
    import pandas as pd

    path = submission_path(workspace, name)
    wanted = [id_column, *[str(c) for c in columns]]
    precheck_csv(path, name, wanted, len(expected_ids))
    df = read_csv_checked(path, dtype={id_column: str})
    df.columns = [str(c).strip() for c in df.columns]
    _check_columns(name, wanted, list(df.columns))
    ids = df[id_column].astype(str).str.strip()
    if ids.isna().any() or (ids == "").any() or (ids == "nan").any():
        raise InvalidSubmission(f"{name} has rows with an empty {id_column}")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InvalidSubmission(f"{name} repeats the {id_column}(s) {_preview(dup)}")
    want = [str(i).strip() for i in expected_ids]
    want_set, got_set = set(want), set(ids)
    absent = [i for i in want if i not in got_set]
    extra = sorted(got_set - want_set)
    if absent or extra:
        parts = []
        if absent:
            parts.append(f"{len(absent)} of the {len(want)} test {id_column}s are missing ({_preview(absent)})")
        if extra:
            parts.append(f"{len(extra)} {id_column}s are not in the test set ({_preview(extra)})")
        raise InvalidSubmission(f"{name}: " + "; ".join(parts) + f"; it has {len(df)} rows, expected {len(want)}")
    df = df.assign(**{id_column: ids}).set_index(id_column).loc[want, [str(c) for c in columns]]
    if numeric:
        values = df.apply(pd.to_numeric, errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            rows, cols = np.nonzero(bad)
            where = [f"{df.index[r]}/{df.columns[c]}" for r, c in zip(rows[:_SHOW], cols[:_SHOW])]
            raise InvalidSubmission(
                f"{name} has {int(bad.sum())} value(s) that are not finite numbers (id/column: {', '.join(where)})")
        return values.astype(float)
    return df


def _check_columns(name: str, wanted: Sequence[str], have: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InvalidSubmission(
            f"{name} lacks the column(s) {_preview(missing)}; it has {_preview(list(have))}; "
            f"expected the columns {', '.join(wanted)}")


def precheck_csv(path: Path, name: str, wanted: Sequence[str], rows: int) -> None:
    """Size, header and row count of a submission, streamed in bounded memory, before any
    parser loads it whole: a huge (or sparse) file is refused from its size alone, a wrong
    header from its first line, far too many rows as soon as the count passes a few times
    the expected one."""
    import csv
    import io
    import os
    import stat

    limit = min(MAX_SUBMISSION_BYTES, SIZE_SLACK * (HEADER_BYTES + rows * (ID_BYTES + VALUE_BYTES * len(wanted))))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidSubmission(f"{name} cannot be opened: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as raw:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidSubmission(f"{name} is not a regular file")
        if st.st_size > limit:
            raise InvalidSubmission(f"{name} is {st.st_size:,} bytes, far more than a submission of {rows:,} "
                                    f"rows needs (at most {limit:,} bytes are read)")
        os.set_blocking(fd, True)
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, skipinitialspace=True)
        try:
            header = next((r for r in reader if r), None)
            if header is None:
                raise InvalidSubmission(f"{name} has no columns (empty or blank file)")
            if any("\x00" in c or "\ufffd" in c for c in header):
                raise InvalidSubmission(f"{name} is not a readable CSV file: its header is not UTF-8 text")
            _check_columns(name, wanted, [c.strip() for c in header])
            n, most = 0, SIZE_SLACK * rows + 10  # a few repeated rows get pandas' precise message
            for row in reader:
                n += bool(row)
                if n > most:
                    raise InvalidSubmission(f"{name} has far more rows than the {rows:,} expected (reading "
                                            f"stopped at row {n:,})")
        except csv.Error as exc:
            raise InvalidSubmission(f"{name} is not a readable CSV file: {exc}") from None


def read_answers(path: str | Path, *, dtype: Any = None):
    """Read a hidden answers CSV; a broken answers file is our fault, so it raises plainly."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"answers file {p} is missing; run the task's prepare step first")
    return pd.read_csv(p, dtype=dtype)


# --- metrics -------------------------------------------------------------------------

def accuracy_from_probabilities(probs, labels: Sequence[Any], classes: Sequence[Any]) -> float:
    """Share of rows whose highest-probability class (first one on ties) is the true label."""
    import numpy as np

    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise InvalidSubmission(f"expected {len(classes)} probability columns, got shape {p.shape}")
    predicted = np.asarray(classes, dtype=object)[p.argmax(axis=1)]
    truth = np.asarray([str(x) for x in labels], dtype=object)
    return float(np.mean(np.asarray([str(x) for x in predicted], dtype=object) == truth))


def rmse(pred, truth) -> float:
    import numpy as np

    d = np.asarray(pred, dtype=float) - np.asarray(truth, dtype=float)
    return float(math.sqrt(np.mean(d * d)))


def mcrmse(pred, truth) -> float:
    """Mean over columns of each column's RMSE (the Feedback Prize / ELLIPSE metric)."""
    import numpy as np

    p = np.asarray(pred, dtype=float)
    t = np.asarray(truth, dtype=float)
    if p.shape != t.shape or p.ndim != 2:
        raise InvalidSubmission(f"prediction shape {p.shape} does not match the answers {t.shape}")
    return float(np.mean(np.sqrt(np.mean((p - t) ** 2, axis=0))))
