"""Run the ExperimentAgent with the embedded local model on every offline task.

Prints per strategy and task: success rate, mean improvement over the baseline, share of
responses that parsed on the first try, mean seconds per step, tokens, wall time per run and,
for the tree strategy, the depth of the best node and the share of buggy nodes. Usage:

    python benchmarks/agent_suite.py --trials 1 --max-steps 8 [--llm local] [--tasks digits,wine]
    python benchmarks/agent_suite.py --strategy loop,tree --trials 3 --max-steps 10

With ``--strategy tree``, ``--max-steps`` counts nodes (each node is one whole script, written
and run).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlr_copilot.agents.runner import STRATEGIES, RunOptions, run_experiment  # noqa: E402
from mlr_copilot.agents.tree import DEFAULT_DEBUG_PROB, DEFAULT_DRAFTS, DEFAULT_MAX_DEBUG_DEPTH  # noqa: E402
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
    ap.add_argument("--strategy", default="loop", help="comma-separated strategies: loop, tree, or loop,tree")
    ap.add_argument("--tree-drafts", type=int, default=DEFAULT_DRAFTS)
    ap.add_argument("--tree-debug-prob", type=float, default=DEFAULT_DEBUG_PROB)
    ap.add_argument("--tree-max-debug-depth", type=int, default=DEFAULT_MAX_DEBUG_DEPTH)
    args = ap.parse_args()
    strategies = [x.strip() for x in args.strategy.split(",") if x.strip()]
    bad = [x for x in strategies if x not in STRATEGIES]
    if bad or not strategies:
        ap.error(f"--strategy: unknown {', '.join(bad) or '(none given)'}; use {', '.join(STRATEGIES)}")

    tasks = discover_tasks(ROOT)
    log_root = Path(args.log_root) if args.log_root else Path(tempfile.mkdtemp(prefix="agent-suite-"))
    rows = []
    t_all = time.monotonic()
    for strategy, name in [(st, t.strip()) for st in strategies for t in args.tasks.split(",") if t.strip()]:
        evals, first_try, durations, tokens, walls, depths, buggy = [], [], [], [], [], [], []
        for trial in range(1, args.trials + 1):
            t_run = time.monotonic()
            result = run_experiment(RunOptions(task=name, llm=args.llm, max_steps=args.max_steps, feedback="none",
                                               sandbox=args.sandbox, log_root=str(log_root), root=str(ROOT),
                                               actions_remove=tuple(a.strip() for a in args.actions_remove.split(",")
                                                                    if a.strip()) if strategy == "loop" else (),
                                               strategy=strategy, tree_drafts=args.tree_drafts,
                                               tree_debug_prob=args.tree_debug_prob,
                                               tree_max_debug_depth=args.tree_max_debug_depth))
            walls.append(time.monotonic() - t_run)
            ev = evaluate_run(result.run_dir, tasks)
            evals.append(ev)
            steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r.get("type") == "step"]
            first_try += [r.get("parse_attempts") == 1 for r in steps]
            durations += [r["duration_s"] for r in steps if r.get("duration_s") is not None]
            tokens.append(ev.get("tokens") or 0)
            tree = json.loads((result.run_dir / "run.json").read_text()).get("tree") or {}
            if tree.get("nodes"):
                buggy.append(tree["buggy"] / tree["nodes"])
                if tree.get("best_depth") is not None:
                    depths.append(tree["best_depth"])
            print(f"  {strategy} {name} trial {trial}: status={result.status} steps={len(steps)} "
                  f"score={ev.get('score')} baseline={ev.get('baseline')} valid={ev.get('valid')} "
                  f"best_node={tree.get('best_node', '-')} ({result.run_dir})", flush=True)
        improvements = [e["improvement_pct"] for e in evals if e.get("improvement_pct") is not None]
        rows.append({
            "strategy": strategy,
            "task": name,
            "wall_s": statistics.mean(walls),
            "best_depth": statistics.mean(depths) if depths else float("nan"),
            "buggy": statistics.mean(buggy) if buggy else float("nan"),
            "runs": len(evals),
            "success": sum(bool(e.get("success")) for e in evals) / len(evals),
            "improvement": statistics.mean(improvements) if improvements else float("nan"),
            "first_try": sum(first_try) / len(first_try) if first_try else float("nan"),
            "s_per_step": statistics.mean(durations) if durations else float("nan"),
            "tokens": statistics.mean(tokens) if tokens else 0,
        })
    print(f"\nllm={args.llm} trials={args.trials} max_steps={args.max_steps} "
          f"actions_remove={args.actions_remove or '-'} strategies={','.join(strategies)} "
          f"tree: drafts={args.tree_drafts} debug_prob={args.tree_debug_prob} "
          f"max_debug_depth={args.tree_max_debug_depth}; "
          f"total wall time {time.monotonic() - t_all:.0f} s, runs in {log_root}\n")
    print("| strategy | task | runs | success rate | mean improvement | best-node depth | buggy nodes "
          "| parsed on first try | s / step | wall s / run | tokens / run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['strategy']} | {r['task']} | {r['runs']} | {r['success']:.0%} | {r['improvement']:+.1f}% "
              f"| {_num(r['best_depth'], '{:.1f}')} | {_num(r['buggy'], '{:.0%}')} | {r['first_try']:.0%} "
              f"| {r['s_per_step']:.1f} | {r['wall_s']:.0f} | {r['tokens']:.0f} |")
    return 0


def _num(value: float, fmt: str) -> str:
    return "-" if value != value else fmt.format(value)  # NaN: not measured (a loop run has no tree)


if __name__ == "__main__":
    raise SystemExit(main())
