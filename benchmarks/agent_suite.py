"""Run the ExperimentAgent on the offline tasks and print how well it did.

Per strategy and task: success (hidden grader, more than 10% better than the baseline), mean
improvement, repeated actions (the same action with the same input twice in a row), share of
responses usable on the first try, median and longest step (a node for the tree strategy;
model time, scripts included, and without the scripts),
wall time per run and, for the tree strategy, the depth of the best node and the share of
buggy nodes. Usage:

    python benchmarks/agent_suite.py --trials 3 --steps 10 [--llm local] [--tasks digits,wine]
    python benchmarks/agent_suite.py --strategy loop,tree --trials 3 --steps 10
    python benchmarks/agent_suite.py --llm openai:qwen --llm-base-url http://127.0.0.1:8080/v1
    python benchmarks/agent_suite.py --serve-embedded --prompt-style compact --trials 3

``--serve-embedded`` starts llama-cpp-python's own OpenAI-compatible server on 127.0.0.1 with
the embedded model (``pip install 'llama-cpp-python[server]'``) and runs the agent through the
OpenAI SDK against it: the same model, no grammar. Wrongly typed arguments then show in the
"argument type" column: retried as format errors (or normalised), never a lost step.

With ``--strategy tree``, ``--steps`` counts nodes (each node is one whole script, written
and run).

With ``--log-root DIR`` the suite keeps a journal of its finished runs (``DIR/suite.jsonl``,
with its settings and the git commit it measures); ``--resume`` goes on with a suite that was
cut short (a loop-and-tree suite of 3 trials takes about three hours on two cores), counting
the finished runs from their folders. It refuses other settings or another commit, so that
every row of the table measures the same code: resume from a worktree at that commit.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlr_copilot import cli_types as T  # noqa: E402
from mlr_copilot.agents.runner import STRATEGIES, RunOptions, run_experiment  # noqa: E402
from mlr_copilot.agents.tree import DEFAULT_DEBUG_PROB, DEFAULT_DRAFTS, DEFAULT_MAX_DEBUG_DEPTH  # noqa: E402
from mlr_copilot.evaluation import evaluate_run  # noqa: E402
from mlr_copilot.logs import read_jsonl  # noqa: E402
from mlr_copilot.records import RunDir, RunInfo  # noqa: E402
from mlr_copilot.source import source_commit  # noqa: E402
from mlr_copilot.tasks import discover_tasks  # noqa: E402

OFFLINE = ("digits", "wine", "diabetes")
JOURNAL = "suite.jsonl"
SETTINGS = ("tasks", "llm", "llm_base_url", "max_steps", "prompt_style", "sandbox", "actions_remove", "strategy",
            "tree_drafts", "tree_debug_prob", "tree_max_debug_depth", "tree_node_timeout_s", "serve_embedded")
"""What a resumed suite must share with the one it goes on with (``--trials`` may grow)."""


class Journal:
    """The suite's record of its finished runs, one JSON line each after a line of settings."""

    def __init__(self, path: Path, done: dict[tuple[int, str, str], dict]):
        self.path = path
        self.done = done  # (trial, strategy, task) -> the run's record

    @classmethod
    def open(cls, log_root: Path, settings: dict, commit: str | None, *, resume: bool) -> "Journal":
        """Start the journal of a new suite, or (``resume``) read the one in ``log_root`` and
        check that it ran with the same settings and commit. Refusals exit with the reason."""
        path = log_root / JOURNAL
        if not resume:
            if path.exists():
                raise SystemExit(f"{log_root} already holds a suite ({JOURNAL}): add --resume to go on with it, "
                                 f"or choose another --log-root")
            log_root.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"type": "suite", "settings": settings, "commit": commit}) + "\n")
            return cls(path, {})
        if not path.is_file():
            raise SystemExit(f"--resume: {log_root} holds no suite journal ({JOURNAL}); start it without --resume")
        records = read_jsonl(path)
        head = records[0] if records and records[0].get("type") == "suite" else None
        if head is None:
            raise SystemExit(f"--resume: {path} does not start with the suite's settings; start a new suite")
        changed = [f"--{k.replace('_', '-')} was {head['settings'].get(k)!r}, now {settings.get(k)!r}"
                   for k in settings if head["settings"].get(k) != settings.get(k)]
        if changed:
            raise SystemExit("--resume: the suite in " + str(log_root) + " ran with other settings: "
                             + "; ".join(changed))
        if head.get("commit") != commit:
            raise SystemExit(f"--resume: the suite in {log_root} measured commit {head.get('commit')}, this checkout "
                             f"is {commit}; resume from a worktree at that commit (git worktree add DIR "
                             f"{str(head.get('commit')).split('+')[0]}) so that every run measures the same code")
        done = {(r["trial"], r["strategy"], r["task"]): r for r in records[1:] if r.get("type") == "run"}
        return cls(path, done)

    def add(self, trial: int, strategy: str, task: str, run_dir: Path, wall_s: float) -> None:
        record = {"type": "run", "trial": trial, "strategy": strategy, "task": task, "run_dir": str(run_dir),
                  "wall_s": round(wall_s, 1)}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        self.done[(trial, strategy, task)] = record


def run_figures(run_dir: Path) -> dict:
    """Figures of one finished run, from its step records and run.json."""
    steps = [r for r in read_jsonl(RunDir(run_dir).full_log) if r.get("type") == "step"]
    keys = [(r.get("action"), json.dumps(r.get("action_input"), sort_keys=True)) for r in steps]
    tree = RunInfo.read(run_dir).get("tree") or {}
    script_s: dict[int, float] = {}
    for r in read_jsonl(RunDir(run_dir).env_log.trace):
        if r.get("type") == "action" and r.get("action") == "Execute Script" and r.get("duration_s") is not None:
            script_s[r["step"]] = script_s.get(r["step"], 0.0) + r["duration_s"]
    durations = [r["duration_s"] for r in steps if r.get("duration_s") is not None]
    model_s = [r["duration_s"] - script_s.get(r.get("step"), 0.0) for r in steps if r.get("duration_s") is not None]
    if any(r.get("node") for r in steps):  # tree: a node's write, run (or skip) count as one
        per_node: dict[int, list[float]] = {}
        for r in steps:
            if r.get("node") and r.get("duration_s") is not None:
                got = per_node.setdefault(r["node"]["id"], [0.0, 0.0])
                got[0] += r["duration_s"]
                got[1] += r["duration_s"] - script_s.get(r.get("step"), 0.0)
        durations, model_s = [d for d, _ in per_node.values()], [m for _, m in per_node.values()]
    return {
        "steps": len(steps),
        "repeats": sum(1 for a, b in zip(keys, keys[1:]) if a == b),
        # a step whose move a guard replaced (measure first) used one answer, but not as given
        "first_try": [r.get("parse_attempts") == 1 and not r.get("parse_errors") for r in steps],
        "durations": durations,  # per step; per node for the tree strategy
        "model_s": model_s,  # the same without the scripts' run time
        "actions": [r.get("action") for r in steps],
        "action_keys": keys,
        "tree": tree,
        "type_retries": sum(1 for r in steps for e in r.get("parse_errors") or [] if "' must be " in e),
        "normalised": sum(len(r.get("normalised") or []) for r in steps),
        "type_lost": sum(1 for r in steps if str(r.get("observation", "")).startswith("EnvError")
                         and "['" in str(r.get("observation", ""))[:300]),
    }


@contextlib.contextmanager
def embedded_server(n_ctx: int):
    """llama-cpp-python's OpenAI-compatible server on a free 127.0.0.1 port with the embedded
    model; yields its base URL and stops it on exit."""
    from mlr_copilot.llm.local_model import ensure_embedded_model

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(Path(tempfile.gettempdir()) / f"llama-server-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(ensure_embedded_model()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
                             "--n_threads", str(os.cpu_count() or 1), "--model_alias", "embedded"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        for _ in range(600):  # loading takes seconds; give up after about a minute
            if proc.poll() is not None:
                raise SystemExit(f"the llama-cpp-python server exited; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit(f"the llama-cpp-python server did not answer on {url}; see {log.name}")
        print(f"llama-cpp-python server with the embedded model at {url} (log {log.name})", flush=True)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(OFFLINE))
    ap.add_argument("--llm", default="local")
    ap.add_argument("--llm-base-url", default=None)
    ap.add_argument("--trials", type=T.TRIALS, default=1)
    ap.add_argument("--steps", "--max-steps", dest="max_steps", type=T.STEPS, default=10)
    ap.add_argument("--serve-embedded", action="store_true",
                    help="run the embedded model behind llama-cpp-python's OpenAI-compatible server (no grammar)")
    ap.add_argument("--prompt-style", choices=("full", "compact"), default=None,
                    help="default: compact for local models, full for servers")
    ap.add_argument("--sandbox", default="auto")
    ap.add_argument("--log-root", default=None, help="keep the runs (and the suite's journal) here "
                                                     "(default: a temporary folder)")
    ap.add_argument("--resume", action="store_true",
                    help="go on with the suite journaled in --log-root (same settings and commit)")
    ap.add_argument("--actions-remove", default="", help="comma-separated actions not to offer")
    ap.add_argument("--strategy", default="loop", help="comma-separated strategies: loop, tree, or loop,tree")
    ap.add_argument("--tree-drafts", type=T.TREE_DRAFTS, default=DEFAULT_DRAFTS)
    ap.add_argument("--tree-debug-prob", type=T.PROBABILITY, default=DEFAULT_DEBUG_PROB)
    ap.add_argument("--tree-max-debug-depth", type=T.TREE_DEBUG_DEPTH, default=DEFAULT_MAX_DEBUG_DEPTH)
    ap.add_argument("--tree-node-timeout", dest="tree_node_timeout_s", type=T.SECONDS, default=None,
                    help="seconds one node's script may run (default: the run's, from the starter's run time)")
    args = ap.parse_args()
    strategies = [x.strip() for x in args.strategy.split(",") if x.strip()]
    bad = [x for x in strategies if x not in STRATEGIES]
    if bad or not strategies:
        ap.error(f"--strategy: unknown {', '.join(bad) or '(none given)'}; use {', '.join(STRATEGIES)}")
    if args.resume and not args.log_root:
        ap.error("--resume: give the --log-root of the suite to go on with")

    if args.serve_embedded:
        with embedded_server(n_ctx=16384) as url:
            args.llm, args.llm_base_url = "openai:embedded", url
            return run_suite(args, strategies)
    return run_suite(args, strategies)


def suite_settings(args: argparse.Namespace) -> dict:
    settings = {k: getattr(args, k) for k in SETTINGS}
    if args.serve_embedded:
        settings["llm"] = settings["llm_base_url"] = None  # a fresh server and port each time
    return settings


def run_suite(args: argparse.Namespace, strategies: list[str]) -> int:
    tasks = discover_tasks(ROOT)
    log_root = Path(args.log_root) if args.log_root else Path(tempfile.mkdtemp(prefix="agent-suite-"))
    journal = Journal.open(log_root, suite_settings(args), source_commit(), resume=args.resume)
    keys = [(st, t.strip()) for st in strategies for t in args.tasks.split(",") if t.strip()]
    runs: dict[tuple[str, str], dict[str, list]] = {k: {"evals": [], "figures": [], "walls": []} for k in keys}
    t_all = time.monotonic() - sum(r["wall_s"] for r in journal.done.values())
    for trial in range(1, args.trials + 1):  # trial by trial: a suite cut short has covered every task
        for strategy, name in keys:
            done = journal.done.get((trial, strategy, name))
            if done is not None:  # finished before the suite was cut short
                run_dir, wall, status = Path(done["run_dir"]), done["wall_s"], "(from the journal)"
            else:
                t0 = time.monotonic()
                result = run_experiment(RunOptions(
                    task=name, llm=args.llm, llm_base_url=args.llm_base_url, max_steps=args.max_steps,
                    feedback="none", sandbox=args.sandbox, log_root=str(log_root), root=str(ROOT),
                    actions_remove=tuple(a.strip() for a in args.actions_remove.split(",") if a.strip())
                    if strategy == "loop" else (),
                    prompt_style=args.prompt_style, strategy=strategy, tree_drafts=args.tree_drafts,
                    tree_debug_prob=args.tree_debug_prob, tree_max_debug_depth=args.tree_max_debug_depth,
                    tree_node_timeout_s=args.tree_node_timeout_s))
                run_dir, wall, status = result.run_dir, time.monotonic() - t0, result.status
                journal.add(trial, strategy, name, run_dir, wall)
            ev, fig = evaluate_run(run_dir, tasks), run_figures(run_dir)
            for field_name, value in (("evals", ev), ("figures", fig), ("walls", wall)):
                runs[(strategy, name)][field_name].append(value)
            print(f"  {strategy} {name} trial {trial}: status={status} steps={fig['steps']} "
                  f"score={ev.get('score')} baseline={ev.get('baseline')} success={ev.get('success')} "
                  f"wall={wall:.0f}s best_node={fig['tree'].get('best_node', '-')} "
                  f"actions={' > '.join(fig['actions'])} ({run_dir})", flush=True)
        _print_table(args, strategies, [_row(k, runs[k]) for k in keys], t_all, log_root, trial)
    return 0


def _row(key: tuple[str, str], runs: dict[str, list]) -> dict:
    """The table row of one strategy on one task, over the trials run so far."""
    evals, figures, walls = runs["evals"], runs["figures"], runs["walls"]
    improvements = [e["improvement_pct"] for e in evals if e.get("improvement_pct") is not None]
    durations = [d for f in figures for d in f["durations"]]
    first_try = [x for f in figures for x in f["first_try"]]
    trees = [f["tree"] for f in figures if f["tree"].get("nodes")]
    depths = [t["best_depth"] for t in trees if t.get("best_depth") is not None]
    return {
        "strategy": key[0], "task": key[1], "runs": len(evals),
        "success": sum(bool(e.get("success")) for e in evals),
        "improvement": statistics.mean(improvements) if improvements else float("nan"),
        "repeats": sum(f["repeats"] for f in figures),
        "first_try": sum(first_try) / len(first_try) if first_try else float("nan"),
        "median_step": statistics.median(durations) if durations else float("nan"),
        "median_model": statistics.median(m for f in figures for m in f["model_s"]) if durations else float("nan"),
        "longest_step": max(durations) if durations else float("nan"),
        "wall": statistics.mean(walls),
        "best_depth": statistics.mean(depths) if depths else float("nan"),
        "buggy": statistics.mean(t["buggy"] / t["nodes"] for t in trees) if trees else float("nan"),
        "types": f"{sum(f['type_retries'] for f in figures)}/{sum(f['normalised'] for f in figures)}/"
                 f"{sum(f['type_lost'] for f in figures)}",
    }


def _print_table(args, strategies, rows, t_all: float, log_root: Path, trials_done: int) -> None:
    print(f"\nllm={args.llm} prompt_style={args.prompt_style or 'default'} trials={trials_done} of {args.trials} "
          f"steps={args.max_steps} actions_remove={args.actions_remove or '-'} strategies={','.join(strategies)} "
          f"tree: drafts={args.tree_drafts} debug_prob={args.tree_debug_prob} "
          f"max_debug_depth={args.tree_max_debug_depth} node_timeout={args.tree_node_timeout_s or 'default'}; "
          f"total wall time {time.monotonic() - t_all:.0f} s, peak resident memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB, runs in {log_root}\n")
    print("| strategy | task | success | mean improvement | repeated actions | usable on first try "
          "| median step, tree: node (s) | the same without the script (s) | longest (s) | wall time per run (s) "
          "| best-node depth | buggy nodes | argument type: retried/normalised/lost steps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['strategy']} | {r['task']} | {r['success']}/{r['runs']} | {r['improvement']:+.1f}% "
              f"| {r['repeats']} | {r['first_try']:.0%} | {r['median_step']:.1f} | {r['median_model']:.1f} "
              f"| {r['longest_step']:.1f} "
              f"| {r['wall']:.0f} | {_num(r['best_depth'], '{:.1f}')} | {_num(r['buggy'], '{:.0%}')} | {r['types']} |",
              flush=True)


def _num(value: float, fmt: str) -> str:
    return "-" if value != value else fmt.format(value)  # NaN: not measured (a loop run has no tree)


if __name__ == "__main__":
    raise SystemExit(main())
