"""The tree of a ``--strategy tree`` run, as a table for ``mlr-copilot show``.

One row per node, from the last ``node`` object of each node in the step records: id,
parent, stage, metric, state (ok, buggy, duplicate), the steps it took, its plan; the
best node (by the run's metric and direction) is marked with a star.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich.table import Table
from rich.text import Text

from .agents.tree import tree_nodes_from_steps

PLAN_CHARS = 70


def tree_table(steps: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> Table | None:
    """The tree of a run, or None when its steps carry no nodes (an action-loop run)."""
    nodes = tree_nodes_from_steps(steps)
    if not nodes:
        return None
    summary = info.get("tree") if isinstance(info.get("tree"), Mapping) else {}
    best = summary.get("best_node")
    metric = summary.get("metric") or "metric"
    direction = summary.get("direction")
    means = {r["node"]: r["mean"] for r in summary.get("revalidation") or []
             if isinstance(r, Mapping) and isinstance(r.get("mean"), (int, float))}
    title = f"Solution tree: {len(nodes)} nodes, validation {metric}" + (f" ({direction} is better)"
                                                                         if direction else "")
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("node", "parent", "stage", metric, "state", "steps", "plan"):
        table.add_column(column, no_wrap=column != "plan")
    steps_of: dict[int, list[str]] = {}
    for r in steps:
        data = r.get("node")
        if isinstance(data, Mapping) and isinstance(data.get("id"), int):
            steps_of.setdefault(data["id"], []).append(str(r.get("step")))
    for n in nodes:
        if n.get("duplicate_of") is not None:
            state = f"same as {n['duplicate_of']}"
        elif n.get("buggy"):
            state = "buggy"
        elif n.get("buggy") is False:
            state = "ok"
        else:
            state = "not run"
        value = n.get("metric")
        shown = f"{value:.6g}" if isinstance(value, (int, float)) else "-"
        if n["id"] in means:
            shown += f" (mean {means[n['id']]:.6g})"
        plan = str(n.get("plan") or "")
        plan = plan if len(plan) <= PLAN_CHARS else plan[:PLAN_CHARS - 1] + "…"
        mark = "★ " if n["id"] == best else "  "
        style = "bold green" if n["id"] == best else ("red" if state == "buggy" else "")
        table.add_row(Text(f"{mark}{n['id']}", style=style), str(n.get("parent") or "-"), str(n.get("stage")),
                      Text(shown, style=style), state, ",".join(steps_of.get(n["id"], [])), Text(plan))
    return table
