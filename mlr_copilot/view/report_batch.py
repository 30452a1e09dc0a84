"""The summary page for several runs or a batch: success rate, improvement and cost per task
and LLM, score over steps per task, and one row per run linking to its own report."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..records import RunDir
from ..records.layout import REPORT_HTML
from .report_parts import esc, page, score_chart_svg, step_points
from .result import duration, number, score_line

SUMMARY_FILE = REPORT_HTML  # a batch folder's summary page has the name of a run's report


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def collect_runs(paths: Sequence[Path]) -> tuple[list[Path], Path | None]:
    """The run folders named by ``paths`` (run folders, folders holding runs, batch folders);
    the batch folder when exactly one was given."""
    from ..evaluation import find_run_dirs

    runs: list[Path] = []
    batch_dir = None
    for p in paths:
        batch = _read(p / "batch.json") if p.is_dir() else {}
        if batch:
            batch_dir = p if len(paths) == 1 else None
            for job in batch.get("jobs") or []:
                rd = job.get("run_dir") if isinstance(job, Mapping) else None
                if rd:
                    runs += [c for c in (Path(rd), p.parent / Path(rd).name) if c.is_dir()][:1]
        else:
            runs += find_run_dirs([p])
    seen, unique = set(), []
    for r in runs:
        if r.resolve() not in seen:
            seen.add(r.resolve())
            unique.append(r)
    return unique, batch_dir


def run_record(run_dir: Path) -> dict[str, Any]:
    """What the summary needs of one run: eval.json when graded, else run.json's own numbers."""
    paths = RunDir(run_dir)
    info, ev = _read(paths.run_json), _read(paths.eval_json)
    totals = info.get("totals") if isinstance(info.get("totals"), Mapping) else {}
    result = info.get("result") if isinstance(info.get("result"), Mapping) else {}
    tokens = (totals.get("input_tokens") or 0) + (totals.get("output_tokens") or 0)
    base = {"run_dir": str(run_dir), "task": info.get("task") or run_dir.parent.name, "llm": info.get("llm"),
            "status": info.get("status"), "graded": bool(result), "steps": totals.get("steps"),
            "wall_time_s": totals.get("wall_time_s"), "tokens": tokens or None, "cost_usd": totals.get("cost_usd"),
            "final_answer_given": info.get("status") == "final_answer" and bool(info.get("final_answer")),
            **{k: result.get(k) for k in ("metric", "direction", "score", "valid", "reason", "baseline",
                                          "improvement", "improvement_pct", "success")}}
    return {**base, **{k: v for k, v in ev.items() if v is not None}} if ev else base


def _pct(value: Any) -> str:
    return f"{value:.0f}%" if isinstance(value, (int, float)) else "n/a"


def summary_html(records: Sequence[Mapping[str, Any]], out_dir: Path, title: str) -> str:
    from ..evaluation import summarize

    rows = summarize(records)
    judged = [r for r in records if r.get("success") is not None]
    wins = sum(1 for r in judged if r["success"])
    cost = sum(r.get("cost_usd") or 0 for r in records)
    overall = (f"{wins} of {len(judged)} judged runs succeeded ({100 * wins / len(judged):.0f}%)"
               if judged else "no run could be judged (no grader or no baseline)")
    parts = [f"<h1>{esc(title)}</h1>",
             f'<p id="overall">{esc(len(records))} runs · {esc(overall)} · total cost ${cost:.4f}</p>',
             '<section id="summary"><h2>Per task and LLM</h2><table class="grid"><tr><th>task</th><th>LLM</th>'
             "<th>runs</th><th>success rate</th><th>mean improvement</th><th>mean score</th><th>baseline</th>"
             "<th>final answers</th><th>mean steps</th><th>mean time</th><th>mean cost</th></tr>"]
    for r in rows:
        imp = r.get("mean_improvement_pct")
        parts.append(f"<tr><td>{esc(r['task'])}</td><td>{esc(r['llm'])}</td><td>{r['runs']}</td>"
                     f"<td>{_pct(r.get('success_rate'))}</td>"
                     f"<td>{f'{imp:+.1f}%' if isinstance(imp, (int, float)) else 'n/a'}</td>"
                     f"<td>{number(r.get('mean_score'))}</td><td>{number(r.get('baseline'))}</td>"
                     f"<td>{_pct(r.get('final_answer_rate'))}</td><td>{number(r.get('mean_steps'))}</td>"
                     f"<td>{duration(r['mean_wall_time_s']) if r.get('mean_wall_time_s') is not None else 'n/a'}</td>"
                     f"<td>{'$%.4f' % r['mean_cost_usd'] if r.get('mean_cost_usd') is not None else 'n/a'}</td></tr>")
    parts.append("</table></section>")
    parts.append(_charts(records))
    parts.append('<section id="runs"><h2>Runs</h2><table class="grid"><tr><th>run</th><th>task</th><th>LLM</th>'
                 "<th>status</th><th>result</th><th>steps</th><th>time</th><th>cost</th></tr>")
    for r in records:
        run_dir = Path(r["run_dir"])
        link = os.path.relpath(RunDir(run_dir).report.resolve(), out_dir)
        result = score_line(r) if r.get("graded") else "not graded"
        parts.append(f'<tr><td><a href="{esc(link)}">{esc(run_dir.parent.name + "/" + run_dir.name)}</a></td>'
                     f"<td>{esc(r.get('task'))}</td><td>{esc(r.get('llm'))}</td><td>{esc(r.get('status'))}</td>"
                     f"<td>{esc(result)}</td><td>{esc(r.get('steps'))}</td>"
                     f"<td>{duration(r['wall_time_s']) if isinstance(r.get('wall_time_s'), (int, float)) else 'n/a'}</td>"
                     f"<td>{'$%.4f' % r['cost_usd'] if isinstance(r.get('cost_usd'), (int, float)) else 'n/a'}</td></tr>")
    parts.append("</table></section>")
    return page(title, "".join(parts))


def _charts(records: Sequence[Mapping[str, Any]]) -> str:
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("graded"):
            by_task.setdefault(str(r.get("task")), []).append(r)
    charts = []
    for task, runs in sorted(by_task.items()):
        series = []
        for r in runs:
            pts = step_points(r.get("step_scores"))
            if not pts and r.get("valid") and isinstance(r.get("score"), (int, float)):
                pts = [(int(r.get("steps") or 0), float(r["score"]))]
            if pts:
                series.append((f"{r.get('llm') or '?'} · {Path(r['run_dir']).name}", pts))
        if series:
            metric = runs[0].get("metric") or "score"
            charts.append(f"<h3>{esc(task)}</h3>" + score_chart_svg(series, baseline=runs[0].get("baseline"),
                                                                   metric=metric, title=f"{task}: {metric}"))
    if not charts:
        return ('<section id="chart"><h2>Score over steps</h2><p class="muted">No graded run: nothing to chart.'
                "</p></section>")
    return '<section id="chart"><h2>Score over steps</h2>' + "".join(charts) + "</section>"


def write_summary_page(runs: Sequence[Path], out: str | Path | None, batch_dir: Path | None) -> Path:
    if out:
        target = Path(out)
    elif batch_dir is not None:
        target = batch_dir / SUMMARY_FILE
    else:
        target = Path(os.path.commonpath([str(r.resolve().parent) for r in runs])) / "runs-report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    title = f"MLR-Copilot · {batch_dir.name if batch_dir else 'runs'}"
    target.write_text(summary_html([run_record(r) for r in runs], target.parent.resolve(), title), encoding="utf-8")
    return target
