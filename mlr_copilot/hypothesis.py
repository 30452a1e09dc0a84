"""A verdict on the IdeaAgent's hypothesis: its acceptance criterion against the graded runs.

The criterion is the plan's ``acceptance_criterion`` when it has one, else the sentence of
the hypothesis that states a measurable threshold ("raises test accuracy by at least one
point over logistic regression"), else the default "the metric improves on the baseline".
It is read deterministically into one of:

- ``points``: the metric improves by at least N points (absolute; x100 for 0-1 scores);
- ``relative``: it improves by at least N% of the baseline ("by 5%" is read as relative;
  write "percentage points" for an absolute change);
- ``absolute``: it improves by at least N in the metric's own units ("by at least 0.02");
- ``reach``: the score reaches N ("accuracy of at least 0.95", "RMSE below 40");
- ``improve``: the score is better than the baseline (no number).

"Improves" follows the task's direction (lower is better for RMSE). With several trials the
criterion is tested at one standard deviation on either side of the mean: ``supported``
when it holds even at the pessimistic end, ``refuted`` when it fails even at the optimistic
end, ``inconclusive`` in between, and when there is no valid graded run or a criterion
needs a baseline the task does not have. One trial has no spread: its verdict is the
criterion on that score, with a note. Results are appended to ``problems/NAME.idea.json``
(``results``), one entry per set of runs.
"""
from __future__ import annotations

import json
import logging
import re
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ConfigError
from .logs import utc_now
from .records import RunDir, RunInfo, idea_json_path
from .records.idea import IdeaRecord

logger = logging.getLogger(__name__)

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "a": 1, "half a": 0.5}
_N = r"(?P<n>\d+(?:\.\d+)?|half a|one|two|three|four|five|six|seven|eight|nine|ten|a)"
_AT_LEAST = r"(?:at least|more than|over|≥|>=|a minimum of)?\s*"
_POINTS = re.compile(r"\bby\s+" + _AT_LEAST + _N + r"\s*-?\s*(?:percentage[ -]points?|points?|pp|pts)\b", re.I)
_RELATIVE = re.compile(r"\bby\s+" + _AT_LEAST + _N + r"\s*(?:%|percent\b)", re.I)
_ABSOLUTE = re.compile(r"\bby\s+" + _AT_LEAST + r"(?P<n>\d+(?:\.\d+)?)(?![\d.%]|\s*(?:percent|-?\s*points?|pp|pts)\b)", re.I)
_REACH_UP = re.compile(r"(?:at least|above|exceed(?:s|ing)?|reach(?:es|ing)?|≥|>=)\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<pct>%)?", re.I)
_REACH_DOWN = re.compile(r"(?:below|under|at most|less than|≤|<=)\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<pct>%)?", re.I)
_IMPROVE = re.compile(r"\b(?:improv\w*|outperform\w*|beat\w*|better|rais\w*|increas\w*|reduc\w*|lower\w*|gain\w*)\b", re.I)
DEFAULT_CRITERION = "the metric improves on the baseline"


@dataclass
class Criterion:
    text: str
    kind: str  # points | relative | absolute | reach | improve
    threshold: float | None
    source: str  # plan | hypothesis | default

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(s: str) -> float:
    return float(_WORDS[s.lower()]) if s.lower() in _WORDS else float(s)


def parse_criterion(text: str, source: str = "plan") -> Criterion | None:
    """The first measurable criterion stated in ``text``; None when it states none."""
    for sentence in re.split(r"(?<=[.;!?])\s+|\n", text or ""):
        if m := _POINTS.search(sentence):
            return Criterion(sentence.strip(), "points", _num(m.group("n")), source)
        if m := _RELATIVE.search(sentence):
            return Criterion(sentence.strip(), "relative", _num(m.group("n")), source)
        if m := _ABSOLUTE.search(sentence):
            return Criterion(sentence.strip(), "absolute", float(m.group("n")), source)
        if m := _REACH_UP.search(sentence) or _REACH_DOWN.search(sentence):
            n = float(m.group("n")) / (100 if m.group("pct") else 1)
            return Criterion(sentence.strip(), "reach", n, source)
    for sentence in re.split(r"(?<=[.;!?])\s+|\n", text or ""):
        if _IMPROVE.search(sentence):
            return Criterion(sentence.strip(), "improve", None, source)
    return None


def criterion_of(idea: Mapping[str, Any]) -> Criterion:
    """The criterion of an idea.json (as a dict): plan, then hypothesis, then the default."""
    best = next((c for c in idea.get("candidates", []) if c.get("index") == idea.get("selected")), {})
    plan_text = str((best.get("plan") or {}).get("acceptance_criterion") or "")
    hyp_text = str((best.get("hypothesis") or {}).get("hypothesis") or "")
    return (parse_criterion(plan_text, "plan") or parse_criterion(hyp_text, "hypothesis")
            or Criterion(DEFAULT_CRITERION, "improve", None, "default"))


def holds(c: Criterion, score: float, baseline: float | None, direction: str) -> bool | None:
    """Whether one score meets the criterion; None when it needs a baseline and there is none."""
    if c.kind == "reach":
        return score >= c.threshold if direction == "higher" else score <= c.threshold
    if baseline is None:
        return None
    delta = score - baseline if direction == "higher" else baseline - score
    if c.kind == "improve":
        return delta > 0
    if c.kind == "relative":
        return baseline != 0 and 100.0 * delta / abs(baseline) >= c.threshold - 1e-9
    if c.kind == "absolute":
        return delta >= c.threshold - 1e-9
    scale = 100.0 if abs(score) <= 1.0 and abs(baseline) <= 1.0 else 1.0
    return delta * scale >= c.threshold - 1e-9


def judge(c: Criterion, scores: Sequence[float], baseline: float | None, direction: str,
          invalid: int = 0) -> dict[str, Any]:
    """Verdict, mean and spread of the valid scores of several trials."""
    n = len(scores)
    out: dict[str, Any] = {"criterion": c.to_dict(), "trials": n + invalid, "valid_trials": n,
                           "scores": list(scores), "baseline": baseline, "direction": direction,
                           "mean": None, "std": None, "verdict": "inconclusive", "reason": ""}
    if not n:
        out["reason"] = "no trial has a valid graded score"
        return out
    mean = statistics.fmean(scores)
    std = statistics.stdev(scores) if n > 1 else 0.0
    out.update(mean=mean, std=std)
    sign = 1 if direction == "higher" else -1
    worst, best = mean - sign * std, mean + sign * std
    at_worst, at_best = holds(c, worst, baseline, direction), holds(c, best, baseline, direction)
    if at_worst is None:
        out["reason"] = "the criterion needs the task's baseline score, which is not recorded"
    elif at_worst:
        out["verdict"] = "supported"
        out["reason"] = "holds at the mean" + (" minus one standard deviation" if n > 1 else "")
    elif not at_best:
        out["verdict"] = "refuted"
        out["reason"] = "fails at the mean" + (" plus one standard deviation" if n > 1 else "")
    else:
        out["reason"] = "the threshold lies within one standard deviation of the mean"
    if n == 1:
        out["reason"] += "; one trial, so no spread (batch --trials N gives one)"
    if invalid:
        out["reason"] += f"; {invalid} trial(s) without a valid score left out"
    return out


def idea_path_of(root: Path, task: str) -> Path | None:
    """problems/TASK.idea.json when the task's problem text was written by the IdeaAgent."""
    from .agents.idea_output import GENERATED_MARK

    problem = Path(root) / "problems" / task
    path = idea_json_path(problem)
    if not path.is_file() or not problem.is_file():
        return None
    return path if GENERATED_MARK in problem.read_text(encoding="utf-8", errors="replace") else None


def _run_start(run_dir: Any) -> str:
    return RunInfo.read_or_empty(run_dir).start if run_dir else ""


def evaluate_hypotheses(evals: Sequence[Mapping[str, Any]], root: Path) -> list[dict[str, Any]]:
    """For each task among ``evals`` whose problem came from ``idea``: judge the criterion on
    its runs made since the idea was written; the result is appended to the idea.json."""
    out = []
    for task in sorted({str(e.get("task")) for e in evals}):
        path = idea_path_of(root, task)
        if path is None:
            continue
        try:
            idea = IdeaRecord.read(path)
        except ConfigError as exc:
            logger.warning("hypothesis of %s not judged: %s", task, exc)
            continue
        runs = [e for e in evals if e.get("task") == task and e.get("graded")
                and _run_start(e.get("run_dir")) >= idea.created]
        if not runs:
            continue
        scores = [float(e["score"]) for e in runs if e.get("valid") and e.get("score") is not None]
        result = judge(criterion_of(idea.model_dump()), scores, runs[0].get("baseline"),
                       str(runs[0].get("direction") or "higher"), invalid=len(runs) - len(scores))
        result.update(task=task, metric=runs[0].get("metric"), evaluated_at=utc_now(),
                      run_dirs=sorted(str(e.get("run_dir")) for e in runs), idea_path=str(path))
        kept = [r for r in idea.results if r.get("run_dirs") != result["run_dirs"]]
        idea.results = kept + [{k: v for k, v in result.items() if k != "idea_path"}]
        idea.write(path)
        out.append(result)
    return out


def describe(r: Mapping[str, Any]) -> str:
    c = r["criterion"]
    spread = (f"mean {r['mean']:.4g} ± {r['std']:.2g} over {r['valid_trials']} trial(s)"
              if r.get("mean") is not None else f"{r['trials']} trial(s), none valid")
    base = f", baseline {r['baseline']:.4g}" if r.get("baseline") is not None else ""
    return (f"Hypothesis of {r['task']}: {r['verdict']} — criterion ({c['source']}): \"{c['text']}\"; "
            f"{spread}{base}; {r['reason']}")


def judge_pipeline_run(run_dir: Path, root: Path) -> list[str]:
    """``pipeline``: grade the run just made, then judge the hypothesis on it (and on earlier
    runs of the same idea with an eval.json); one line per verdict."""
    from .errors import MLRError

    try:
        return [describe(r) for r in evaluate_hypotheses(_with_earlier_evals(Path(run_dir), Path(root)), root)]
    except (OSError, MLRError) as exc:  # the run is recorded; only its verdict is missing
        return [f"Hypothesis not judged: {exc}"]


def _with_earlier_evals(run_dir: Path, root: Path) -> list[Mapping[str, Any]]:
    from .evaluation import evaluate_run, find_run_dirs
    from .tasks import discover_tasks

    evals: list[Mapping[str, Any]] = [evaluate_run(run_dir, discover_tasks(root))]
    for other in find_run_dirs([run_dir.parent]):
        eval_json = RunDir(other).eval_json
        if other.resolve() != run_dir.resolve() and eval_json.is_file():
            try:
                evals.append(json.loads(eval_json.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
    return evals
