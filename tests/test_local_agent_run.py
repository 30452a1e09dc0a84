"""A real run of the ExperimentAgent with the embedded local model on an offline task.

Slow (minutes on 2 CPU cores) and run in CI: it proves that the default, key-free setup
really works end to end — the grammar keeps every response parseable, actions execute in
the sandbox, and the logs are complete.
"""
import json

import pytest

from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.logs import read_jsonl
from task_helpers import copy_task_tree

pytestmark = pytest.mark.slow


def test_three_real_steps_on_digits_with_the_embedded_model(tmp_path):
    root = copy_task_tree(tmp_path / "project")
    # Understand File on a CSV makes the 1.5B model read ~10k tokens (minutes on 2 cores), and the
    # Hub retrievals need a network: leave them out so the test's length does not depend on luck.
    result = run_experiment(RunOptions(task="digits", llm="local", max_steps=3, feedback="none",
                                       root=str(root), log_root=str(tmp_path / "logs"),
                                       actions_remove=("Understand File", "Retrieve Model", "Retrieve Dataset")))
    assert result.status in ("step_limit", "final_answer"), result.message
    records = read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl")
    steps = [r for r in records if r["type"] == "step"]
    assert len(steps) == 3 or result.status == "final_answer"
    for s in steps:
        assert s["action"] and isinstance(s["action_input"], dict)
        assert s["parse_attempts"] == 1, s["parse_errors"]  # the grammar makes every response parse
        assert s["observation"] and s["usage"]["model"].startswith("local:")
        assert not s["observation"].startswith("EnvError: The Action Input")  # arguments were valid
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["totals"]["steps"] == len(steps) and run["totals"]["input_tokens"] > 0
    calls = read_jsonl(result.run_dir / "agent_log" / "llm_calls.jsonl")
    assert sum(1 for c in calls if c.get("purpose") == "agent_step") >= len(steps)
    # The second agent step reused the shared prompt prefix instead of re-reading it.
    agent_calls = [c for c in calls if c.get("purpose") == "agent_step"]
    assert agent_calls[1]["usage"]["cached_tokens"] > 1000
