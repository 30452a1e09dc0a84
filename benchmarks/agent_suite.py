"""Run the ExperimentAgent with the embedded local model on every offline task.

Prints per task: success rate, mean improvement over the baseline, share of responses that
parsed on the first try, mean seconds per step, and tokens. Usage:

    python benchmarks/agent_suite.py --trials 1 --max-steps 8 [--llm local] [--tasks digits,wine]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlr_copilot.agents.runner import RunOptions, run_experiment  # noqa: E402
from mlr_copilot.evaluation import evaluate_run  # noqa: E402
from mlr_copilot.logs import read_jsonl  # noqa: E402
from mlr_copilot.tasks import discover_tasks  # noqa: E402

OFFLINE = ("digits", "wine", "diabetes")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(OFFLINE))
    ap.add_argument("--llm", default="local")
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=8)
    ap.add_argument("--sandbox", default="auto")
    ap.add_argument("--log-root", default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--actions-remove", default="", help="comma-separated actions not to offer")
    args = ap.parse_args()

    tasks = discover_tasks(ROOT)
    log_root = Path(args.log_root) if args.log_root else Path(tempfile.mkdtemp(prefix="agent-suite-"))
    rows = []
    t_all = time.monotonic()
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        evals, first_try, durations, tokens = [], [], [], []
        for trial in range(1, args.trials + 1):
            result = run_experiment(RunOptions(task=name, llm=args.llm, max_steps=args.max_steps, feedback="none",
                                               sandbox=args.sandbox, log_root=str(log_root), root=str(ROOT),
                                               actions_remove=tuple(a.strip() for a in args.actions_remove.split(",")
                                                                    if a.strip())))
            ev = evaluate_run(result.run_dir, tasks)
            evals.append(ev)
            steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r.get("type") == "step"]
            first_try += [r.get("parse_attempts") == 1 for r in steps]
            durations += [r["duration_s"] for r in steps if r.get("duration_s") is not None]
            tokens.append(ev.get("tokens") or 0)
            print(f"  {name} trial {trial}: status={result.status} steps={len(steps)} score={ev.get('score')} "
                  f"baseline={ev.get('baseline')} valid={ev.get('valid')} ({result.run_dir})", flush=True)
        improvements = [e["improvement_pct"] for e in evals if e.get("improvement_pct") is not None]
        rows.append({
            "task": name,
            "runs": len(evals),
            "success": sum(bool(e.get("success")) for e in evals) / len(evals),
            "improvement": statistics.mean(improvements) if improvements else float("nan"),
            "first_try": sum(first_try) / len(first_try) if first_try else float("nan"),
            "s_per_step": statistics.mean(durations) if durations else float("nan"),
            "tokens": statistics.mean(tokens) if tokens else 0,
        })
    print(f"\nllm={args.llm} trials={args.trials} max_steps={args.max_steps} "
          f"actions_remove={args.actions_remove or '-'} "
          f"total wall time {time.monotonic() - t_all:.0f} s, runs in {log_root}\n")
    print("| task | runs | success rate | mean improvement | parsed on first try | s / step | tokens / run |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['runs']} | {r['success']:.0%} | {r['improvement']:+.1f}% | {r['first_try']:.0%} "
              f"| {r['s_per_step']:.1f} | {r['tokens']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
