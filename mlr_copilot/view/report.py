"""``mlr-copilot report``: one self-contained HTML file per run, and a summary page for many.

The file needs nothing else: the styles are inline, the chart is inline SVG, there is no
script and no external link (a Content-Security-Policy forbids loading anything), and every
string from the run (thoughts, observations, file contents) is HTML-escaped, so a hostile
observation holding ``<script>`` is shown as text. Sections: the run header and result, the
score over steps (from ``eval --all-steps``, kept in eval.json), the tree of nodes (tree
strategy), and the step timeline with each step's workspace diff against the previous
snapshot. Written at the end of every run as ``report.html``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from ..records import RunDir
from ..records.layout import AGENT_LOG, RUN_JSON
from .report_parts import changes_html, esc, nodes_of, page, score_chart_svg, step_changes, step_points, tree_html
from .result import duration, plural, score_line, totals_line

logger = logging.getLogger(__name__)

OBSERVATION_CHARS = 6000
PROMPT_ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check")
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_report_data(run_dir: Path) -> dict[str, Any]:
    """run.json, the step records (the last record of each step: a resume redoes some), eval.json."""
    from ..log_import import load_run

    run = load_run(run_dir)
    latest: dict[Any, dict[str, Any]] = {}
    for s in run.steps:
        latest[s.get("step")] = s
    steps = sorted(latest.values(), key=lambda s: s.get("step") if isinstance(s.get("step"), int) else 0)
    return {"info": run.info, "steps": steps, "eval": _read_json(RunDir(run_dir).eval_json), "run_dir": run_dir}


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows if v) + "</table>"


def _result_of(info: Mapping[str, Any], ev: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(info.get("result"), Mapping):
        return info["result"]
    return ev if ev.get("graded") else None


def header_html(data: Mapping[str, Any]) -> str:
    info, ev = data["info"], data["eval"]
    result = _result_of(info, ev)
    line = score_line(result)
    verdict = ""
    if line:
        cls = "ok" if result.get("success") else "bad"
        verdict = f'<span class="{cls}">{esc(line)}</span>'
    llm = info.get("llm") or ""
    models = info.get("models")
    if isinstance(models, Mapping):
        llm = f"{llm} ({', '.join(f'{k}: {v}' for k, v in models.items())})"
    problem = str(info.get("research_problem") or "")
    rows = [("Task", esc(info.get("task"))), ("LLM", esc(llm)),
            ("Status", esc(f"{info.get('status')}" + (f": {info['message']}" if info.get("message") else ""))),
            ("Result", verdict), ("Time", esc(f"{info.get('start') or '?'} → {info.get('end') or '?'}")),
            ("Totals", esc(totals_line(info))), ("Final answer", esc(info.get("final_answer"))),
            ("Log", f"<code>{esc(data['run_dir'])}</code>")]
    out = f"<h1>MLR-Copilot run · {esc(info.get('task') or '?')}</h1>" + _kv(rows)
    if problem:
        out += f'<details><summary>Research problem</summary><pre>{esc(problem)}</pre></details>'
    return out


def chart_html(data: Mapping[str, Any]) -> str:
    ev = data["eval"]
    metric = ev.get("metric") or "score"
    points = step_points(ev.get("step_scores"))
    if not points:
        hint = ("No per-step scores yet: run <code>mlr-copilot eval --all-steps "
                f"{esc(data['run_dir'])}</code>, then <code>mlr-copilot report</code> again.")
        if ev and not ev.get("graded"):
            hint = "This task has no grader, so there is no score to chart."
        return f'<section id="chart"><h2>Score over steps</h2><p class="muted">{hint}</p></section>'
    svg = score_chart_svg([(str(data["info"].get("llm") or "run"), points)], baseline=ev.get("baseline"),
                          metric=metric, title=f"{metric} over steps")
    best = (f"<p>Best: step {esc(ev['best_step'])}, {esc(metric)} {ev['best_score']:.4g}. "
            f"{esc(ev.get('direction') or 'higher')} is better.</p>"
            if isinstance(ev.get("best_score"), (int, float)) else "")
    return f'<section id="chart"><h2>Score over steps</h2>{svg}{best}</section>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit:,} more characters in the log]"


def _step_meta(s: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(s.get("duration_s"), (int, float)):
        parts.append(duration(s["duration_s"]))
    if isinstance(s.get("human_wait_s"), (int, float)) and s["human_wait_s"] >= 0.05:
        parts.append(f"+ {duration(s['human_wait_s'])} waiting for feedback")
    usage = s.get("usage") if isinstance(s.get("usage"), Mapping) else {}
    tin, tout = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
    if tin or tout:
        parts.append(f"{tin:,} in / {tout:,} out tokens")
    if usage.get("cost_usd"):
        parts.append(f"${usage['cost_usd']:.4f}")
    attempts = s.get("parse_attempts")
    if isinstance(attempts, int) and attempts > 1:
        parts.append(f"{plural(attempts - 1, 'parse retry', 'parse retries')}")
    if s.get("exit_code") not in (None, 0):
        parts.append(f"exit code {s['exit_code']}")
    return " · ".join(parts)


def step_html(s: Mapping[str, Any], diff: str) -> str:
    n = s.get("step", "?")
    entries = s.get("entries") if isinstance(s.get("entries"), Mapping) else {}
    body = []
    thought = str(entries.get("Thought") or "").strip()
    if thought:
        body.append(f'<div><span class="label">Thought</span><pre>{esc(thought)}</pre></div>')
    others = [(k, str(entries.get(k) or "").strip()) for k in PROMPT_ENTRIES if str(entries.get(k) or "").strip()]
    if others:
        body.append("<details><summary>Reflection, plan and fact check</summary>" + "".join(
            f'<div><span class="label">{esc(k)}</span><pre>{esc(v)}</pre></div>' for k, v in others) + "</details>")
    args = s.get("action_input")
    shown_args = json.dumps(args, ensure_ascii=False, indent=2, default=str) if args not in (None, {}) else "{}"
    body.append(f'<div><span class="label">Action</span> <code>{esc(s.get("action"))}</code>'
                f'<pre class="args">{esc(shown_args)}</pre></div>')
    observation = str(s.get("full_observation") or s.get("observation") or "")
    body.append(f'<div><span class="label">Observation</span><pre class="observation">'
                f'{esc(_clip(observation, OBSERVATION_CHARS)) or "(empty)"}</pre></div>')
    if s.get("feedback"):
        body.append(f'<div><span class="label">Human feedback</span><pre>{esc(s["feedback"])}</pre></div>')
    errors = s.get("parse_errors") or []
    if errors:
        body.append("<details><summary>Parse errors</summary>" + "".join(f"<pre>{esc(e)}</pre>" for e in errors)
                    + "</details>")
    if diff:
        body.append(f'<div class="changes" id="diff-{esc(n)}"><span class="label">Workspace changes</span>{diff}</div>')
    return (f'<details class="card step" id="step-{esc(n)}" open><summary>Step {esc(n)} · {esc(s.get("action"))}'
            f'<span class="meta">{esc(_step_meta(s))}</span></summary><div class="body">{"".join(body)}</div></details>')


def diffs_by_step(run_dir: Path, steps: Sequence[int]) -> dict[int, str]:
    """Each step's changes against the snapshot before it (an empty dict without snapshots)."""
    from ..env.snapshots import list_steps

    env_log = RunDir(run_dir).env_log.root
    have = list_steps(env_log) if env_log.is_dir() else []
    out: dict[int, str] = {}
    for step in steps:
        before = [h for h in have if h < step]
        if step not in have or not before:
            continue
        try:
            out[step] = changes_html(step_changes(env_log, before[-1], step), before[-1])
        except Exception as exc:  # noqa: BLE001 - a damaged snapshot costs its diff, not the report
            out[step] = f'<p class="muted">Diff not available: {esc(exc)}</p>'
    return out


def render_run_html(run_dir: str | Path) -> str:
    run_dir = Path(run_dir)
    data = load_report_data(run_dir)
    steps = data["steps"]
    diffs = diffs_by_step(run_dir, [s["step"] for s in steps if isinstance(s.get("step"), int)])
    parts = [header_html(data), chart_html(data)]
    nodes = nodes_of(steps)
    if nodes:
        parts.append(f'<section id="tree"><h2>Tree of nodes</h2>{tree_html(nodes)}</section>')
    timeline = "".join(step_html(s, diffs.get(s.get("step"), "")) for s in steps) or \
        '<p class="muted">No step was recorded in this run.</p>'
    parts.append(f'<section id="timeline"><h2>Steps ({len(steps)})</h2>{timeline}</section>')
    return page(f"MLR-Copilot · {data['info'].get('task') or run_dir.name}", "".join(parts))


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report (default ``<run_dir>/report.html``); returns its path."""
    run_dir = Path(run_dir)
    target = Path(out) if out else RunDir(run_dir).report
    text = render_run_html(run_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def report_cli(paths: Sequence[str | Path], out: str | Path | None = None) -> list[Path]:
    """``mlr-copilot report``: one run → its report; several runs or a batch → their reports
    and a summary page. Returns the files written, the main one first."""
    from .report_batch import collect_runs, write_summary_page

    runs, batch_dir = collect_runs([Path(p) for p in paths])
    if not runs:
        raise ConfigError("no run found under " + ", ".join(str(p) for p in paths)
                          + f" (a run folder holds {RUN_JSON} or {AGENT_LOG}/)")
    if len(runs) == 1 and batch_dir is None:
        return [write_report(runs[0], out)]
    written = []
    for run_dir in runs:
        try:
            written.append(write_report(run_dir))
        except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
            logger.warning("no report for %s: %s", run_dir, exc)
    summary = write_summary_page(runs, out, batch_dir)
    return [summary, *written]
