"""Checking claimed numbers against the measurements ledger: supported, contradicted, unsupported.

Tolerance (the rule, in full):

- A claimed value matches a measured value when the measured value, rounded **or**
  truncated to the precision the claim was printed with, equals the claim: "0.93" matches
  0.9262 to 0.9399…; "51" matches 50.5 to 51.99…; "1.2e-3" matches 0.00115 to 0.00129….
- Percentages and fractions are the same number: "93%" or "93.1 %" match 0.93 / 0.931, and
  "accuracy 0.93" matches a printed "accuracy: 93.0%". A claim of a named metric written
  without "%" between 1 and 100 also matches a fraction ("accuracy 93.1" ~ 0.931).
- An improvement claim ("improved by 9.4%", "+2.5 points", "reduced RMSE by 0.4") matches a
  change between a baseline and a later measurement of the same metric: the relative change
  in percent, the absolute change, or the absolute change in points (x100, for scores
  between 0 and 1). Baselines are the task's recorded baseline and the first value each
  metric was printed with in the run (the agent's own baseline run).

Verdicts: ``supported`` when a measurement of the same metric matches (or, for a claim no
metric word names, any measurement); ``contradicted`` when the ledger measured that metric
but no measurement matches (the nearest one is reported); ``unsupported`` when nothing
measured it. When nothing measured the claim's metric under its name, a value printed under
a name that names no other metric ("result: 0.93") can still support it (``by_value_only``);
a value of another metric (a loss for an accuracy) never does.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .claims import METRIC_ALIASES, Claim, extract_claims, metric_of, name_tokens, plan_claims
from .records import RunDir

logger = logging.getLogger(__name__)

VERDICTS = ("supported", "contradicted", "unsupported")
_EPS = 1e-9


def close(claim: Claim, x: float) -> bool:
    """Whether ``x`` rounds or truncates to the claim at the claim's printed precision."""
    c, q = claim.value, claim.quantum
    tol = _EPS * max(1.0, abs(c))
    if abs(x - c) <= q / 2 + tol:
        return True
    return (x >= 0) == (c >= 0) and -tol <= abs(x) - abs(c) < q - tol


def _scales(claim: Claim, m: Mapping[str, Any]) -> list[float]:
    v = float(m["value"])
    out = [v]
    if claim.percent and abs(v) <= 1.0:
        out.append(v * 100)
    if not claim.percent and abs(claim.value) <= 1.0 and (m.get("percent") or 1.0 < abs(v) <= 100.0):
        out.append(v / 100)
    if not claim.percent and claim.metric in METRIC_ALIASES and 1.0 < abs(claim.value) <= 100.0 and abs(v) <= 1.0:
        out.append(v * 100)
    return out


def related(claim: Claim, m: Mapping[str, Any]) -> bool:
    """Whether a measurement is of the metric the claim names."""
    if claim.metric is None:
        return False
    name = str(m.get("name") or "")
    metrics = metric_of(name)
    if m.get("kind") in ("grade", "baseline"):
        metrics.add("score")
    if claim.metric in METRIC_ALIASES:
        return claim.metric in metrics
    return claim.metric in name_tokens(name)


def _evidence(m: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("kind", "name", "value", "text", "step", "snapshot", "script", "line", "line_text", "exit_code", "of")
    return {**{k: m.get(k) for k in keys if m.get(k) is not None}, **extra}


def _latest(ms: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The evidence to show: a printed line (it has a step and a line) before a grade, latest first."""
    return max(ms, key=lambda m: (m.get("kind") == "printed", m.get("step") if isinstance(m.get("step"), int) else -1,
                                  m.get("kind") == "grade"))


def _verify_value(claim: Claim, ledger: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rel = [m for m in ledger if related(claim, m)]
    hits = [m for m in rel if any(close(claim, x) for x in _scales(claim, m))]
    if hits:
        return {"verdict": "supported", "evidence": _evidence(_latest(hits))}
    rel = [m for m in rel if m.get("kind") != "baseline"]  # the task's baseline is another model's score
    if rel:
        nearest = min(rel, key=lambda m: min(abs(x - claim.value) for x in _scales(claim, m)))
        return {"verdict": "contradicted", "evidence": _evidence(nearest)}
    # Nothing measured under the claim's metric: a value printed under a name that names no
    # other metric ("result: 0.93") may still be it; a loss is never taken for an accuracy.
    pool = [m for m in ledger if claim.metric not in METRIC_ALIASES
            or (m.get("kind") == "printed" and not metric_of(str(m.get("name") or "")))]
    hits = [m for m in pool if any(close(claim, x) for x in _scales(claim, m))]
    if hits:
        return {"verdict": "supported", "evidence": _evidence(_latest(hits), by_value_only=claim.metric is not None)}
    return {"verdict": "unsupported", "evidence": None}


def _changes(claim: Claim, ledger: Sequence[Mapping[str, Any]]) -> list[tuple[float, str, Mapping, Mapping]]:
    """(derived value, how, base, new) for every baseline -> later measurement of one metric."""
    pool = [m for m in ledger if related(claim, m)] if claim.metric else list(ledger)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for m in pool:
        if m.get("kind") == "printed":
            groups.setdefault(str(m.get("name")).lower(), []).append(m)
    baselines = [m for m in pool if m.get("kind") == "baseline"]
    grades = [m for m in pool if m.get("kind") == "grade"]
    pairs = [(b, g) for b in baselines for g in grades]
    for ms in groups.values():
        ms = sorted(ms, key=lambda m: (m.get("step") or 0, m.get("line") or 0))
        bases = [ms[0]] + [b for b in baselines if metric_of(str(b.get("name"))) & metric_of(str(ms[0].get("name")))]
        pairs += [(b, m) for b in bases for m in ms if m is not b]
        pairs += [(ms[0], g) for g in grades if metric_of(str(g.get("name"))) & metric_of(str(ms[0].get("name")))]
    out = []
    for b, m in pairs:
        bv, mv = float(b["value"]), float(m["value"])
        delta = abs(mv - bv)
        if delta == 0:
            continue
        if bv != 0:
            out.append((100.0 * delta / abs(bv), "relative %", b, m))
        out.append((delta, "absolute", b, m))
        if abs(bv) <= 1.0 and abs(mv) <= 1.0:
            out.append((100.0 * delta, "points", b, m))
    return out


def _verify_change(claim: Claim, ledger: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    changes = _changes(claim, ledger)
    target = Claim(**{**claim.to_dict(), "value": abs(claim.value)})
    if claim.points:
        allowed = {"points", "absolute"}
    elif claim.percent:
        allowed = {"relative %", "points"}
    else:
        allowed = {"absolute", "points"}
    usable = [c for c in changes if c[1] in allowed]
    hits = [c for c in usable if close(target, c[0])]
    if hits:
        value, how, b, m = max(hits, key=lambda c: (c[3].get("step") or 0))
        return {"verdict": "supported", "evidence": _evidence(m, derived=round(value, 6), derived_as=how,
                                                               base=_evidence(b))}
    if usable and claim.metric:
        value, how, b, m = min(usable, key=lambda c: abs(c[0] - target.value))
        return {"verdict": "contradicted", "evidence": _evidence(m, derived=round(value, 6), derived_as=how,
                                                                  base=_evidence(b))}
    return {"verdict": "unsupported", "evidence": None}


def verify(claim: Claim, ledger: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claim, its verdict and the measurement behind it."""
    if claim.kind == "improvement":
        result = _verify_change(claim, ledger)
        if result["verdict"] != "supported":  # "+0.08" may also be a plain value that was printed
            as_value = _verify_value(claim, [m for m in ledger if m.get("kind") == "printed"])
            if as_value["verdict"] == "supported":
                result = as_value
    else:
        result = _verify_value(claim, ledger)
    return {**claim.to_dict(), **result}


def check_claims(final_answer: str | None, steps: Iterable[Mapping[str, Any]],
                 ledger: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Verdicts for the Final Answer's claims, then the plan's confirmed ones not already there."""
    claims = extract_claims(final_answer or "", source="final_answer")
    seen = {c.text for c in claims}
    claims += [c for c in plan_claims(list(steps)) if c.text not in seen]
    return [verify(c, ledger) for c in claims]


def counts(verdicts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for v in verdicts:
        out[v["verdict"]] = out.get(v["verdict"], 0) + 1
    return out


def summary_text(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """"2 claims supported, 1 unsupported" (or "no numeric claims")."""
    c = counts(verdicts)
    if not verdicts:
        return "no numeric claims"
    parts = [f"{n} {v}" for v, n in c.items() if n]
    total = sum(c.values())
    first, rest = parts[0].split(" ", 1)
    return f"{first} claim{'s' if total != 1 else ''} {rest}" + "".join(", " + p for p in parts[1:])


def _run_dir(run: Any) -> Path:
    return RunDir.of_log(run.log_path).root


def check_loaded(run: Any, *, ledger: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Claim verdicts of a run already read with ``log_import.load_run``."""
    from .measurements import load_ledger

    if ledger is None:
        ledger = load_ledger(_run_dir(run), run.steps)
    return check_claims(run.info.get("final_answer"), run.steps, ledger)


def check_run(path: str | Path, *, ledger: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Claim verdicts of a run folder (ours or imported) or an original log, from its ledger.

    For the run report and the end-of-run line: cheap, no grading (``eval`` adds the grades
    to the ledger first)."""
    from .log_import import load_run

    return check_loaded(load_run(path), ledger=ledger)


def verdicts_for_view(run: Any) -> list[dict[str, Any]]:
    """For ``show`` and the run report: the verdicts ``eval`` wrote (they include the grades),
    else those the ledger gives now."""
    import json

    eval_path = RunDir(_run_dir(run)).eval_json
    if eval_path.is_file():
        try:
            data = json.loads(eval_path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("claims"), list):
                return data["claims"]
        except (OSError, ValueError):
            pass
    return check_loaded(run)


def attach_to_eval(run_dir: Path, result: dict[str, Any], *, write: bool = True) -> None:
    """``eval``: ledger the grader's scores of this evaluation (when ``write``), then add the
    claim verdicts (``claims``, ``claim_counts``) to its result."""
    from .env.snapshots import list_steps
    from .log_import import load_run
    from .measurements import Ledger, baseline_record, grade_record, load_ledger

    env_log = RunDir(run_dir).env_log.root
    steps = list_steps(env_log)
    grades = [{"snapshot": s.get("step"), "score": s.get("score")} for s in result.get("step_scores") or []
              if s.get("valid")]
    if result.get("valid"):
        grades.append({"snapshot": steps[-1] if steps else None, "score": result.get("score"), "final": True})
    metric, baseline = result.get("metric"), result.get("baseline")
    extra: list[dict[str, Any]] = []
    if write:
        ledger = Ledger(env_log)
        try:
            ledger.record_baseline(metric, baseline)
            ledger.record_grades(metric, grades)
        except OSError as exc:
            result.setdefault("notes", []).append(f"could not write the measurements ledger: {exc}")
    else:
        extra = [grade_record(metric, g) for g in grades if g.get("score") is not None]
        extra += [baseline_record(metric, baseline)] if baseline is not None else []
    try:
        run = load_run(run_dir)
        records = load_ledger(_run_dir(run), run.steps)
        if any(r.get("kind") == "baseline" for r in records):
            extra = [r for r in extra if r.get("kind") != "baseline"]
        verdicts = check_loaded(run, ledger=records + extra)
    except Exception as exc:  # noqa: BLE001 - a run without a readable log still gets its grade
        result.setdefault("notes", []).append(f"claims not checked: {exc}")
        return
    result["claims"] = verdicts
    result["claim_counts"] = counts(verdicts)


def run_claims_line(run_dir: str | Path) -> str | None:
    """The end-of-run line ("Claims: 2 claims supported, 1 unsupported (...)"); None without a log."""
    try:
        return (f"Claims: {summary_text(check_run(run_dir))} (checked against what the run measured; "
                "details: mlr-copilot eval)")
    except Exception:  # noqa: BLE001 - the run is over; its own status is what matters
        logger.warning("could not check the claims of %s", run_dir, exc_info=True)
        return None


MARKS = {"supported": "\u2713", "contradicted": "\u2717", "unsupported": "?"}


def claim_lines(e: Mapping[str, Any]) -> list[str]:
    """What ``eval`` prints under a run's line: the summary, then one line per claim."""
    verdicts = e.get("claims")
    if verdicts is None:
        return []
    return [f"claims: {summary_text(verdicts)}"] + [f"  {MARKS[v['verdict']]} {describe(v)}" for v in verdicts]


def runs_with_bad_claims(evals: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many runs have a contradicted claim, and how many an unsupported one."""
    evals = list(evals)
    return {"runs_contradicted": sum(1 for e in evals if (e.get("claim_counts") or {}).get("contradicted")),
            "runs_unsupported": sum(1 for e in evals if (e.get("claim_counts") or {}).get("unsupported"))}


def describe(v: Mapping[str, Any]) -> str:
    """One line for a verdict: '0.93 (accuracy): supported: step 5, train.py line 12 printed 0.9312'."""
    what = f"{v['text']}" + (f" ({v['metric']}{', change' if v['kind'] == 'improvement' else ''})"
                            if v.get("metric") else (" (change)" if v["kind"] == "improvement" else ""))
    where = "" if v.get("source") == "final_answer" else f" [plan, step {v.get('step')}]"
    e = v.get("evidence")
    if not e:
        return f"{what}{where}: {v['verdict']}: nothing in the run measured it"
    src = _where(e)
    if e.get("derived_as"):
        src += f" vs {_where(e['base'])}: {e['derived_as']} change {e['derived']:.4g}"
    if e.get("by_value_only"):
        src += f" (printed as '{e.get('name')}')"
    return f"{what}{where}: {v['verdict']}: {src}"


def _where(e: Mapping[str, Any]) -> str:
    if e.get("kind") == "baseline":
        return f"task baseline {e.get('value'):.6g}"
    if e.get("kind") == "grade":
        snap = e.get("snapshot")
        return f"grader score {e.get('value'):.6g} of " + (f"snapshot {snap}" if snap is not None else "the final workspace")
    if e.get("kind") == "mean":
        return f"step {e.get('step')}: {e.get('name')}={e.get('text')}, the mean of {len(e.get('of') or [])} values"
    script = f"{e.get('script')} " if e.get("script") else ""
    return f"step {e.get('step')}, {script}line {e.get('line')}: {e.get('name')}={e.get('text')}"
