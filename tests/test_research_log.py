"""The agent's research log (issue 11): owned by the agent, stored in the workspace file the
Environment hands over, read back into the prompt and summarised when long."""
from __future__ import annotations

import logging

from mlr_copilot.agents.research_log import SUMMARISED_ABOVE_CHARS, ResearchLog
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment


def make_env(tmp_path, **config) -> Environment:
    ws = tmp_path / "ws"
    ws.mkdir()
    return Environment(EnvConfig(sandbox="none", **config), workspace=ws, env_log_dir=tmp_path / "env_log")


def test_entries_go_to_the_workspace_file_and_back_into_the_prompt(tmp_path):
    env = make_env(tmp_path)
    asked = []
    log = ResearchLog(env.research_log, lambda prompt, purpose, n: asked.append(purpose) or "ran it",
                      entries="llm")
    assert log.for_prompt() == ""
    log.add_step(1, "run", "Execute Script", {"script_name": "a.py"}, "Exit code: 0", None)
    log.add_step(2, "list", "List Files", {"dir_path": "."}, "a.py", "look at the data")
    assert (env.workspace / "research_log.log").read_text() == "[Step 1] ran it\n[Step 2] ran it\n"
    assert log.for_prompt() == "Research log so far:\n[Step 1] ran it\n[Step 2] ran it\n\n"
    assert asked == ["research_log_entry", "research_log_entry"]


def test_brief_entries_need_no_model_and_a_long_log_is_summarised(tmp_path):
    env = make_env(tmp_path)
    asked = []
    log = ResearchLog(env.research_log, lambda prompt, purpose, n: asked.append(purpose) or "the summary",
                      entries="brief")
    log.add_step(1, "run", "Execute Script", {"script_name": "a.py"}, "accuracy 0.91\n" * 400, None)
    assert asked == [] and log.text().startswith("[Step 1] Execute Script")
    env.research_log.append("x" * SUMMARISED_ABOVE_CHARS)
    assert log.for_prompt() == "Research log so far:\nthe summary\n" and asked == ["summarize_research_log"]


def test_an_entry_the_task_makes_read_only_is_skipped_with_a_warning(tmp_path, caplog):
    env = make_env(tmp_path, read_only=["*.log"])
    log = ResearchLog(env.research_log, lambda *a: "never asked", entries="brief")
    with caplog.at_level(logging.WARNING):
        log.add_step(1, "", "List Files", {}, "a.py", None)
    assert not (env.workspace / "research_log.log").exists()
    assert "Research-log entry of step 1 not written" in caplog.text
