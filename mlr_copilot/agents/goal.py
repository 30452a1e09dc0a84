"""The improvement a task asks for ("improve ... by at least 10%"), and how far a run got.

Small models take any gain as done: on a tumour probe the embedded model raised its
validation accuracy from 0.7207 to 0.7477 (+3.7%), wrote "the goal is reached" and gave the
Final Answer with six of ten steps left; the hidden test gain was 8.7%, short of the 10% the
problem asked for. The loop's next move and its Final Answer check therefore compare the
last measured result with the baseline in the task's own terms. The goal is read from the
problem text; a problem that states none gets no such check.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .metric import MetricSpec, parse_metric

_GOAL = re.compile(r"\bby\s+(?:at\s+least\s+|more\s+than\s+|over\s+|a\s+minimum\s+of\s+)?"
                   r"(\d+(?:\.\d+)?)\s*(?:%|percent\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Goal:
    """At least ``percent`` better than the baseline, on the metric ``spec`` reads."""

    percent: float
    spec: MetricSpec


@dataclass(frozen=True)
class Progress:
    """The baseline run and the last run, their values, and the gain in percent (positive: better)."""

    baseline_step: int
    baseline: float
    last_step: int
    last: float
    gain: float
    goal: Goal
    name: str  # the metric as the script named it, when the task names none

    @property
    def reached(self) -> bool:
        return self.gain >= self.goal.percent

    def describe(self) -> str:
        return (f"the validation {self.name} went from {self.baseline:g} (step {self.baseline_step}) to {self.last:g} "
                f"(step {self.last_step}), {self.gain:+.1f}%, and the task asks for an improvement of at least "
                f"{self.goal.percent:g}%")


def goal_from_problem(problem: str, spec: MetricSpec) -> Goal | None:
    """The first "by (at least) N%" of the problem text; None when it states none."""
    m = _GOAL.search(problem or "")
    if m is None or float(m.group(1)) <= 0:
        return None
    return Goal(float(m.group(1)), spec)


def progress(goal: Goal | None, baseline, last) -> Progress | None:
    """How the run ``last`` compares with the run ``baseline`` (step records whose observation
    is a script's output); None without a goal, or when either printed no reading of the metric."""
    if goal is None or baseline is None or last is None or last.step <= baseline.step:
        return None
    before = parse_metric(baseline.observation, goal.spec).value
    reading = parse_metric(last.observation, goal.spec)
    after = reading.value
    if before is None or after is None or before == 0:
        return None
    change = (after - before) if goal.spec.direction == "higher" else (before - after)
    return Progress(baseline.step, before, last.step, after, 100.0 * change / abs(before), goal,
                    goal.spec.name or reading.name or "metric")
