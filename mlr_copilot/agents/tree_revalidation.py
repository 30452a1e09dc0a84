"""Before the tree's best node is chosen, its leading nodes are run again on other validation splits.

A node's metric comes from one held-out split of the training rows, and the search keeps the
node that scored best on it. On a small table that choice is mostly luck: in the diabetes
runs of suite16 (310 training rows, a 62-row split) gradient boosting printed RMSE 58.7 and
ridge and random forest 60-61, so two of three runs kept gradient boosting, which scored
55.2 on the hidden test rows against 50-53 for the others.

So at the end of the search the ``REVALIDATED_NODES`` best working nodes (one per metric value:
nodes that score exactly alike most likely fit the same model) are run again with
``splits`` other seeds in their ``train_test_split`` calls (the ``random_state`` argument
replaced, or added where the call had none; the rest of the script unchanged), each in the
workspace as that node left it, from a scratch copy of the script; and the best node is chosen
by the mean over its splits. A node whose script splits no other way (a given validation file,
its own cross-validation) keeps its one metric; so does one where a rerun fails. The reruns may
take ``BUDGET_SHARE`` of the search's own time (at least ``MIN_BUDGET_S``), never past the
run's time limit. A node's reruns start only if, at its measured run time, they all fit in
what is left, and each rerun is stopped at the budget's end (in suite17 one slow node's reruns,
checked only before each, took 162 s of a 100-s budget); the node whose reruns do not fit, and
the ones after it, are left out of the choice. What the
reruns print, and each mean, go into the measurements ledger, so the Final Answer's figures
are checked like any other.
"""
from __future__ import annotations

import ast
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..measurements import Ledger
from .metric import parse_metric, script_output

logger = logging.getLogger(__name__)

REVALIDATED_NODES = 3  # the best working nodes run again
BUDGET_SHARE = 0.2  # of the search's time so far, spent at most on reruns...
MIN_BUDGET_S = 30.0  # ...or this, whichever is more (a quick search of quick scripts)
SPLIT_FUNCTIONS = ("train_test_split",)  # calls whose random_state picks the validation rows
SEEDS = tuple(range(1, 100))  # taken in order, skipping the seeds the script already uses
SCRATCH_PREFIX = ".revalidate_"  # the rerun's copy of the script, beside it


@dataclass
class Revalidation:
    """One node's reruns: the seeds and the metric each printed (None: it failed)."""

    node: int
    seeds: list[int] = field(default_factory=list)
    metrics: list[float | None] = field(default_factory=list)
    original: float | None = None  # the node's own metric, its first split

    @property
    def values(self) -> list[float]:
        """The node's metric and every rerun that printed one."""
        runs = [m for m in self.metrics if m is not None and math.isfinite(m)]
        return ([self.original] if self.original is not None else []) + runs

    @property
    def complete(self) -> bool:
        return bool(self.seeds) and len(self.values) == len(self.seeds) + 1

    @property
    def mean(self) -> float | None:
        """The mean over every split, only when every rerun printed its metric."""
        return sum(self.values) / len(self.values) if self.complete else None

    def record(self) -> dict[str, Any]:
        return {"node": self.node, "seeds": self.seeds, "metrics": self.metrics, "mean": self.mean}

    @classmethod
    def from_record(cls, data: Any, original: float | None) -> "Revalidation | None":
        if not isinstance(data, dict) or not isinstance(data.get("node"), int):
            return None
        seeds = [s for s in data.get("seeds") or [] if isinstance(s, int)]
        metrics = [m if isinstance(m, (int, float)) else None for m in data.get("metrics") or []]
        return cls(node=data["node"], seeds=seeds, metrics=metrics[:len(seeds)], original=original)


def split_variants(code: str, count: int) -> list[tuple[int, str]]:
    """Up to ``count`` (seed, code) pairs: ``code`` with every ``train_test_split`` call drawing
    its rows with that seed. Empty when the code makes no such call, splits without shuffling,
    or cannot be rewritten into code that compiles."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) in SPLIT_FUNCTIONS]
    if not calls or any(_no_shuffle(c) for c in calls):
        return []
    used = {k.value.value for c in calls for k in c.keywords
            if k.arg == "random_state" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, int)}
    seeds = [s for s in SEEDS if s not in used][:max(0, count)]
    data = code.encode("utf-8")
    starts = _line_starts(data)
    variants = []
    for seed in seeds:
        edits = [_seed_edit(c, seed, data, starts) for c in calls]
        if any(e is None for e in edits):
            return []
        text = data
        for begin, end, new in sorted(edits, reverse=True):
            text = text[:begin] + new.encode("utf-8") + text[end:]
        variant = text.decode("utf-8")
        try:
            compile(variant, "<variant>", "exec")
        except (SyntaxError, ValueError):
            return []
        variants.append((seed, variant))
    return variants


def _called(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _no_shuffle(call: ast.Call) -> bool:
    return any(k.arg == "shuffle" and isinstance(k.value, ast.Constant) and k.value.value is False
               for k in call.keywords)


def _line_starts(data: bytes) -> list[int]:
    starts, pos = [0], 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _seed_edit(call: ast.Call, seed: int, data: bytes, starts: list[int]) -> tuple[int, int, str] | None:
    """(begin, end, text): the bytes of ``data`` that give ``call`` the seed (AST columns are
    UTF-8 byte offsets)."""
    for k in call.keywords:
        if k.arg == "random_state":
            v = k.value
            return starts[v.lineno - 1] + v.col_offset, starts[v.end_lineno - 1] + v.end_col_offset, str(seed)
    if any(k.arg is None for k in call.keywords):  # **kwargs may hold a random_state already
        return None
    end = starts[call.end_lineno - 1] + call.end_col_offset - 1  # the closing parenthesis
    if data[end:end + 1] != b")":
        return None
    before = data[:end].rstrip()
    sep = "" if before.endswith((b"(", b",")) else ", "
    return end, end, f"{sep}random_state={seed}"


def revalidate(env, tree, *, script: str, splits: int, budget_s: float, node_timeout_s: float | None,
               step: int) -> list[Revalidation]:
    """Run the ``REVALIDATED_NODES`` best working nodes of ``tree`` again on ``splits`` other
    seeds (see the module docstring); one ``Revalidation`` per node looked at, best metric
    first. The workspace is left as the last rerun left it: the caller restores the node it
    chooses. ``step`` numbers the trace lines (reruns use no step and take no snapshot)."""
    metric = tree.metric
    nodes: list = []  # best first; a node scoring exactly as one already taken most likely fits the same model
    for node in sorted((n for n in tree.nodes if n.good), key=lambda n: n.metric, reverse=metric.direction == "higher"):
        if len(nodes) < REVALIDATED_NODES and all(node.metric != n.metric for n in nodes):
            nodes.append(node)
    if len(nodes) < 2 or splits < 1:
        return []
    ledger = Ledger(env.env_log_dir)
    start, budget_s = time.monotonic(), max(budget_s, MIN_BUDGET_S)
    scratch = str(PurePosixPath(script).with_name(SCRATCH_PREFIX + PurePosixPath(script).name))
    done = []
    for node in nodes:
        result = Revalidation(node=node.id, original=node.metric)
        variants = split_variants(node.code or "", splits)
        if variants:
            env.restore_to(node.steps[-1])  # the node's data files and outputs, as its run left them
        for seed, code in variants:
            needed = (node.run_s or 0.0) * (len(variants) - len(result.seeds))  # this node's reruns still to go
            left = budget_s - (time.monotonic() - start)
            run_left = env.time_left()
            if left <= needed or (run_left is not None and run_left <= needed):
                logger.info("Reruns stopped after %.0f s (their share of the run's time): node %d's would "
                            "take about %.0f s more; it and the ones after it are not candidates",
                            time.monotonic() - start, node.id, needed)
                return done  # a node half rerun is left out: it would be compared on fewer splits
            limit = min(left, node_timeout_s) if node_timeout_s is not None else left
            value, timed_out = _rerun(env, ledger, scratch, code, metric, step, limit)
            if timed_out and limit < (node_timeout_s or math.inf):
                logger.info("Reruns stopped at their share of the run's time, in node %d's; it and the "
                            "ones after it are not candidates", node.id)
                return done
            result.seeds.append(seed)
            result.metrics.append(value)
        done.append(result)
        if result.mean is not None:
            ledger.record_mean(step=step, name=f"mean validation {metric.label}", value=result.mean,
                               values=result.values)
            logger.info("Node %d on %d splits: %s", node.id, len(result.values),
                        ", ".join(f"{v:.6g}" for v in result.values))
    return done


def _rerun(env, ledger: Ledger, scratch: str, code: str, metric, step: int,
           limit_s: float) -> tuple[float | None, bool]:
    """(the metric ``code`` prints when run as ``scratch``, or None when it fails or prints none;
    whether it was stopped at ``limit_s``). What it printed goes into the measurements ledger
    (the Final Answer quotes it)."""
    written = env.execute_internal("Write File", {"file_name": scratch, "content": code}, step=step)
    if not written.ok:
        return None, False
    obs = env.execute_internal("Execute Script", {"script_name": scratch}, step=step, script_limit_s=limit_s)
    if getattr(obs, "timed_out", False):
        return None, True
    if not obs.ok or obs.exit_code != 0:
        return None, False
    ledger.record_script(step=step, script=scratch, exit_code=obs.exit_code, output_path=obs.full_text_path,
                         observation=obs.text, snapshotted=False)
    return parse_metric(script_output(obs), metric).value, False


def describe(revalidated: list[Revalidation], label: str) -> str:
    """Sentences for the Final Answer: what the reruns measured ('' when none ran). Worded so
    that each number follows the metric it is (the claim check reads them)."""
    if not revalidated:
        return ""
    parts = [f"The {len(revalidated)} best nodes were run again with other seeds in their train_test_split "
             f"calls, and the best mean chose the node."]
    for r in revalidated:
        if r.mean is not None:
            own, *others = [f"{v:.6g}" for v in r.values]
            listed = ", ".join([f"{own} (its own split)", *others[:-1]]) + f" and {others[-1]}"
            parts.append(f"Node {r.node}: mean validation {label} {r.mean:.6g} of {listed}.")
        else:
            why = "it calls no train_test_split" if not r.seeds else "a rerun printed no metric"
            parts.append(f"Node {r.node}: validation {label} {r.original:.6g} on its own split only ({why}).")
    return " ".join(parts)
