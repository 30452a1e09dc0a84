"""Run the ExperimentAgent on the offline tasks and print how well it did.

Per strategy and task: success (hidden grader, more than 10% better than the baseline), mean
improvement, repeated actions (the same action with the same input twice in a row), share of
responses usable on the first try, median and longest step (model time, scripts included),
wall time per run and, for the tree strategy, the depth of the best node and the share of
buggy nodes. Usage:

    python benchmarks/agent_suite.py --trials 3 --steps 10 [--llm local] [--tasks digits,wine]
    python benchmarks/agent_suite.py --strategy loop,tree --trials 3 --steps 10
    python benchmarks/agent_suite.py --llm openai:qwen --llm-base-url http://127.0.0.1:8080/v1

With ``--strategy tree``, ``--steps`` counts nodes (each node is one whole script, written
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


def run_figures(run_dir: Path) -> dict:
    """Figures of one finished run, from its step records and run.json."""
    steps = [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r.get("type") == "step"]
    keys = [(r.get("action"), json.dumps(r.get("action_input"), sort_keys=True)) for r in steps]
    tree = json.loads((run_dir / "run.json").read_text()).get("tree") or {}
    return {
        "steps": len(steps),
        "repeats": sum(1 for a, b in zip(keys, keys[1:]) if a == b),
        "first_try": [r.get("parse_attempts") == 1 for r in steps],
        "durations": [r["duration_s"] for r in steps if r.get("duration_s") is not None],
        "actions": [r.get("action") for r in steps],
        "tree": tree,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(OFFLINE))
    ap.add_argument("--llm", default="local")
    ap.add_argument("--llm-base-url", default=None)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--steps", "--max-steps", dest="max_steps", type=int, default=10)
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
        evals, figures, walls = [], [], []
        for trial in range(1, args.trials + 1):
            t0 = time.monotonic()
            result = run_experiment(RunOptions(
                task=name, llm=args.llm, llm_base_url=args.llm_base_url, max_steps=args.max_steps,
                feedback="none", sandbox=args.sandbox, log_root=str(log_root), root=str(ROOT),
                actions_remove=tuple(a.strip() for a in args.actions_remove.split(",") if a.strip())
                if strategy == "loop" else (),
                strategy=strategy, tree_drafts=args.tree_drafts, tree_debug_prob=args.tree_debug_prob,
                tree_max_debug_depth=args.tree_max_debug_depth))
            walls.append(time.monotonic() - t0)
            ev = evaluate_run(result.run_dir, tasks)
            fig = run_figures(result.run_dir)
            evals.append(ev)
            figures.append(fig)
            print(f"  {strategy} {name} trial {trial}: status={result.status} steps={fig['steps']} "
                  f"score={ev.get('score')} baseline={ev.get('baseline')} success={ev.get('success')} "
                  f"wall={walls[-1]:.0f}s best_node={fig['tree'].get('best_node', '-')} "
                  f"actions={' > '.join(fig['actions'])} ({result.run_dir})", flush=True)
        improvements = [e["improvement_pct"] for e in evals if e.get("improvement_pct") is not None]
        durations = [d for f in figures for d in f["durations"]]
        first_try = [x for f in figures for x in f["first_try"]]
        trees = [f["tree"] for f in figures if f["tree"].get("nodes")]
        depths = [t["best_depth"] for t in trees if t.get("best_depth") is not None]
        rows.append({
            "strategy": strategy, "task": name, "runs": len(evals),
            "success": sum(bool(e.get("success")) for e in evals),
            "improvement": statistics.mean(improvements) if improvements else float("nan"),
            "repeats": sum(f["repeats"] for f in figures),
            "first_try": sum(first_try) / len(first_try) if first_try else float("nan"),
            "median_step": statistics.median(durations) if durations else float("nan"),
            "longest_step": max(durations) if durations else float("nan"),
            "wall": statistics.mean(walls),
            "best_depth": statistics.mean(depths) if depths else float("nan"),
            "buggy": statistics.mean(t["buggy"] / t["nodes"] for t in trees) if trees else float("nan"),
        })
    print(f"\nllm={args.llm} trials={args.trials} steps={args.max_steps} "
          f"actions_remove={args.actions_remove or '-'} strategies={','.join(strategies)} "
          f"tree: drafts={args.tree_drafts} debug_prob={args.tree_debug_prob} "
          f"max_debug_depth={args.tree_max_debug_depth}; "
          f"total wall time {time.monotonic() - t_all:.0f} s, runs in {log_root}\n")
    print("| strategy | task | success | mean improvement | repeated actions | usable on first try "
          "| median step (s) | longest step (s) | wall time per run (s) | best-node depth | buggy nodes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['strategy']} | {r['task']} | {r['success']}/{r['runs']} | {r['improvement']:+.1f}% "
              f"| {r['repeats']} | {r['first_try']:.0%} | {r['median_step']:.1f} | {r['longest_step']:.1f} "
              f"| {r['wall']:.0f} | {_num(r['best_depth'], '{:.1f}')} | {_num(r['buggy'], '{:.0%}')} |")
    return 0


def _num(value: float, fmt: str) -> str:
    return "-" if value != value else fmt.format(value)  # NaN: not measured (a loop run has no tree)


if __name__ == "__main__":
    raise SystemExit(main())
