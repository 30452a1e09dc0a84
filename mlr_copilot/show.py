"""``mlr-copilot show``: a readable account of a run, step by step.

Reads our run folders and the original MLR-Copilot logs alike (through
``log_import.load_run``). Everything from the log is printed as plain ``rich.text.Text``,
never as markup, so brackets in code or model output cannot restyle or break the output.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .log_import import RunLog, load_run
from .view.result import cost_parts as _cost_parts, fmt_num as _fmt_num, plural, score_line

logger = logging.getLogger(__name__)

DEFAULT_OBSERVATION_CHARS = 800
ARG_VALUE_CHARS = 400  # long argument values (edit instructions, file contents) are cut
NARRATIVE = ("Reflection", "Research Plan and Status", "Fact Check")


def render_run(path: str | Path, *, console: Console | None = None,
               max_observation_chars: int = DEFAULT_OBSERVATION_CHARS,
               entries: bool = False) -> int:
    """Print the run at ``path`` (run folder, full_log.jsonl or original full_log.json).

    ``entries`` also prints Reflection, Research Plan and Status and Fact Check.
    Returns the number of steps shown; raises ConfigError when no log is found."""
    console = console or Console()
    run = load_run(path)
    console.print(_header(run))
    if not run.steps:
        console.print(Text("No step was recorded in this run.", style="yellow"))
    for step in run.steps:
        console.print(_step(step, max_observation_chars, entries))
    from .show_tree import tree_table  # the tree of a --strategy tree run
    tree = tree_table(run.steps, run.info)
    if tree is not None:
        console.print(tree)
    _footer(console, run)
    return len(run.steps)


def _clip(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n… [{len(text) - limit} more characters]"


def _llm_names(info: Mapping[str, Any]) -> str | None:
    for key in ("llm", "llms", "models"):
        value = info.get(key)
        if isinstance(value, Mapping):
            return ", ".join(f"{k}={v}" for k, v in value.items() if v)
        if value:
            return str(value)
    return None


def _header(run: RunLog) -> Panel:
    info = run.info
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()

    def row(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            grid.add_row(label, Text(str(value)))

    row("Log", run.log_path)
    if run.source == "original":
        row("Format", "original MLR-Copilot log (read-only view)")
    row("Task", info.get("task"))
    row("LLM", _llm_names(info))
    row("Code", _code(info))
    row("Strategy", info.get("strategy") if info.get("strategy") not in (None, "loop") else None)
    status = info.get("status")
    row("Status", f"{status}: {info['message']}" if status and info.get("message") else status)
    if info.get("start") or info.get("end"):
        row("Time", f"{info.get('start') or '?'} → {info.get('end') or '?'}")
    totals = info.get("totals") if isinstance(info.get("totals"), Mapping) else {}
    steps = totals.get("steps", len(run.steps))
    parts = [plural(steps, "step") if isinstance(steps, int) else f"{steps} steps"]
    if totals.get("llm_calls"):
        parts.append(plural(totals["llm_calls"], "LLM call") if isinstance(totals["llm_calls"], int)
                     else f"{totals['llm_calls']} LLM calls")
    if totals.get("input_tokens") or totals.get("output_tokens"):
        parts.append(f"{_fmt_num(totals.get('input_tokens', 0))} in / "
                     f"{_fmt_num(totals.get('output_tokens', 0))} out tokens")
    parts += _cost_parts(totals)
    if totals.get("wall_time_s"):
        parts.append(f"{_fmt_num(totals['wall_time_s'], '{:.0f}')} s")
    row("Totals", " · ".join(parts))
    row("Result", score_line(info.get("result")) if isinstance(info.get("result"), Mapping) else None)
    resumes = info.get("resumes")
    if isinstance(resumes, list) and resumes:
        row("Resumed", plural(len(resumes), "time"))
    row("Problem", _clip(str(info.get("research_problem") or ""), 600))
    return Panel(grid, title="MLR-Copilot run", title_align="left", border_style="cyan")


def _code(info: Mapping[str, Any]) -> str | None:
    """The version and commit that ran the run, and other commits its resumes ran on."""
    version, commit = info.get("mlr_copilot_version"), info.get("mlr_copilot_commit")
    parts = ([f"mlr-copilot {version}"] if version else []) + ([f"at {_short(commit)}"] if commit else [])
    resumed = {r.get("mlr_copilot_commit") for r in info.get("resumes") or [] if isinstance(r, Mapping)}
    others = sorted(_short(c) for c in resumed if c and c != commit)
    if others:
        parts.append(f"(resumed at {', '.join(others)})")
    return " ".join(parts) or None


def _short(commit: Any) -> str:
    head, plus, rest = str(commit).partition("+")
    return head[:12] + plus + rest


def _footer(console: Console, run: RunLog) -> None:
    final = run.info.get("final_answer")
    if final:
        console.print(Panel(Text(str(final)), title="Final answer", title_align="left", border_style="green"))
    _claims(console, run)


def _claims(console: Console, run: RunLog) -> None:
    """Each claimed number, marked supported / contradicted / unsupported (claim_check)."""
    from .claim_check import MARKS, describe, summary_text, verdicts_for_view

    verdicts = verdicts_for_view(run)
    if not verdicts:
        return
    style = {"supported": "green", "contradicted": "bold red", "unsupported": "yellow"}
    lines = [Text(f"{MARKS[v['verdict']]} {describe(v)}", style=style[v["verdict"]]) for v in verdicts]
    console.print(Panel(Group(*lines), title=f"Claims: {summary_text(verdicts)}", title_align="left",
                        border_style="red" if any(v["verdict"] != "supported" for v in verdicts) else "green"))


def _step(step: Mapping[str, Any], max_obs: int, with_entries: bool) -> Group:
    parts: list[Any] = []
    number = step.get("step", "?")
    action = str(step.get("action") or "?")
    meta = [str(step["timestamp"])] if step.get("timestamp") else []
    if isinstance(step.get("duration_s"), (int, float)):
        meta.append(f"{step['duration_s']:.1f} s")
    if isinstance(step.get("human_wait_s"), (int, float)) and step["human_wait_s"] >= 0.05:
        meta.append(f"+ {step['human_wait_s']:.1f} s waiting for feedback")
    parts.append(Rule(Text(f"Step {number} · {action}" + (f"  ({', '.join(meta)})" if meta else ""),
                           style="bold"), align="left"))
    entries = step.get("entries") if isinstance(step.get("entries"), Mapping) else {}
    labels = (NARRATIVE if with_entries else ()) + ("Thought", "Questions")
    for name in labels:
        text = str(entries.get(name) or "").strip()
        if text and not (name == "Questions" and text.lower().rstrip(".") in ("none", "no questions at this time")):
            parts.append(_labelled(name, text, "bold magenta"))
    parts.append(_labelled("Action", action, "bold blue"))
    parts.append(_args(step.get("action_input")))
    observation = step.get("full_observation") or step.get("observation") or ""
    obs = Text("Observation:", style="bold green")
    if step.get("full_observation_path"):
        obs.append(f" (full text: {step['full_observation_path']})", style="dim")
    parts += [obs, Text(_clip(str(observation).strip(), max_obs) or "(empty)")]
    feedback = str(step.get("feedback") or "").strip()
    if feedback:
        parts.append(_labelled("Human feedback", feedback, "bold yellow"))
    usage = _usage(step)
    if usage:
        parts.append(Text(usage, style="dim"))
    return Group(*parts)


def _labelled(label: str, text: str, style: str) -> Text:
    out = Text(f"{label}: ", style=style)
    out.append(text)
    return out


def _args(action_input: Any) -> Padding:
    """One argument per row, strings shown as text (real newlines), long ones cut."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="blue", no_wrap=True)
    grid.add_column()
    if isinstance(action_input, Mapping):
        for key, value in action_input.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            grid.add_row(f"{key}:", Text(_clip(shown, ARG_VALUE_CHARS)))
    elif action_input not in (None, {}):
        grid.add_row("input:", Text(_clip(json.dumps(action_input, ensure_ascii=False, default=str), ARG_VALUE_CHARS)))
    return Padding(grid, (0, 0, 0, 2))


def _usage(step: Mapping[str, Any]) -> str:
    usage = step.get("usage") if isinstance(step.get("usage"), Mapping) else {}
    llm = step.get("llm") if isinstance(step.get("llm"), Mapping) else None  # every call of the step
    parts = []
    if usage.get("model"):
        parts.append(str(usage["model"]))
    if llm is not None:
        parts.append(f"{_fmt_num(llm.get('calls', 0))} LLM calls, {_fmt_num(llm.get('input_tokens', 0))} in / "
                     f"{_fmt_num(llm.get('output_tokens', 0))} out tokens")
        parts += _cost_parts(llm)
    else:
        if usage.get("input_tokens") or usage.get("output_tokens"):
            parts.append(f"{_fmt_num(usage.get('input_tokens', 0))} in / "
                         f"{_fmt_num(usage.get('output_tokens', 0))} out tokens")
        if usage.get("cost_usd"):
            parts.append(f"${_fmt_num(usage['cost_usd'], '{:.4f}')}")
    if usage.get("latency_s"):
        parts.append(f"LLM {_fmt_num(usage['latency_s'], '{:.1f}')} s")
    attempts = step.get("parse_attempts")
    if isinstance(attempts, int) and attempts > 1:
        parts.append(f"{attempts} attempts to parse the response")
    return " · ".join(parts)
