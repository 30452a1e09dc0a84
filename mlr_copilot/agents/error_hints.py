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

import re

HINTS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(pattern), hint) for pattern, hint in (
    (r"Encoders require their input argument must be uniformly strings or numbers",
     "a column holds both text and numbers, often because .fillna(0) put 0s among text categories: fill "
     "text columns with SimpleImputer(strategy=\"most_frequent\") inside the pipeline instead"),
    (r"could not convert string to float",
     "a column of text reached a step that needs numbers: encode text categories with OneHotEncoder "
     "(in a ColumnTransformer), or turn free text into TfidfVectorizer features, before the model"),
    (r"Cannot center sparse matrices",
     "StandardScaler cannot center sparse features (TF-IDF or one-hot): leave the scaler out, or use "
     "StandardScaler(with_mean=False)"),
    (r"'(?:csr_matrix|csr_array|ndarray|list)' object has no attribute 'lower'",
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
     "fitted pipeline)"),
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
     "(see the data preview or List Files). The test table has no target column: never score the model on "
     "the test table, but on a held-out part of the training table (train_test_split), as the starter "
     "script did"),
))


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)\b.*?)\s*$", re.MULTILINE)


def error_line(output: str) -> str | None:
    """The last exception line of a script's output ("NameError: name 'x' is not defined")."""
    found = _ERROR_LINE.findall(output or "")
    return found[-1] if found else None


def error_hint(error: str) -> str | None:
    """What the last error of ``error`` (a script's output) usually means; None when no hint fits."""
    last = error_line(error)
    if last is None:
        return None
    hint = next((hint for pattern, hint in HINTS if pattern.search(last)), None)
    if hint is not None and "not in index" not in last and last.startswith("KeyError") \
            and "pandas" not in error:
        return None  # a dict's missing key, not a table's column
    return hint
