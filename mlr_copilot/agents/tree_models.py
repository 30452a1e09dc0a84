"""What a node's code fits, and which model families the drafts try.

* ``fitted_model`` / ``model_name``: the estimator a script fits, read from its code, for the
  memory of earlier nodes (``RandomForestRegressor(n_estimators=300)``) and for the draft
  instruction (``RandomForestRegressor``).
* ``target_kind`` / ``draft_idea``: whether the task predicts a number or classes (from the
  metric's name), and the model family the n-th draft is asked to try, with classes for it
  (text families when the input is a free-text column).
* ``stronger_models`` / ``ensemble_example``: the models an improvement may move to, and the
  line that averages the current model with another kind, named as scikit-learn names them.
"""
from __future__ import annotations

import ast
import re
from typing import Sequence

from .metric import MetricSpec

MODEL_CHARS = 120  # of the model a node fits, shown in the memory
DRAFT_IDEAS = (  # (family, for a numeric target, for classes), taken in turn: drafts of one family
    # left the search nowhere to go (see tree_prompts.node_prompt). The classes are named for the
    # task's kind of target: told "Ridge for a numeric target, LogisticRegression for classes", a
    # digits draft fit a Ridge. Scaling is asked for inside one pipeline: a digits draft told "on
    # standardised features" scaled its training and validation data but not the test data
    # (validation 0.976, hidden test 0.807)
    ("a regularised linear model with standardised features", "make_pipeline(StandardScaler(), Ridge())",
     "make_pipeline(StandardScaler(), LogisticRegression())"),
    ("a tree ensemble", "RandomForestRegressor or GradientBoostingRegressor",
     "RandomForestClassifier or HistGradientBoostingClassifier"),
    ("a kernel method or a small neural network with standardised features",
     "make_pipeline(StandardScaler(), SVR()) or the same with MLPRegressor()",
     "make_pipeline(StandardScaler(), SVC(probability=True)) or the same with MLPClassifier()"),
)
TEXT_DRAFT_IDEAS = (  # the same, for data whose input is a free-text column: the tabular families above
    # scale their features, and on sparse word counts StandardScaler() raises "Cannot center sparse
    # matrices" (6 of 10 nodes of a tree run on review texts), or is fed the raw strings
    ("word and word-pair TF-IDF features with a linear model",
     "make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), Ridge())",
     "make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10, max_iter=1000))"),
    ("word counts over the whole vocabulary with naive Bayes or a linear SGD model",
     "make_pipeline(TfidfVectorizer(min_df=2), SGDRegressor())",
     "make_pipeline(CountVectorizer(), ComplementNB())"),
    ("character n-gram TF-IDF features with a linear model",
     "make_pipeline(TfidfVectorizer(analyzer=\"char_wb\", ngram_range=(2, 5)), Ridge())",
     "make_pipeline(TfidfVectorizer(analyzer=\"char_wb\", ngram_range=(2, 5)), LogisticRegression(C=10, max_iter=1000))"),
)
NUMERIC_METRICS = ("rmse", "mse", "mae", "mape", "r2", "rmsle", "pearson", "spearman")
CLASS_METRICS = ("accuracy", "f1", "auc", "roc", "logloss", "log_loss", "precision", "recall", "mcc", "kappa")


def fitted_model(code: str | None) -> str | None:
    """What the script fits, from its code: the last value assigned to a name whose ``.fit(``
    is called (``RandomForestRegressor(max_depth=20)``), on one line, cut to ``MODEL_CHARS``.
    The memory shows it instead of the plan: plans repeat each other (in a diabetes run every
    draft and improvement said "Replace the starter's decision tree regressor with a stronger
    one"), so the model could not tell what had been tried, and copied them."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return None
    fitted = {node.func.value.id for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "fit" and isinstance(node.func.value, ast.Name)}
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and any(
                isinstance(t, ast.Name) and t.id in fitted for t in node.targets):
            if found is None or node.lineno > found.lineno:
                found = node
    if found is None:
        return None
    text = " ".join((ast.get_source_segment(code, found.value) or "").split())
    return text[:MODEL_CHARS].rstrip() + ("…" if len(text) > MODEL_CHARS else "") or None


def target_kind(metric: MetricSpec) -> str | None:
    """"numeric" or "classes" as the metric's name tells (RMSE, accuracy...), else None."""
    name = (metric.name or "").lower()
    if any(k in name for k in NUMERIC_METRICS):  # first: "mcrmse" holds no class metric, "r2" no "rmse"
        return "numeric"
    if any(k in name for k in CLASS_METRICS):
        return "classes"
    return None


def draft_idea(index: int, metric: MetricSpec, text_column: str | None = None) -> str:
    """The model family the ``index``-th draft is asked to try, with classes that fit the target
    (text families when the input is the free-text column ``text_column``)."""
    ideas = TEXT_DRAFT_IDEAS if text_column else DRAFT_IDEAS
    family, numeric, classes = ideas[index % len(ideas)]
    kind = target_kind(metric)
    examples = {"numeric": numeric, "classes": classes}.get(kind, f"{numeric} for a numeric target, "
                                                                  f"{classes} for classes")
    return f"{family} ({examples}){text_note(text_column)}"


def text_note(text_column: str | None) -> str:
    """What a model of a free-text column must do, after its idea ("" for tabular data)."""
    if not text_column:
        return ""
    return (f", fit on the text column {text_column!r} as the pipeline's input; keep its features sparse "
            f"(no StandardScaler, no .toarray())")


MAX_LISTED_COLUMNS = 12  # more are selected by type in the ColumnTransformer a prompt suggests
ENCODES = re.compile(r"OneHotEncoder|OrdinalEncoder|TargetEncoder|get_dummies|CategoricalNB")
FILLS = re.compile(r"SimpleImputer|IterativeImputer|KNNImputer|fillna|HistGradientBoosting")


def columns_note(columns, code: str | None = None, reused: str | None = None) -> str:
    """How to use input columns of text categories and with missing values (``columns``, an
    ``InputColumns``): a ColumnTransformer that names them, to copy, and the line of ``reused``
    (the script the node starts from) that keeps fewer columns. "" when there are none, or
    when ``code``, the script improved, already encodes and fills them."""
    categories = list(columns.categories) if code is None or not ENCODES.search(code) else []
    gaps = list(columns.gaps) if code is None or not FILLS.search(code) else []
    dates = dates_note(columns, code if code is not None else reused)
    if not categories and not gaps:
        return dates
    picked = picked_columns(reused, columns)
    said = ([f"{_columns(categories)} {'holds' if len(categories) == 1 else 'hold'} text categories"]
            if categories else []) + \
        ([f"{_columns(gaps)} {'has' if len(gaps) == 1 else 'have'} missing values"] if gaps else [])
    return (f" The {' and the '.join(said)}: use every input column, not only those the starter picks: make "
            f"{column_transformer(columns)} the first step of the pipeline and give it the whole table, "
            f"so the test rows get the same treatment."
            + (" " + widen_columns(picked, columns, reused) if picked else "") + dates)


WEEKDAY = re.compile(r"day_of_week|dayofweek|weekday")


def dates_note(columns, code: str | None) -> str:
    """The sentence that turns the tables' first date column into numbers, unless ``code``
    already takes a weekday: on a bike-hire probe the weekday took a forest's validation RMSE
    from 1,427 to 267, and no model reads "2023-05-01" as one."""
    if not columns.dates or WEEKDAY.search(code or ""):
        return ""
    d, parts = columns.dates[0], columns.date_parts
    said = f"{', '.join(parts[:-1])} and {parts[-1]}"
    attributes = ", ".join(columns.date_attributes)
    return (f" The column {d} holds dates: add to each table its {said} as input columns "
            f"(pd.to_datetime(table['{d}']){attributes}) and leave {d} itself out.")


def column_transformer(columns, by_type: bool = False) -> str:
    """The ColumnTransformer, as code, that one-hot encodes and fills ``columns``' categories and
    fills its numbers (an ``InputColumns``); ``by_type`` selects them by type, not by name."""
    parts = []
    if columns.categories:
        parts.append(f'("categories", make_pipeline(SimpleImputer(strategy="most_frequent"), '
                     f'OneHotEncoder(handle_unknown="ignore")), {_listed(columns.categories, "object", by_type)})')
    if columns.numbers:
        parts.append(f'("numbers", SimpleImputer(), {_listed(columns.numbers, "number", by_type)})')
    return f"ColumnTransformer([{', '.join(parts)}])"


def picked_columns(code: str | None, columns) -> tuple[str, str, list[str]] | None:
    """(name, line, the columns it keeps) of the top-level assignment in ``code`` that keeps
    some of the input columns by name (``columns = ["tenure_months", "age"]``), when it keeps
    fewer than all of them. Drafts
    reuse the starter's list: in churn tree runs they then gave the ColumnTransformer a table of
    two columns ("Some column names are not columns of the dataframe: {'plan', ...}")."""
    inputs = set(columns.inputs)
    for name, value, node in top_assignments(code):
        if isinstance(value, (ast.List, ast.Tuple)) and value.elts \
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts) \
                and {e.value for e in value.elts} < inputs:
            return name, " ".join((ast.get_source_segment(code, node) or "").split()), [e.value for e in value.elts]
    return None


def top_assignments(code: str | None):
    """(name, value, statement) of each top-level ``NAME = value`` of ``code``; none when it does not parse."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            yield node.targets[0].id, node.value, node


def widen_columns(picked: tuple[str, str, list[str]], columns, code: str | None) -> str:
    """The sentence that turns the picked columns into all of them (``picked_columns``), and
    takes out a ``.fillna(`` where there are categories: a 0 among text categories makes
    OneHotEncoder raise "Encoders require their input argument must be uniformly strings or numbers"."""
    name, line, kept = picked
    inputs = columns.inputs
    fills = columns.categories and ".fillna(" in (code or "")
    return (f"`{line}` keeps {len(kept)} of the {len(inputs)} input columns: make it `{name} = {inputs!r}`"
            + (", and take out .fillna(...) (the SimpleImputer fills the gaps; a 0 among text categories "
               "breaks OneHotEncoder)." if fills else "."))


def _listed(names: Sequence[str], dtype: str, by_type: bool = False) -> str:
    """The columns as code: their names, or a selector when there are too many to list."""
    if by_type or len(names) > MAX_LISTED_COLUMNS:
        return f'make_column_selector(dtype_include="{dtype}")' if dtype == "number" else \
            "make_column_selector(dtype_include=object)"
    return repr(list(names))


def _columns(names: Sequence[str]) -> str:
    return f"input column {names[0]}" if len(names) == 1 else f"input columns {', '.join(names)}"


STRONGER = {  # the stronger models an improvement may try, by kind of target: told "a gradient-boosted
    # ensemble", the embedded model imported GradientBoostedTreeRegressor (twice in one diabetes run).
    # For classes the histogram-based boosting: GradientBoostingClassifier grows one exact tree per
    # class per round, and on digits (10 classes, 1,437 rows) its nodes ran 55 and 61 s of a 91 s
    # limit, a quarter of the run's wall time, for a worse validation accuracy than the parent's
    "numeric": "GradientBoostingRegressor, RandomForestRegressor, or SVR or MLPRegressor after a StandardScaler",
    "classes": "HistGradientBoostingClassifier, RandomForestClassifier, or SVC or MLPClassifier after a StandardScaler",
    None: "a gradient-boosted or random-forest ensemble, a kernel SVM or a small neural network",
}


TEXT_STRONGER = {
    "numeric": "Ridge or SGDRegressor on TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) features",
    "classes": "LogisticRegression(C=10, max_iter=1000) or ComplementNB on TfidfVectorizer(ngram_range=(1, 2), "
               "sublinear_tf=True) features, or SGDClassifier(loss=\"modified_huber\")",
    None: "a linear model on TfidfVectorizer(ngram_range=(1, 2)) features",
}


def stronger_models(metric: MetricSpec, text_column: str | None = None) -> str:
    """Models an improvement "to a stronger model" may try, named as scikit-learn names them."""
    if text_column:
        return TEXT_STRONGER[target_kind(metric)] + text_note(text_column)
    return STRONGER[target_kind(metric)]


# one estimator that averages two kinds of model: on diabetes (309 training rows) the validation
# split ranked gradient boosting first (RMSE 58.7; 55.2 on the hidden test, over the bar), while
# its average with a ridge regression scored 58.0 there and 50.8 on the hidden test. The line
# names the current model as the code has it: told "<the current model>", the embedded model
# imported VotingRegressor and kept its gradient boosting alone
ENSEMBLES = {"numeric": ("VotingRegressor([(\"current\", {current}), (\"other\", {other})])",
                         "make_pipeline(StandardScaler(), Ridge())", "RandomForestRegressor(random_state=0)"),
             "classes": ("VotingClassifier([(\"current\", {current}), (\"other\", {other})], voting=\"soft\")",
                         "make_pipeline(StandardScaler(), LogisticRegression())",
                         "RandomForestClassifier(random_state=0)")}
LINEAR = re.compile(r"Ridge|Lasso|Linear|Logistic|ElasticNet|SGD|Lars")


TEXT_ENSEMBLES = {  # words and characters: two views of the same text column, each its own pipeline
    "numeric": "VotingRegressor([(\"words\", make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), Ridge())), "
               "(\"chars\", make_pipeline(TfidfVectorizer(analyzer=\"char_wb\", ngram_range=(2, 5)), Ridge()))])",
    "classes": "VotingClassifier([(\"words\", make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), "
               "LogisticRegression(C=10, max_iter=1000))), (\"chars\", make_pipeline(TfidfVectorizer("
               "analyzer=\"char_wb\", ngram_range=(2, 5)), LogisticRegression(C=10, max_iter=1000)))], "
               "voting=\"soft\")",
}


def ensemble_example(metric: MetricSpec, current: str | None, text_column: str | None = None) -> str:
    """How to average the current model (its expression in the code, when known) with another
    kind, as one scikit-learn estimator: a linear model, or a forest when the current one is linear
    (for a text column: word and character pipelines, each taking the text)."""
    kind = target_kind(metric)
    if text_column and kind is not None:
        return f"for example model = {TEXT_ENSEMBLES[kind]}{text_note(text_column)}"
    if kind is None:
        return "for example scikit-learn's VotingRegressor or VotingClassifier over the two"
    line, linear, forest = ENSEMBLES[kind]
    if current is not None and current.endswith("…"):  # cut for the memory: not code to copy
        current = None
    other = forest if LINEAR.search(model_name(current) or "") else linear
    return "for example model = " + line.format(current=current or "<the current model>", other=other)


def model_name(model: str | None) -> str | None:
    """``RandomForestClassifier`` of ``RandomForestClassifier(n_estimators=300)`` (a draft told
    only "use a different model from the earlier drafts" kept the starter's: the names help)."""
    calls = re.findall(r"([A-Za-z_]\w*)\s*\(", model or "")
    if not calls:
        return None
    if calls[0] in ("make_pipeline", "Pipeline") and len(calls) > 1:
        return calls[-1]  # a pipeline is named by its last step, the estimator
    return calls[0]
