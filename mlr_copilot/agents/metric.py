"""The validation metric of a script run, read from the script's own output (no LLM call).

The tree strategy asks every script to print one line ``Validation <metric>: <value>``
(for example ``Validation accuracy: 0.9312``). ``parse_metric`` finds the last such line
whose name is the task's metric (any name when the task names none) and returns its value;
a missing line, a value that is not a finite number, or a negative value of a metric that
cannot be negative (a sign slip) gives ``None`` with the reason.
The direction (higher or lower is better) comes from ``task.json``, else from the problem.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

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


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_metric(output: str, spec: MetricSpec) -> MetricReading:
    """The value of the last ``Validation <name>: <value>`` line for ``spec.name`` in ``output``."""
    found = list(METRIC_LINE.finditer(output or ""))
    if spec.name:
        want = _norm(spec.name)
        found = [m for m in found if _norm(m.group("name")) == want]
    if not found:
        return MetricReading(None, problem=f"no line 'Validation {spec.label}: <number>' in the output")
    m = found[-1]
    raw = m.group("value")
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        value = float("nan")
    if raw.endswith("%"):
        value /= 100.0
    if not math.isfinite(value):
        return MetricReading(None, m.group("name").strip(), f"the validation {m.group('name').strip()} is "
                             f"{raw}, not a finite number")
    if value < 0 and _norm(m.group("name")) in NON_NEGATIVE:
        return MetricReading(None, m.group("name").strip(), f"the validation {m.group('name').strip()} is "
                             f"{raw}, but it cannot be negative (scikit-learn's neg_* scorers return minus the "
                             f"score: print the value itself)")
    return MetricReading(value, m.group("name").strip())


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
