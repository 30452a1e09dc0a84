"""What a common scikit-learn or pandas error usually means, in one sentence, for the fix.

Small models read "could not convert string to float: 'basic'" and change the model, or
fill the gaps once more, instead of encoding the text column; told what the error means,
they change the line that causes it. Each hint names a cause these libraries' own messages
point to, never a task: the errors are those that failed runs of the embedded model hit
most (suites and probe runs of 2026-12-03: sparse text features fed to a scaler or a second
vectorizer, columns the table does not have, text reaching a numeric step, a ColumnTransformer
given a table without its columns). Used by the tree's debug prompts and the loop's usual
next move after a failed run.
"""
from __future__ import annotations

import ast
import difflib
import re
from typing import Sequence

HINTS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(pattern), hint) for pattern, hint in (
    (r"Encoders require their input argument must be uniformly strings or numbers",
     "a column holds both text and numbers, often because .fillna(0) put 0s among text categories: fill "
     "text columns with SimpleImputer(strategy=\"most_frequent\") inside the pipeline instead"),
    (r"Cannot use (?:mean|median) strategy with non-numeric data",
     "a column of text went to a SimpleImputer for numbers: list the text columns only in the categories "
     "part of the ColumnTransformer (SimpleImputer(strategy=\"most_frequent\") and OneHotEncoder), and "
     "only numeric columns in the numbers part"),
    (r"could not convert string to float",
     "a column of text reached a step that needs numbers: encode text categories with OneHotEncoder "
     "(in a ColumnTransformer), or turn free text into TfidfVectorizer features, before the model"),
    (r"Cannot center sparse matrices",
     "StandardScaler cannot center sparse features (TF-IDF or one-hot): leave the scaler out, or use "
     "StandardScaler(with_mean=False)"),
    (r"'(?:[\w.]+\.)?(?:csr_matrix|csr_array|ndarray|list)' object has no attribute 'lower'",
     "a text vectorizer was given features that are already numbers: fit TfidfVectorizer or "
     "CountVectorizer once, on the raw text column"),
    (r"'(?:float|int)' object has no attribute 'lower'|np\.nan is an invalid document",
     "a text vectorizer met a value that is not text, usually a missing one: fill the text column with "
     ".fillna(\"\") before it"),
    (r"This '\w+' has no attribute 'transform'",
     "this object ends with a model, which has no transform: call predict on it, or transform with the "
     "preprocessing steps alone"),
    (r"Input (?:X )?contains NaN",
     "some values are missing: fill them with SimpleImputer in the pipeline (or use "
     "HistGradientBoostingClassifier/Regressor, which accept missing values)"),
    (r"X has \d+ features, but \w+ is expecting \d+ features|feature names should match those that were passed",
     "the rows given to predict or transform do not have the columns the model was fit on: prepare "
     "validation and test rows exactly as the training rows (the same encoding and columns, or the same "
     "fitted pipeline; a vectorizer or encoder fitted again on other rows, as fit_transform inside a features "
     "function is, gives other columns: fit it once on the training rows and only transform the others)"),
    (r"Found input variables with inconsistent numbers of samples",
     "the features and the labels have different numbers of rows: split them together in one "
     "train_test_split call and score predictions against the labels of the same rows"),
    (r"(?:array length|Length of values) \(?\d+\)? does not match (?:index length|length of index) \(?\d+",
     "a column got another number of values than the table has rows: predict the output file's "
     "column on the rows of that same table (the test table), not on the validation part"),
    (r"Some column names are not columns of the dataframe|columns are missing",
     "the ColumnTransformer was given a table without the columns it names: give it a table that "
     "holds every input column it lists"),
    (r"not in index|^KeyError: ['\"]",
     "the script asks for a column the table does not have: use only the columns the data files hold "
     "(see the data preview or List Files), and never the target in the test table"),
))


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)\b.*?)\s*$", re.MULTILINE)


def error_line(output: str) -> str | None:
    """The last exception line of a script's output ("NameError: name 'x' is not defined")."""
    found = _ERROR_LINE.findall(output or "")
    return found[-1] if found else None


def error_hint(error: str, columns: Sequence[str] = ()) -> str | None:
    """What the last error of ``error`` (a script's output) usually means; None when no hint fits.
    ``columns``: every column name of the workspace's tables, when known: a missing column is
    then told apart as a misspelling or a column of another table."""
    last = error_line(error)
    if last is None:
        return None
    hint = next((hint for pattern, hint in HINTS if pattern.search(last)), None)
    if hint is not None and "not in index" not in last and last.startswith("KeyError") \
            and "pandas" not in error:
        return None  # a dict's missing key, not a table's column
    missing = _missing_columns(last) if hint is not None and columns else []
    return _column_hint(missing, list(columns)) if missing else hint


_NOT_IN_INDEX = re.compile(r"(\[.*\]) not in index")
_KEY = re.compile(r"^KeyError: (['\"].*['\"])$")


def _missing_columns(last: str) -> list[str]:
    """The column names a pandas KeyError reports missing ("['a', 'b'] not in index", "'rent'")."""
    m = _NOT_IN_INDEX.search(last) or _KEY.match(last.strip())
    try:
        found = ast.literal_eval(m.group(1)) if m else []
    except (ValueError, SyntaxError):
        return []
    names = [found] if isinstance(found, str) else found
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _column_hint(missing: list[str], columns: list[str]) -> str:
    """A misspelt name gets the nearest real ones; a column of another table (a test table asked
    for the target, on a rentals probe) gets where to score instead. On a tumour probe the edit
    model copied a list of 30 columns as "concave_points" for "concave_points_error"."""
    parts = []
    unknown = [n for n in missing if n not in columns]
    if unknown:
        named = []
        for name in unknown[:4]:
            close = difflib.get_close_matches(name, columns, n=2, cutoff=0.6)
            named.append(repr(name) + (f" (the data has {' and '.join(map(repr, close))})" if close else ""))
        parts.append(f"no data file has a column {', '.join(named)}: copy the column names exactly from the "
                     "data files' header")
    known = [n for n in missing if n in columns]
    if known:
        parts.append(f"{', '.join(map(repr, known))} is a column of one data table but not of the table the script "
                     "asked: a test table has no target column, so score the model on a held-out part of the "
                     "training table (train_test_split), never on the test table")
    return "; ".join(parts)
