"""A real tree run with the embedded local model on digits: 4 nodes, no grammar on the code.

Slow (minutes on 2 CPU cores) and run in CI: it proves that the 1.5B model writes whole
scripts the tree can write, run and score, and that the run records its tree. Whether the
best node beats the baseline is reported, not asserted (the benchmark measures that).
"""
import json
import logging

import pytest

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.evaluation import evaluate_run
from mlr_copilot.logs import read_jsonl
from mlr_copilot.tasks import discover_tasks
from task_helpers import copy_task_tree

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)


def test_four_real_tree_nodes_on_digits_with_the_embedded_model(tmp_path):
    root = copy_task_tree(tmp_path / "project")
    result = run_experiment(RunOptions(task="digits", llm="local", max_steps=4, feedback="none", strategy="tree",
                                       root=str(root), log_root=str(tmp_path / "logs")))
    assert result.status == "final_answer", result.message
    steps = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    nodes = {r["node"]["id"]: r["node"] for r in steps if r.get("node")}
    assert sorted(nodes) == [1, 2, 3, 4]
    assert all(n["buggy"] is not None or n["duplicate_of"] is not None for n in nodes.values())
    assert steps[-1]["action"] == "Final Answer"
    calls = [c for c in read_jsonl(result.run_dir / "agent_log" / "llm_calls.jsonl") if c.get("purpose") == "tree_node"]
    # one answer per node, and a second one where the first copied earlier code or held no code
    asked = sum(r["parse_attempts"] for r in steps if r["action"] in ("Write File", "Skip Node"))
    assert len(calls) == asked and 4 <= asked <= 8 and all(c["usage"]["output_tokens"] > 0 for c in calls)
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["strategy"] == "tree" and run["tree"]["nodes"] == 4
    assert sum(run["tree"]["stages"].values()) == 4
    ev = evaluate_run(result.run_dir, discover_tasks(root))
    logger.warning("tree on digits: best node %s, metric %s, graded %s (baseline %s), success %s",
                   run["tree"]["best_node"], run["tree"]["best_metric"], ev.get("score"), ev.get("baseline"),
                   ev.get("success"))
