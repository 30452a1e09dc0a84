"""The validation metric of a script run, read from the script's own output (no LLM call).

The tree strategy asks every script to print one line ``Validation <metric>: <value>``
(for example ``Validation accuracy: 0.9312``). ``parse_metric`` finds the last such line
whose name is the task's metric (any name when the task names none) and returns its value;
a missing line, a value that is not a finite number, or a negative value of a metric that
cannot be negative (a sign slip) gives ``None`` with the reason.

Small models keep the print line of the starter script, which tasks write in their own way
(``Cross-validated RMSE: 2.07``, ``val_rmse=2.07``, ``Test accuracy: 0.93`` after a
``train_test_split``). Without a ``Validation`` line, the last line that names the task's
metric with a held-out qualifier (validation, val, cv, cross-validated, held-out, dev, oob,
out-of-fold, fold, test: a task's real test labels are never in the workspace) is read
instead, and the reading says which line it was. A line without a qualifier (``Accuracy:``)
or about the training data is not read: it may be a training score.
The direction (higher or lower is better) comes from ``task.json``, else from the problem.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

METRIC_LINE = re.compile(
    r"^[ \t>*#-]*validation[ \t]+(?P<name>[A-Za-z][\w \-/().@]{0,40}?)[ \t]*[:=][ \t]*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|[-+]?(?:nan|inf(?:inity)?))",
    re.IGNORECASE | re.MULTILINE)
"""One ``Validation <name>: <value>`` line; the value may be nan/inf (then rejected)."""

_LOWER = re.compile(r"\(?\s*lower\s+is\s+better|\blower\s+(?:values?\s+)?(?:are|is)\s+better|"
                    r"\bminimi[sz]e\b", re.IGNORECASE)
_HIGHER = re.compile(r"\(?\s*higher\s+is\s+better|\bhigher\s+(?:values?\s+)?(?:are|is)\s+better|"
                     r"\bmaximi[sz]e\b", re.IGNORECASE)
_LOWER_NAMES = ("loss", "error", "rmse", "mse", "mae", "mape", "rmsle", "mcrmse", "perplexity", "logloss")
# metrics that cannot be negative: a negative value is a sign slip, most often scikit-learn's
# neg_* scorers ("neg_root_mean_squared_error") printed as they are, which would make the worst
# model look best when lower is better
NON_NEGATIVE = ("rmse", "mse", "mae", "mape", "rmsle", "mcrmse", "perplexity", "logloss", "accuracy",
                "balancedaccuracy", "f1", "auc", "rocauc", "precision", "recall")
OUTPUT_READ_MAX_BYTES = 4 << 20  # of a script's full output, searched for the metric line


@dataclass(frozen=True)
class MetricSpec:
    """What to look for in a script's output, and which way is better."""

    name: str | None  # the task's metric name; None: any ``Validation <name>:`` line counts
    direction: str = "higher"  # "higher" or "lower"

    @property
    def label(self) -> str:
        return self.name or "<metric>"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "higher" else a < b

    def describe(self) -> str:
        return f"{self.direction} is better"


@dataclass(frozen=True)
class MetricReading:
    value: float | None
    name: str | None = None
    problem: str | None = None  # why there is no value
    line: str | None = None  # the output line read, when it was not a ``Validation <metric>:`` line


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_metric(output: str, spec: MetricSpec) -> MetricReading:
    """The value of the last ``Validation <name>: <value>`` line for ``spec.name`` in ``output``;
    without one, of the last line naming the metric with a held-out qualifier (``line`` says which)."""
    found = list(METRIC_LINE.finditer(output or ""))
    if spec.name:
        want = _norm(spec.name)
        found = [m for m in found if _norm(m.group("name")) == want]
    if found:
        m = found[-1]
        return _reading(m.group("name").strip(), m.group("value"))
    loose = _held_out_line(output or "", spec.name) if spec.name else None
    if loose is not None:
        raw, line = loose
        return replace(_reading(spec.name, raw), line=line)
    return MetricReading(None, problem=f"no line 'Validation {spec.label}: <number>' in the output")


def _reading(name: str, raw: str) -> MetricReading:
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        value = float("nan")
    if raw.endswith("%"):
        value /= 100.0
    if not math.isfinite(value):
        return MetricReading(None, name, f"the validation {name} is {raw}, not a finite number")
    if value < 0 and _norm(name) in NON_NEGATIVE:
        return MetricReading(None, name, f"the validation {name} is {raw}, but it cannot be negative "
                             f"(scikit-learn's neg_* scorers return minus the score: print the value itself)")
    return MetricReading(value, name)


_VALUE = r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|[-+]?(?:nan|inf(?:inity)?))(?![\w.])"
_LABELLED = (re.compile(r"(?<![\w.])(?P<label>[A-Za-z][\w .\-/()@]{0,60}?)\s*[:=]\s*" + _VALUE, re.IGNORECASE),
             # print("Validation accuracy", acc): a label, spaces and the number that ends the line
             re.compile(r"(?<![\w.])(?P<label>[A-Za-z][\w .\-/()@]{0,60}?)\s+" + _VALUE + r"\s*$", re.IGNORECASE))
HELD_OUT_WORDS = frozenset({"val", "valid", "validation", "validated", "cv", "cross", "crossval", "holdout", "hold",
                            "heldout", "held", "out", "oob", "dev", "oof", "fold", "folds", "kfold", "test"})
TRAINING_WORDS = frozenset({"train", "training", "fit", "fitted", "insample"})
_FILLER_WORDS = frozenset({"mean", "average", "avg", "final", "best", "set", "split", "data", "score", "on", "the",
                           "of", "model", "overall", "metric", "k"})
_ALIASES = {"rmse": ("rootmeansquarederror", "rootmeansquareerror"), "mse": ("meansquarederror",),
            "mae": ("meanabsoluteerror",), "accuracy": ("acc",), "r2": ("rsquared",),
            "logloss": ("crossentropy", "loss"), "rocauc": ("auc", "aucroc"), "auc": ("rocauc", "aucroc")}
MAX_LINE_CHARS = 2000  # longer lines (arrays, progress bars) are not read for a metric


def _held_out_line(output: str, metric: str) -> tuple[str, str] | None:
    """(value, line) of the last ``<qualified label>: <value>`` pair whose label names
    ``metric`` once the held-out words (and words like "mean", "set") are set aside, and that
    is not about training."""
    names = {_norm(metric), *_ALIASES.get(_norm(metric), ())}
    last = None
    for line in output.splitlines():
        if len(line) > MAX_LINE_CHARS:
            continue
        pairs = [m for pattern in _LABELLED for m in pattern.finditer(line)]
        for m in sorted(pairs, key=lambda m: m.start("value")):
            words = re.findall(r"[a-z0-9]+", m.group("label").lower())
            if TRAINING_WORDS.intersection(words):
                continue
            starts = [0] + [i for i, w in enumerate(words) if i and w in HELD_OUT_WORDS]  # "epoch 3 val_rmse"
            for start in starts:
                if _names_held_out_metric(words[start:], names):
                    last = (m.group("value"), line.strip()[:300])
                    break
    return last


def _names_held_out_metric(words: list[str], names: set[str]) -> bool:
    if not HELD_OUT_WORDS.intersection(words):
        return False
    rest = [w for w in words if w not in HELD_OUT_WORDS and not w.isdigit()]
    return bool({"".join(rest), "".join(w for w in rest if w not in _FILLER_WORDS)} & names)


def script_output(obs) -> str:
    """A script run's whole output when it was saved (its observation keeps head and tail),
    its last ``OUTPUT_READ_MAX_BYTES``; else the observation's text."""
    path = getattr(obs, "full_text_path", None)
    if path:
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - OUTPUT_READ_MAX_BYTES))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            pass
    return obs.text


def direction_from_problem(problem: str, metric: str | None = None) -> str:
    """'lower' when the problem says lower is better (or the metric is an error/loss), else 'higher'."""
    lower, higher = _LOWER.search(problem or ""), _HIGHER.search(problem or "")
    if lower and not higher:
        return "lower"
    if higher and not lower:
        return "higher"
    if lower and higher:  # both said: the first one stated wins
        return "lower" if lower.start() < higher.start() else "higher"
    if metric and any(_norm(metric).endswith(n) or _norm(metric) == n for n in _LOWER_NAMES):
        return "lower"
    return "higher"


def metric_spec_for(task, problem: str) -> MetricSpec:
    """The metric of ``task``: its name from ``task.json``; direction from there, else the problem."""
    config = getattr(task, "config", None) or {}
    name = getattr(task, "metric", None) or None
    direction = config.get("direction") if config.get("direction") in ("higher", "lower") else None
    return MetricSpec(name=name, direction=direction or direction_from_problem(problem, name))
