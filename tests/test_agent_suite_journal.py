"""The agent suite's journal: a suite cut short goes on with --resume, with the same settings
and the same code, counting the runs it had finished."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("agent_suite", REPO / "benchmarks" / "agent_suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

SETTINGS = {"tasks": "digits,wine", "llm": "local", "llm_base_url": None, "max_steps": 10, "prompt_style": None,
            "sandbox": "auto", "actions_remove": "", "strategy": "loop,tree", "tree_drafts": 3,
            "tree_debug_prob": 0.5, "tree_max_debug_depth": 3, "tree_node_timeout_s": None, "serve_embedded": False}


def test_a_resumed_suite_knows_the_runs_it_finished(tmp_path):
    journal = suite.Journal.open(tmp_path, SETTINGS, "abc123", resume=False)
    journal.add(1, "loop", "digits", tmp_path / "digits" / "run1", 236.04)
    journal.add(1, "tree", "digits", tmp_path / "digits" / "run2", 860.0)
    again = suite.Journal.open(tmp_path, SETTINGS, "abc123", resume=True)
    assert set(again.done) == {(1, "loop", "digits"), (1, "tree", "digits")}
    assert again.done[(1, "loop", "digits")]["wall_s"] == 236.0
    assert again.done[(1, "tree", "digits")]["run_dir"].endswith("run2")


def test_resume_refuses_other_settings_another_commit_or_no_journal(tmp_path):
    suite.Journal.open(tmp_path, SETTINGS, "abc123", resume=False)
    with pytest.raises(SystemExit, match="--max-steps was 10, now 5"):
        suite.Journal.open(tmp_path, {**SETTINGS, "max_steps": 5}, "abc123", resume=True)
    with pytest.raises(SystemExit, match="measured commit abc123.*git worktree add DIR abc123"):
        suite.Journal.open(tmp_path, SETTINGS, "def456+changes", resume=True)
    with pytest.raises(SystemExit, match="already holds a suite"):
        suite.Journal.open(tmp_path, SETTINGS, "abc123", resume=False)  # never overwrites a journal
    with pytest.raises(SystemExit, match="holds no suite journal"):
        suite.Journal.open(tmp_path / "elsewhere", SETTINGS, "abc123", resume=True)


def test_resume_needs_the_log_root():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "agent_suite.py"), "--resume"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "--resume: give the --log-root" in proc.stderr
