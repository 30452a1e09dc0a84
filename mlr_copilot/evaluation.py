"""Grading finished runs and summarising many: eval.json, summary tables, a score plot.

A run directory (``logs/TASK/TIMESTAMP/``) holds ``workspace/``, ``run.json``,
``agent_log/full_log.jsonl`` and ``env_log/`` (per-step snapshots). The grader reads the
final workspace (or a step's snapshot restored into a temporary folder) from this process;
it never runs the agent's code. Success follows MLAgentBench: the final submission improves
on the baseline by more than 10%, in the direction the metric prefers.
"""
from __future__ import annotations

import csv
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .claim_check import attach_to_eval, claim_lines, runs_with_bad_claims
from .grading import Grade
from .errors import RunRecordError
from .logs import utc_now, write_json_atomic
from .records import SCHEMA_VERSION, RunDir, RunInfo, RunStatus
from .records.layout import ENV_LOG
from .tasks import Task

log = logging.getLogger(__name__)

SUCCESS_THRESHOLD_PCT = 10.0
SUMMARY_COLUMNS = ("task", "llm", "runs", "valid", "success_rate", "mean_improvement_pct", "mean_score",
                   "baseline", "final_answer_rate", "mean_steps", "mean_wall_time_s", "total_tokens",
                   "mean_cost_usd", "total_cost_usd", "runs_contradicted", "runs_unsupported")


def improvement(score: float | None, baseline: float | None, direction: str) -> tuple[float | None, float | None]:
    """(absolute, percent) improvement of ``score`` over ``baseline``; positive means better.

    For lower-is-better metrics a drop counts as improvement. The percentage is relative to
    ``|baseline|`` and is None when the baseline is 0 or unknown.
    """
    if score is None or baseline is None:
        return None, None
    delta = score - baseline if direction == "higher" else baseline - score
    pct = 100.0 * delta / abs(baseline) if baseline != 0 else None
    return delta, pct


def _number(value: Any, kind: type = float) -> Any:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def recorded_steps(run_dir: Path) -> list[int]:
    """Steps that have a workspace snapshot (0 is the workspace as the run began)."""
    from .env.snapshots import list_steps

    return list_steps(RunDir(run_dir).env_log.root)


def grade_steps(run_dir: Path, task: Task, steps: Iterable[int]) -> list[dict[str, Any]]:
    """Grade each step's snapshot, restored into a temporary folder outside the run."""
    from .env.snapshots import restore

    out = []
    for step in steps:
        with tempfile.TemporaryDirectory(prefix="mlr_eval_step_") as tmp:
            target = Path(tmp) / "workspace"
            try:
                restore(RunDir(run_dir).env_log.root, step, target)
            except Exception as exc:  # noqa: BLE001 - a broken snapshot is a finding, not a crash
                grade = Grade.invalid(f"snapshot of step {step} could not be restored: {exc}")
            else:
                grade = task.grade(target)
        out.append({"step": step, **grade.to_dict()})
    return out


def evaluate_run(run_dir: str | Path, tasks: Mapping[str, Task], *, all_steps: bool = False,
                 write: bool = True) -> dict[str, Any]:
    """Grade one run and describe it; written to ``run_dir/eval.json`` when ``write``."""
    run_dir = Path(run_dir)
    notes: list[str] = []
    try:
        info = RunInfo.read(run_dir)
    except RunRecordError as exc:
        info = RunInfo()
        notes.append(exc.reason)
    totals = info.totals
    task_name = str(info.task or run_dir.parent.name)
    task = tasks.get(task_name)
    if task is None:
        grade = Grade.invalid(f"unknown task '{task_name}': not found among {', '.join(tasks) or 'no tasks'}")
    else:
        if task.gradable and task.offline and not task.is_prepared():
            task.prepare(online=False)  # deterministic data: the answers can be rebuilt here
        grade = task.grade(info.workspace(run_dir))
    direction = task.direction if task else "higher"
    baseline = task.baseline if task else None
    delta, pct = improvement(grade.score, baseline, direction)
    if task is not None and task.gradable and baseline is None:
        notes.append(f"no baseline recorded for '{task_name}' (run `mlr-copilot baseline {task_name}`)")
    success: bool | None
    if not grade.valid:
        success = False if task is not None and task.gradable else None
    else:
        success = (pct > SUCCESS_THRESHOLD_PCT) if pct is not None else None
    final_answer = info.get("final_answer")
    inp, outp = _number(totals.get("input_tokens"), int), _number(totals.get("output_tokens"), int)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "evaluated_at": utc_now(), "run_dir": str(run_dir),
        "task": task_name, "llm": info.get("llm"), "status": info.get("status"),
        "metric": task.metric if task else None, "direction": direction, "graded": bool(task and task.gradable),
        "score": grade.score, "valid": grade.valid, "reason": grade.reason, "baseline": baseline,
        "improvement": delta, "improvement_pct": pct, "success": success,
        "final_answer_given": info.status == RunStatus.FINAL_ANSWER and bool(final_answer),
        "final_answer": final_answer,
        "steps": _number(totals.get("steps"), int), "wall_time_s": _number(totals.get("wall_time_s")),
        "input_tokens": inp, "output_tokens": outp,
        "tokens": (inp or 0) + (outp or 0) if inp is not None or outp is not None else None,
        "cost_usd": _number(totals.get("cost_usd")), "notes": notes,
    }
    if all_steps and task is not None and task.gradable:
        steps = recorded_steps(run_dir)
        if not steps:
            notes.append(f"no workspace snapshots found in {ENV_LOG}/; only the final workspace was graded")
        scores = grade_steps(run_dir, task, steps)
        result["step_scores"] = scores
        valid = [s for s in scores if s["valid"]]
        if valid:
            best = valid[0]
            for s in valid[1:]:
                if task.better(s["score"], best["score"]):
                    best = s
            result["best_step"], result["best_score"] = best["step"], best["score"]
    attach_to_eval(run_dir, result, write=write)  # the grades go to the measurements ledger; claims are checked
    if write:
        eval_json = RunDir(run_dir).eval_json
        try:
            write_json_atomic(eval_json, result)
        except OSError as exc:
            log.warning("could not write %s: %s", eval_json, exc)
    return result


def is_run_dir(path: Path) -> bool:
    return RunDir(path).looks_like_run()


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories among ``paths`` or below them (a run's own workspace is not searched)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if is_run_dir(p):
            found.append(p)
        elif p.is_dir():
            for dirpath, dirnames, _ in os.walk(p):
                d = Path(dirpath)
                if is_run_dir(d):
                    found.append(d)
                    dirnames[:] = []  # never descend into a run (its workspace is the agent's)
                else:
                    dirnames.sort()
    seen, unique = set(), []
    for d in found:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


# --- many runs --------------------------------------------------------------------------

def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def summarize(evals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, LLM): success rate, mean improvement, cost and the rest."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for e in evals:
        groups.setdefault((str(e.get("task")), str(e.get("llm") or "?")), []).append(e)
    rows = []
    for (task, llm), runs in sorted(groups.items()):
        judged = [r for r in runs if r.get("success") is not None]
        costs = [r.get("cost_usd") for r in runs if r.get("cost_usd") is not None]
        tokens = [r.get("tokens") for r in runs if r.get("tokens") is not None]
        rows.append({
            "task": task, "llm": llm, "runs": len(runs), "valid": sum(1 for r in runs if r.get("valid")),
            "success_rate": (100.0 * sum(1 for r in judged if r["success"]) / len(judged)) if judged else None,
            "mean_improvement_pct": _mean(r.get("improvement_pct") for r in runs if r.get("valid")),
            "mean_score": _mean(r.get("score") for r in runs if r.get("valid")),
            "baseline": runs[0].get("baseline"),
            "final_answer_rate": 100.0 * sum(1 for r in runs if r.get("final_answer_given")) / len(runs),
            "mean_steps": _mean(r.get("steps") for r in runs),
            "mean_wall_time_s": _mean(r.get("wall_time_s") for r in runs),
            "total_tokens": sum(tokens) if tokens else None,
            "mean_cost_usd": _mean(costs), "total_cost_usd": sum(costs) if costs else None,
            **runs_with_bad_claims(runs),
        })
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def summary_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    header = "| " + " | ".join(SUMMARY_COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in SUMMARY_COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in SUMMARY_COLUMNS) + " |" for r in rows]
    note = (f"\nsuccess_rate: share of runs whose final submission beats the baseline by more than "
            f"{SUCCESS_THRESHOLD_PCT:g}% (sign-aware; an invalid submission is a failure). mean_improvement_pct "
            "and mean_score: over runs with a valid submission. n/a: not measurable (no grader, no baseline "
            "or no valid run). runs_contradicted / runs_unsupported: runs with at least one claimed number "
            "that the measurements contradict / that nothing measured.\n")
    return "\n".join([header, sep, *body]) + "\n" + note


def write_summary_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(SUMMARY_COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow({c: "" if r.get(c) is None else r.get(c) for c in SUMMARY_COLUMNS})
    return path


def plot_scores(evals: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """PNG of score over steps, one panel per task; a run without step scores shows its final score."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for e in evals:
        if e.get("graded"):
            by_task.setdefault(str(e.get("task")), []).append(e)
    if not by_task:
        return None
    n = len(by_task)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(5.5 * cols, 4.0 * rows))
    FigureCanvasAgg(fig)
    llms = sorted({str(e.get("llm") or "?") for runs in by_task.values() for e in runs})
    colors = {llm: f"C{k % 10}" for k, llm in enumerate(llms)}  # one colour per LLM in every panel
    for i, (task, runs) in enumerate(sorted(by_task.items()), start=1):
        ax = fig.add_subplot(rows, cols, i)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        labelled: set[str] = set()
        for r in runs:
            llm = str(r.get("llm") or "?")
            pts = [(s["step"], s["score"]) for s in r.get("step_scores") or [] if s.get("valid")]
            if not pts and r.get("valid"):
                pts = [(r.get("steps") or 0, r["score"])]
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", markersize=3, color=colors[llm], alpha=0.8,
                    label=llm if llm not in labelled else None)
            labelled.add(llm)
        base = runs[0].get("baseline")
        if base is not None:
            ax.axhline(base, color="grey", linestyle="--", linewidth=1, label="baseline")
        metric = runs[0].get("metric") or "score"
        ax.set_title(f"{task} ({metric}, {runs[0].get('direction', 'higher')} is better)")
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        if labelled or base is not None:
            ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def write_summary(evals: Sequence[Mapping[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """summary.md, summary.csv, scores.png and evals.json (all per-run results) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(evals)
    paths = {"markdown": out / "summary.md", "csv": out / "summary.csv", "runs": out / "evals.json"}
    paths["markdown"].write_text(summary_markdown(rows), encoding="utf-8")
    write_summary_csv(rows, paths["csv"])
    write_json_atomic(paths["runs"], list(evals))
    plot = plot_scores(evals, out / "scores.png")
    if plot is not None:
        paths["plot"] = plot
    return paths


def evaluate_runs(paths: Sequence[str | Path], tasks: Mapping[str, Task], *,
                  all_steps: bool = False) -> list[dict[str, Any]]:
    """Evaluate every run found under ``paths`` (each gets its eval.json)."""
    return [evaluate_run(d, tasks, all_steps=all_steps) for d in find_run_dirs(paths)]


def format_run_line(e: Mapping[str, Any]) -> str:
    score = _fmt(e.get("score")) if e.get("valid") else f"invalid ({e.get('reason')})"
    pct = e.get("improvement_pct")
    imp = f"{pct:+.1f}%" if pct is not None else "n/a"
    succ = {True: "success", False: "no success", None: "not judged"}[e.get("success")]
    return (f"{e['run_dir']}: {e.get('task')} [{e.get('llm') or '?'}] {e.get('metric') or 'score'}={score} "
            f"baseline={_fmt(e.get('baseline'))} improvement={imp} {succ}; final answer: "
            f"{'yes' if e.get('final_answer_given') else 'no'}; steps={_fmt(e.get('steps'))} "
            f"time={_fmt(e.get('wall_time_s'))}s tokens={_fmt(e.get('tokens'))} cost=${_fmt(e.get('cost_usd'))}")


def format_step_scores(e: Mapping[str, Any]) -> list[str]:
    """One line per graded snapshot (``eval --all-steps``): ``  step 3: accuracy=0.9 (+24.6%) best``."""
    lines = []
    metric = e.get("metric") or "score"
    for s in e.get("step_scores") or []:
        if not s.get("valid"):
            reason = (str(s.get("reason") or "").strip() or "no valid submission").splitlines()[0][:100]
            lines.append(f"  step {s['step']}: invalid ({reason})")
            continue
        _, pct = improvement(s.get("score"), e.get("baseline"), e.get("direction") or "higher")
        rel = f" ({pct:+.1f}% vs baseline)" if pct is not None else ""
        best = " best" if s["step"] == e.get("best_step") else ""
        lines.append(f"  step {s['step']}: {metric}={_fmt(s.get('score'))}{rel}{best}")
    return lines
