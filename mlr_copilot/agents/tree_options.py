"""The options of the tree strategy: their checks, the time limit of one node, and the agent
a run's options make."""
from __future__ import annotations

from ..config import MIN_NODE_TIMEOUT_S, NODE_TIMEOUT_STARTER_FACTOR
from ..feedback import FeedbackChannel
from ..llm.base import Models
from .experiment import AgentState
from .tree import TreePolicy
from .tree_search import TreeAgent


def node_time_limit(options, task) -> float:
    """Seconds one node's script may run: ``--tree-node-timeout``, else
    ``NODE_TIMEOUT_STARTER_FACTOR`` times the starter's run time measured by prepare (at least
    ``MIN_NODE_TIMEOUT_S``), never more than ``--script-timeout``."""
    limit = float(options.script_timeout_s)
    if options.tree_node_timeout_s is not None:
        return min(limit, float(options.tree_node_timeout_s))
    runtime = getattr(task, "baseline_runtime_s", None)
    if runtime:
        return min(limit, max(MIN_NODE_TIMEOUT_S, NODE_TIMEOUT_STARTER_FACTOR * runtime))
    return limit


def check_tree_options(options) -> None:
    """ConfigError for tree options out of range (before any run directory exists)."""
    TreePolicy(drafts=options.tree_drafts, debug_prob=options.tree_debug_prob,
               max_debug_depth=options.tree_max_debug_depth).check()


def make_tree_agent(env, models: Models, problem: str, task, options, *, feedback: FeedbackChannel,
                    recorder, state: AgentState | None) -> TreeAgent:
    """The tree agent of a run (``state`` given: a resume, the tree is rebuilt from the log)."""
    from .metric import metric_spec_for

    policy = TreePolicy(drafts=options.tree_drafts, debug_prob=options.tree_debug_prob,
                        max_debug_depth=options.tree_max_debug_depth)
    records = recorder.steps() if state is not None else []
    checked = task.submission if options.tree_prediction_check else None
    return TreeAgent(env, models, problem, script=task.script, submission=checked,
                     metric=metric_spec_for(task, problem), policy=policy, feedback=feedback, recorder=recorder,
                     max_nodes=options.max_steps, state=state, records=records,
                     node_timeout_s=node_time_limit(options, task), revalidate_splits=options.tree_revalidate_splits)
