"""What a node's code fits, and which model families the drafts try.

* ``fitted_model`` / ``model_name``: the estimator a script fits, read from its code, for the
  memory of earlier nodes (``RandomForestRegressor(n_estimators=300)``) and for the draft
  instruction (``RandomForestRegressor``).
* ``target_kind`` / ``draft_idea``: whether the task predicts a number or classes (from the
  metric's name), and the model family the n-th draft is asked to try, with classes for it.
"""
from __future__ import annotations

import ast
import re

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
     "RandomForestClassifier or GradientBoostingClassifier"),
    ("a kernel method or a small neural network with standardised features",
     "make_pipeline(StandardScaler(), SVR()) or the same with MLPRegressor()",
     "make_pipeline(StandardScaler(), SVC(probability=True)) or the same with MLPClassifier()"),
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


def draft_idea(index: int, metric: MetricSpec) -> str:
    """The model family the ``index``-th draft is asked to try, with classes that fit the target."""
    family, numeric, classes = DRAFT_IDEAS[index % len(DRAFT_IDEAS)]
    kind = target_kind(metric)
    examples = {"numeric": numeric, "classes": classes}.get(kind, f"{numeric} for a numeric target, "
                                                                  f"{classes} for classes")
    return f"{family} ({examples})"


def model_name(model: str | None) -> str | None:
    """``RandomForestClassifier`` of ``RandomForestClassifier(n_estimators=300)`` (a draft told
    only "use a different model from the earlier drafts" kept the starter's: the names help)."""
    calls = re.findall(r"([A-Za-z_]\w*)\s*\(", model or "")
    if not calls:
        return None
    if calls[0] in ("make_pipeline", "Pipeline") and len(calls) > 1:
        return calls[-1]  # a pipeline is named by its last step, the estimator
    return calls[0]
