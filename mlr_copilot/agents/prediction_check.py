"""Do a node's test predictions look like the training targets at all?

A node's validation metric cannot see a script that treats the test rows differently from the
rows it validated on: a scaler fit on the training rows and not applied to the test rows, a
model refit on unscaled data and asked about scaled data, "validation" on rows the model was
fit on. Such a node can have the best metric of the tree and a submission worse than a
constant. Seen in the suite of 2026-12-02: a wine node at validation accuracy 1.0 gave every
test wine the same cultivar (hidden accuracy 0.33); a diabetes node at RMSE 58.8 predicted
50 too high on average (hidden RMSE 88.6); in an earlier digits run five nodes at 0.976 put
half the test digits in one class (hidden 0.27).

So after a node runs, its submission is compared with the training targets, read from the
workspace's own tables, without knowing the task:

- **key columns** (ids) are the submission's columns that another table of as many rows holds
  with the same values (the test file, a sample submission); the rest are predictions;
- **the training table** is the largest other table holding every prediction column (a
  target predicted directly) or a column, not one of the test table's, whose values are the
  names of the prediction columns (one probability column per class; the predicted class is
  the most probable one);
- a numeric target with many values (regression) fails when the mean prediction is more than
  ``MAX_MEAN_SHIFT`` training standard deviations from the training mean; labels fail when
  the share of test rows given each label is further than ``MAX_LABEL_SHIFT`` (total
  variation distance) from the training rows' shares.

Where the tables cannot be matched this way (no table with the submission's rows and ids, no
training table) nothing is said. In 25 tree runs of 2026-12-02 (about 200 working nodes of
digits, wine and diabetes) it flags 17 nodes: one class for 51-100% of the rows, or a mean
0.48-1.1 standard deviations off (the hidden scores looked at: accuracy 0.27-0.33, RMSE
81.8-88.6; the digits and diabetes starters score 0.74 and 60.8). Every other node was within 0.31 and 0.16.
``--no-tree-prediction-check`` turns it off for tasks whose
test rows really are distributed unlike the training rows.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Iterator

MAX_MEAN_SHIFT = 0.4  # training standard deviations between the mean prediction and the mean target
MAX_LABEL_SHIFT = 0.4  # total variation distance between predicted and training label shares
MAX_ROWS = 200_000  # rows read of any table
MAX_TABLE_BYTES = 1 << 30  # larger tables are not read
MAX_TABLES = 20
MAX_ENTRIES = 10_000  # names looked at while looking for tables
MIN_REGRESSION_VALUES = 20  # a numeric target with fewer distinct values is a label
TABLE_SUFFIXES = (".csv",)
FIX_HINT = (  # what a debug prompt is told after the finding
    "The validation metric cannot see this: the test rows were probably prepared differently from "
    "the validation rows (a scaler or encoder fit or applied to one and not the other), or the "
    "model was validated on rows it was fit on. Put every preprocessing step and the model in one "
    "scikit-learn Pipeline, validate it on held-out rows, and predict the test rows with that same "
    "fitted pipeline.")


def prediction_problem(workspace: Path, submission: str) -> str | None:
    """How the predictions in ``submission`` (a path relative to ``workspace``) differ from
    the training targets, in words for the node's debug prompt ("the mean predicted y is ...");
    None when they look alike, or when the tables cannot be matched. Only the columns it
    compares are read from the other tables (their headers first), so a wide training table
    costs the memory of its target column."""
    import pandas as pd

    workspace = Path(workspace)
    sub_path = workspace / submission
    predictions = _read(sub_path)
    if predictions is None:
        return None
    columns = [str(c) for c in predictions.columns]
    predictions.columns = columns
    headers = {p: h for p in _tables(workspace) if p != sub_path and (h := _header(p))}
    keyed: list[Path] = []  # the test table and sample submissions: as many rows, the same ids
    keys: set[str] = set()
    for path, header in headers.items():
        shared = [c for c in columns if c in header]
        table = _read(path, shared) if shared else None
        same = [c for c in shared if len(table) == len(predictions) and _same(table[c], predictions[c])] \
            if table is not None else []
        if same:
            keyed.append(path)
            keys.update(same)
    if not keyed:  # no test table to say which columns are ids: nothing is compared
        return None
    inputs = {c for path in keyed for c in headers[path]}  # the test table's columns: not targets
    targets = [c for c in columns if c not in keys]
    if not targets:
        return None
    trains = [p for p, h in headers.items() if set(h) != set(columns) and len(h) > 1 and p not in keyed]
    direct = [(p, t) for p in trains
              if all(c in headers[p] for c in targets) and (t := _read(p, targets)) is not None]
    if direct:
        path, train = max(direct, key=lambda pt: len(pt[1]))
        for c in targets:
            problem = _column_problem(predictions[c], train[c], c, _rel(path, workspace))
            if problem:
                return problem
        return None
    if len(targets) < 2:
        return None
    names = set(targets)
    for path in trains:
        wanted = [c for c in headers[path] if c not in inputs]
        train = _read(path, wanted) if wanted else None
        for c in (train.columns if train is not None else ()):
            labels = train[c].dropna().map(_label)
            if set(labels) == names:
                scores = predictions[targets].apply(pd.to_numeric, errors="coerce")
                if scores.isna().any().any():
                    return None
                return _label_problem(scores.idxmax(axis=1).map(_label), labels, c, _rel(path, workspace),
                                      " (the most probable class of each row)")
    return None


def _column_problem(pred, truth, name: str, where: str) -> str | None:
    import pandas as pd

    truth = truth.dropna()
    if truth.empty:
        return None
    numeric = pd.api.types.is_numeric_dtype(truth) and not pd.api.types.is_bool_dtype(truth)
    if numeric and truth.nunique() >= MIN_REGRESSION_VALUES:
        values = pd.to_numeric(pred, errors="coerce")
        if values.isna().any():
            return None  # not numbers: the grader says so
        std = float(truth.std())
        if not math.isfinite(std) or std <= 0:
            return None
        shift = abs(float(values.mean()) - float(truth.mean())) / std
        if shift <= MAX_MEAN_SHIFT:
            return None
        return (f"the mean predicted {name} is {float(values.mean()):.4g}, while {name} in {where} has mean "
                f"{float(truth.mean()):.4g} and standard deviation {std:.4g} ({shift:.2f} standard deviations "
                f"apart)")
    return _label_problem(pred.dropna().map(_label), truth.map(_label), name, where, "")


def _label_problem(pred, truth, name: str, where: str, how: str) -> str | None:
    if pred.empty or truth.empty:
        return None
    p, q = Counter(pred), Counter(truth)
    shift = 0.5 * sum(abs(p[k] / len(pred) - q[k] / len(truth)) for k in set(p) | set(q))
    if shift <= MAX_LABEL_SHIFT:
        return None
    top, count = p.most_common(1)[0]
    return (f"{count} of {len(pred)} test rows ({count / len(pred):.0%}) get {name} {top}{how}, against "
            f"{q[top] / len(truth):.0%} of the rows of {where} (the label shares differ by {shift:.2f})")


def _tables(workspace: Path) -> Iterator[Path]:
    """The workspace's tables, hidden folders left out, after looking at ``MAX_ENTRIES`` names
    at most (a folder of 100,000 images costs nothing)."""
    found = seen = 0
    for root, dirs, files in os.walk(workspace):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            seen += 1
            if seen > MAX_ENTRIES or found >= MAX_TABLES:
                return
            path = Path(root) / name
            if name.startswith(".") or path.suffix.lower() not in TABLE_SUFFIXES:
                continue
            try:
                if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_TABLE_BYTES:
                    continue
            except OSError:
                continue
            found += 1
            yield path


def _header(path: Path) -> list[str]:
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception:  # unreadable, empty or not a table: not compared
        return []


def _read(path: Path, columns: list[str] | None = None):
    """The table at ``path`` (only ``columns``, when given), at most ``MAX_ROWS`` rows; None
    when it cannot be read or is empty."""
    import pandas as pd

    try:
        table = pd.read_csv(path, nrows=MAX_ROWS, usecols=columns)
    except Exception:  # unreadable, empty or not a table: not compared
        return None
    table.columns = [str(c) for c in table.columns]
    return None if table.empty else table


def _same(a, b) -> bool:
    try:
        return bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all())
    except (TypeError, ValueError):
        return False


def _label(value) -> str:
    """A label as text, so that the class 3 of a target column and a column named "3" meet."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rel(path: Path, workspace: Path) -> str:
    return path.relative_to(workspace).as_posix()
