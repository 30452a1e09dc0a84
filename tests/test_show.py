"""`show`: a readable account of our runs and of original MLR-Copilot logs."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from mlr_copilot.errors import ConfigError
from mlr_copilot.logs import JsonlWriter, write_json_atomic
from mlr_copilot.show import render_run

FIXTURE = (Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mlr-copilot-logs"
           / "feedback-2024-08-06T01-17-04")


def _render(path, **kwargs) -> tuple[int, str]:
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    n = render_run(path, console=console, **kwargs)
    return n, console.export_text()


def _make_run(root: Path, observation: str = "train.py\ndata.csv") -> Path:
    run = root / "logs" / "demo" / "20250101-120000"
    writer = JsonlWriter(run / "agent_log" / "full_log.jsonl")
    writer.write({"type": "run_start", "step": 0, "schema_version": 1, "task": "demo"})
    base = {"type": "step", "timestamp": "2025-01-01T12:00:05Z", "start_time": "2025-01-01T12:00:00Z",
            "prompt": "...", "response": "...", "full_observation_path": None, "parse_attempts": 1,
            "usage": {"model": "claude-3-5-sonnet", "input_tokens": 1234, "output_tokens": 56,
                      "cached_tokens": 0, "cost_usd": 0.0123, "latency_s": 2.5}}
    writer.write({**base, "step": 1, "duration_s": 5.0,
                  "entries": {"Reflection": "Nothing yet.", "Thought": "Look at the files [first]."},
                  "action": "List Files", "action_input": {"dir_path": "."},
                  "observation": observation, "full_observation": observation, "feedback": "check data.csv"})
    writer.write({**base, "step": 2, "duration_s": 7.25, "parse_attempts": 3,
                  "entries": {"Thought": "Done."}, "action": "Final Answer",
                  "action_input": {"final_answer": "Baseline MCRMSE 0.61"},
                  "observation": "", "full_observation": "", "feedback": None})
    write_json_atomic(run / "run.json", {
        "schema_version": 1, "task": "demo", "llm": {"main": "claude", "fast": "claude-haiku"},
        "mlr_copilot_version": "0.1.0", "mlr_copilot_commit": "0123456789abcdef0123+changes",
        "resumes": [{"from_step": 1, "mlr_copilot_commit": "fedcba9876543210fedc"}],
        "status": "final_answer", "message": "The agent gave a Final Answer.",
        "start": "2025-01-01T12:00:00Z", "end": "2025-01-01T12:00:20Z", "final_answer": "Baseline MCRMSE 0.61",
        "totals": {"steps": 2, "llm_calls": 4, "input_tokens": 2468, "output_tokens": 112,
                   "cached_tokens": 0, "cost_usd": 0.0246, "wall_time_s": 20.0}})
    return run


def test_renders_our_run_step_by_step(tmp_path):
    n, out = _render(_make_run(tmp_path))
    assert n == 2
    for expected in ("Task", "demo", "main=claude, fast=claude-haiku",
                     "mlr-copilot 0.1.0 at 0123456789ab+changes (resumed at fedcba987654)", "final_answer: The agent gave a Final Answer.",
                     "2 steps · 4 LLM calls · 2,468 in / 112 out tokens · $0.0246 · 20 s",
                     "Step 1 · List Files", "Thought: Look at the files [first].", "Action: List Files", "dir_path: .",
                     "train.py", "Human feedback: check data.csv",
                     "claude-3-5-sonnet · 1,234 in / 56 out tokens · $0.0123 · LLM 2.5 s",
                     "Step 2 · Final Answer", "3 attempts to parse the response", "Final answer",
                     "Baseline MCRMSE 0.61"):
        assert expected in out, expected
    assert out.index("Step 1") < out.index("Step 2")
    assert "Reflection" not in out  # narrative entries only on request
    assert "Reflection: Nothing yet." in _render(_make_run(tmp_path / "b"), entries=True)[1]


def test_observation_is_cut_to_its_head(tmp_path):
    long = "line\n" * 50 + "THE END"
    _, out = _render(_make_run(tmp_path, observation=long), max_observation_chars=100)
    assert "THE END" not in out
    assert f"[{len(long) - 100} more characters]" in out
    _, full = _render(_make_run(tmp_path / "b", observation=long), max_observation_chars=0)
    assert "THE END" in full


def test_log_text_is_never_read_as_markup(tmp_path):
    nasty = "[bold red]not bold[/bold red] [/] [link=file:///etc]x[/link] [unclosed"
    _, out = _render(_make_run(tmp_path, observation=nasty))
    assert nasty in out


def test_run_without_steps_says_so(tmp_path):
    run = tmp_path / "run"
    JsonlWriter(run / "agent_log" / "full_log.jsonl").write({"type": "run_start", "step": 0, "schema_version": 1,
                                                            "task": "t", "status": "running"})
    n, out = _render(run)
    assert n == 0 and "No step was recorded" in out and "running" in out


def test_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        render_run(tmp_path / "missing", console=Console(file=io.StringIO()))


def test_renders_the_recorded_original_run():
    if not FIXTURE.is_dir():
        pytest.skip(f"recorded MLR-Copilot logs not available ({FIXTURE} is absent)")
    n, out = _render(FIXTURE / "full_log.json")
    assert n == 17
    assert "original MLR-Copilot log" in out and "feedback" in out
    assert "Step 1 · Understand File" in out and "Step 17 · Edit Script Segment (AI)" in out
    assert "file_name:          data_description.txt" in out
    assert "things_to_look_for: Information about the dataset" in out
    assert "Human feedback: use the DistilBERT model instead for better efficiency" in out
    assert "ELLIPSE corpus" in out  # an observation head
    assert "more characters]" in out  # long observations are cut
    assert "2 attempts to parse the response" in out  # the retry recorded in step 1's prompt


def test_renders_an_imported_original_run_the_same_way(tmp_path):
    if not FIXTURE.is_dir():
        pytest.skip(f"recorded MLR-Copilot logs not available ({FIXTURE} is absent)")
    from mlr_copilot.log_import import import_original_log
    out_dir = import_original_log(FIXTURE, tmp_path / "imported")
    n, out = _render(out_dir)
    assert n == 17
    assert "imported" in out and "Step 17 · Edit Script Segment (AI)" in out
