"""The solution tree of the tree strategy: nodes, the AIDE search policy, and the tree's record.

A node is one complete version of the task's main script. Its ``stage`` says how it was
made: ``draft`` (from scratch), ``improve`` (from a working parent) or ``debug`` (from a
buggy parent). A node is ``buggy`` when its code has no code block, does not compile, fails,
or prints no finite validation metric; a ``duplicate`` repeats code already tried and is
not run again. The policy (as in AIDE, Jiang et al. 2025):

1. while fewer than ``drafts`` drafts exist, draft;
2. else, with probability ``debug_prob``, debug a buggy leaf that has code and whose debug
   depth (debug steps since its last non-debug ancestor) is below ``max_debug_depth``;
3. else improve the best working node (greedy); with none, draft.

Every random choice is drawn from a generator seeded by (seed, the first node's code hash,
node id), so a run resumed from its log, or replayed, makes the same choices as one that never
stopped, while runs whose first drafts differ draw differently. (Seeded by the node id alone,
every run made the same choices: at the default debug probability 0.25 no 10-node run ever
debugged, the first draw below 0.25 being node 14's.) ``Tree.from_records``
rebuilds the tree from the step records that carry a ``node`` object.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..config import DEFAULT_DEBUG_PROB, DEFAULT_DRAFTS, DEFAULT_MAX_DEBUG_DEPTH
from .metric import MetricSpec
from .tree_revalidation import Revalidation

STAGES = ("draft", "improve", "debug")


def code_hash(code: str) -> str:
    """A short hash of the code, blind to trailing spaces and blank lines at the ends."""
    norm = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


@dataclass
class Node:
    id: int
    stage: str
    parent: int | None = None
    plan: str = ""
    code: str | None = None  # None: the response held no code block
    code_hash: str | None = None
    metric: float | None = None
    buggy: bool | None = None  # None: written, not yet run (only after a crash, until resumed)
    duplicate_of: int | None = None
    debug_depth: int = 0
    error: str = ""  # what went wrong, for the debug prompt (head and tail of the output)
    outcome: str = ""  # one line for the memory of later prompts
    feedback: str | None = None  # human feedback given after this node
    steps: list[int] = field(default_factory=list)
    run_s: float | None = None  # seconds its script ran (what a rerun of it will likely take)

    @property
    def done(self) -> bool:
        return self.buggy is not None or self.duplicate_of is not None

    @property
    def good(self) -> bool:
        return self.buggy is False and self.metric is not None and self.duplicate_of is None

    def record(self) -> dict[str, Any]:
        """The ``node`` object of a step record (code and error live in the step itself)."""
        return {"id": self.id, "parent": self.parent, "stage": self.stage, "metric": self.metric,
                "buggy": self.buggy, "code_hash": self.code_hash, "duplicate_of": self.duplicate_of,
                "debug_depth": self.debug_depth, "plan": self.plan, "outcome": self.outcome,
                "error": self.error, "run_s": self.run_s}


@dataclass(frozen=True)
class TreePolicy:
    drafts: int = DEFAULT_DRAFTS
    debug_prob: float = DEFAULT_DEBUG_PROB
    max_debug_depth: int = DEFAULT_MAX_DEBUG_DEPTH
    seed: int = 0

    def check(self) -> None:
        from ..errors import ConfigError

        if not isinstance(self.drafts, int) or self.drafts < 1:
            raise ConfigError(f"--tree-drafts must be an integer of at least 1, not {self.drafts!r}")
        if not isinstance(self.debug_prob, (int, float)) or not 0.0 <= float(self.debug_prob) <= 1.0:
            raise ConfigError(f"--tree-debug-prob must be a number from 0 to 1, not {self.debug_prob!r}")
        if not isinstance(self.max_debug_depth, int) or self.max_debug_depth < 0:
            raise ConfigError(f"--tree-max-debug-depth must be a non-negative integer, not {self.max_debug_depth!r}")


class Tree:
    def __init__(self, metric: MetricSpec, policy: TreePolicy):
        self.metric = metric
        self.policy = policy
        self.nodes: list[Node] = []
        self.revalidated: list[Revalidation] = []  # the search's leading nodes run on other splits, at its end

    # ------------------------------------------------------------- queries
    def get(self, node_id: int | None) -> Node | None:
        return self.nodes[node_id - 1] if node_id is not None and 0 < node_id <= len(self.nodes) else None

    def children(self, node: Node) -> list[Node]:
        """Every node made from ``node``, duplicates included: a debug that gave back the same
        code was a try, so its parent is no longer a leaf to debug again."""
        return [n for n in self.nodes if n.parent == node.id]

    def best(self) -> Node | None:
        """The working node with the best metric; once the leading nodes were run again on
        other splits (``tree_revalidation``), the one of them with the best mean."""
        pool = [n for r in self.revalidated if (n := self.get(r.node)) is not None and n.good] or self.nodes
        best = None
        for n in pool:
            if n.good and (best is None or self.metric.better(self.score(n), self.score(best))):
                best = n
        return best

    def score(self, node: Node) -> float | None:
        """The node's mean metric over its splits when it was run again on all of them, else its metric."""
        found = next((r for r in self.revalidated if r.node == node.id), None)
        mean = found.mean if found is not None else None
        return node.metric if mean is None else mean

    def find_code(self, digest: str) -> Node | None:
        return next((n for n in self.nodes if n.code_hash == digest and n.duplicate_of is None), None)

    def depth(self, node: Node) -> int:
        d, cur = 0, node
        while cur.parent is not None and (cur := self.get(cur.parent)) is not None:
            d += 1
        return d

    def pending(self) -> Node | None:
        """A node written but not yet run (a run that died between the two steps)."""
        last = self.nodes[-1] if self.nodes else None
        return last if last is not None and not last.done else None

    # -------------------------------------------------------------- policy
    def next_parent(self, node_id: int) -> tuple[str, Node | None]:
        """The stage and parent of node ``node_id``, by the policy (see the module docstring)."""
        drafts = sum(1 for n in self.nodes if n.stage == "draft")
        if drafts < self.policy.drafts:
            return "draft", None
        first = self.nodes[0].code_hash if self.nodes else None
        rng = random.Random(f"{self.policy.seed}:{first or '-'}:{node_id}")
        if rng.random() < self.policy.debug_prob:
            candidates = [n for n in self.nodes if n.buggy and n.code is not None and n.duplicate_of is None
                          and n.debug_depth < self.policy.max_debug_depth and not self.children(n)]
            if candidates:
                return "debug", rng.choice(candidates)
        best = self.best()
        return ("improve", best) if best is not None else ("draft", None)

    def new_node(self, stage: str, parent: Node | None) -> Node:
        depth = parent.debug_depth + 1 if stage == "debug" and parent is not None else 0
        node = Node(id=len(self.nodes) + 1, stage=stage, parent=parent.id if parent else None,
                    debug_depth=depth)
        self.nodes.append(node)
        return node

    # ------------------------------------------------------------- records
    def summary(self) -> dict[str, Any]:
        best = self.best()
        counts = {s: sum(1 for n in self.nodes if n.stage == s) for s in STAGES}
        return {"metric": self.metric.name, "direction": self.metric.direction,
                "nodes": len(self.nodes), "stages": counts,
                "buggy": sum(1 for n in self.nodes if n.buggy), "good": sum(1 for n in self.nodes if n.good),
                "duplicates": sum(1 for n in self.nodes if n.duplicate_of is not None),
                "best_node": best.id if best else None, "best_metric": best.metric if best else None,
                "best_depth": self.depth(best) if best else None,
                "best_step": best.steps[-1] if best and best.steps else None,
                "policy": asdict(self.policy),
                **({"revalidation": [r.record() for r in self.revalidated],
                    "best_mean": self.score(best) if best else None} if self.revalidated else {})}

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], metric: MetricSpec, policy: TreePolicy) -> "Tree":
        """The tree as the step records left it (the last record of a node is its state)."""
        tree, records = cls(metric, policy), list(records)
        for r in records:
            data = r.get("node")
            if not isinstance(data, dict) or not isinstance(data.get("id"), int):
                continue
            node = tree.get(data["id"])
            if node is None:
                if data["id"] != len(tree.nodes) + 1:
                    from ..errors import ConfigError
                    raise ConfigError(f"The run log holds node {data['id']} where node {len(tree.nodes) + 1} "
                                      f"was expected; the tree cannot be rebuilt.")
                node = Node(id=data["id"], stage=str(data.get("stage") or "draft"))
                tree.nodes.append(node)
            for key in ("parent", "stage", "metric", "buggy", "code_hash", "duplicate_of", "debug_depth", "run_s"):
                if key in data:
                    setattr(node, key, data[key])
            for key in ("plan", "outcome", "error"):
                setattr(node, key, str(data.get(key) or ""))
            if r.get("action") == "Write File" and isinstance(r.get("action_input"), dict):
                node.code = r["action_input"].get("content")
            node.feedback = r.get("feedback")
            node.steps.append(r["step"])
        for r in records:  # the Final Answer's summary: the reruns that chose the best node
            summary = r.get("tree") if isinstance(r.get("tree"), dict) else {}
            for data in summary.get("revalidation") or []:
                node = tree.get(data["node"]) if isinstance(data, dict) and isinstance(data.get("node"), int) else None
                found = Revalidation.from_record(data, node.metric) if node is not None else None
                if found is not None:
                    tree.revalidated.append(found)
        for node in tree.nodes:  # a duplicate's code is that of the node it repeats
            if node.duplicate_of is not None and node.code is None and tree.get(node.duplicate_of):
                node.code = tree.get(node.duplicate_of).code
        return tree


def tree_nodes_from_steps(steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last ``node`` object of each node in a run's step records, in id order (for viewers)."""
    last: dict[int, dict[str, Any]] = {}
    for r in steps:
        data = r.get("node")
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            last[data["id"]] = {**data, "step": r.get("step")}
    return [last[k] for k in sorted(last)]
