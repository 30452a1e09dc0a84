"""The result of a run, in words: the end-of-run grade and the lines the CLI and ``show`` print.

``grade_at_end`` grades the final workspace of a finished run with the task's hidden grader
(through ``evaluation.evaluate_run``, so the success rule is the one ``eval`` uses: more
than 10% better than the baseline, in the metric's direction) and keeps the outcome in
``run.json`` under ``result``. ``score_line`` turns that outcome into one readable line:
``accuracy 0.962 vs baseline 0.737: +30.5%, success``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from ..records import RunDir, RunInfo

logger = logging.getLogger(__name__)

RESULT_KEYS = ("metric", "direction", "score", "valid", "reason", "baseline", "improvement",
               "improvement_pct", "success")


def grade_at_end(run_dir: Path, task: Any) -> dict[str, Any] | None:
    """The grade of the run's final workspace (also written to eval.json); None without a grader."""
    if task is None or not getattr(task, "gradable", False):
        return None
    from ..evaluation import evaluate_run

    evaluation = evaluate_run(run_dir, {task.name: task}, write=True)
    return {key: evaluation.get(key) for key in RESULT_KEYS}


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """``1 step``, ``2 steps``, ``1,234 tokens``."""
    shown = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{shown} {word if n == 1 else (many or word + 's')}"


def number(value: Any) -> str:
    """A score as people read it: 0.962, 12.35, 3,412."""
    if not isinstance(value, (int, float)):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 0.01 or value == 0:
        return f"{value:.3f}"
    return f"{value:.3g}"


def score_line(result: Mapping[str, Any] | None) -> str | None:
    """``accuracy 0.962 vs baseline 0.737: +30.5%, success`` (None when the run was not graded)."""
    if not result:
        return None
    metric = result.get("metric") or "score"
    baseline = result.get("baseline")
    if not result.get("valid"):
        reason = str(result.get("reason") or "no valid submission").strip().splitlines()[0][:160]
        vs = f" vs baseline {number(baseline)}" if baseline is not None else ""
        return f"{metric}: no valid submission ({reason}){vs}: no success"
    score = number(result.get("score"))
    if baseline is None:
        return f"{metric} {score} (no baseline recorded, so no verdict)"
    pct = result.get("improvement_pct")
    change = f"{pct:+.1f}%" if isinstance(pct, (int, float)) else "change n/a"
    verdict = {True: "success", False: "no success"}.get(result.get("success"), "not judged")
    return f"{metric} {score} vs baseline {number(baseline)}: {change}, {verdict}"


def totals_line(info: Mapping[str, Any], *, llm: bool = True) -> str:
    """``7 steps · 1m 12s · 5,321 tokens (4,900 in / 421 out) · $0.0123``."""
    totals = info.get("totals") if isinstance(info.get("totals"), Mapping) else {}
    parts = [plural(int(totals.get("steps") or 0), "step")]
    wall = totals.get("wall_time_s")
    if isinstance(wall, (int, float)):
        parts.append(duration(wall))
    if not llm:  # the LLM figures are on a line of their own (llm_summary)
        return " · ".join(parts)
    tin, tout = int(totals.get("input_tokens") or 0), int(totals.get("output_tokens") or 0)
    if tin or tout:
        parts.append(f"{plural(tin + tout, 'token')} ({tin:,} in / {tout:,} out)")
    calls = totals.get("llm_calls")
    if isinstance(calls, int) and calls:
        parts.append(plural(calls, "LLM call"))
    cost = totals.get("cost_usd")
    parts.append("cost unknown" if not isinstance(cost, (int, float)) else f"${cost:.4f}" if cost else "no cost")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """``42.0 s``, ``3m 05s``, ``1h 02m``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def run_end_lines(run: Any) -> list[str]:
    """What ``mlr-copilot run`` prints at the end (a ``RunResult``); the log folder comes last."""
    lines = [f"Run finished: {run.status} — {run.message}"]
    if run.final_answer:
        lines.append(f"Final answer: {run.final_answer}")
    summary = llm_summary(run.run_dir)
    if run.info:
        lines.append(f"Totals: {totals_line(run.info, llm=not summary)}")
    if summary:
        lines.append(summary)
    line = score_line(run.result)
    if line:
        lines.append(f"Result: {line}")
    report = RunDir(run.run_dir).report
    if report.is_file():
        lines.append(f"Report: {report}")
    return lines + [f"Log: {run.run_dir}"]


def fmt_num(value: Any, fmt: str = "{:,}") -> str:
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def cost_parts(figures: Mapping[str, Any]) -> list[str]:
    """Cost (or why it is unknown) and the share of input tokens served from a prompt cache."""
    parts = []
    if figures.get("cost_usd") is not None:
        if figures["cost_usd"] or figures.get("input_tokens"):
            parts.append(f"${fmt_num(figures['cost_usd'], '{:.4f}')}")
    elif "cost_usd" in figures and figures.get("input_tokens"):
        unpriced = figures.get("unpriced_calls")
        parts.append("cost unknown" + (f" ({unpriced} call(s) without a known price)" if unpriced else ""))
    share = figures.get("cache_read_share")
    if isinstance(share, (int, float)) and figures.get("input_tokens"):
        parts.append(f"{share:.0%} of input from the prompt cache")
    return parts


def llm_summary(run_dir: str | Path) -> str | None:
    """One line for the end of a run: LLM calls, cost, cost per step, share of input from cache."""
    totals = RunInfo.read_or_empty(run_dir).totals
    if not totals.get("llm_calls"):
        return None
    parts = [f"{fmt_num(totals['llm_calls'])} LLM calls", f"{fmt_num(totals.get('input_tokens', 0))} in / "
             f"{fmt_num(totals.get('output_tokens', 0))} out tokens"] + cost_parts(totals)
    steps, cost = totals.get("steps"), totals.get("cost_usd")
    if isinstance(cost, (int, float)) and cost and isinstance(steps, int) and steps > 0:
        parts.insert(3, f"${cost / steps:.4f} per step")
    return "LLM: " + " · ".join(parts)
