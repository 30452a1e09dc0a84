"""replay:<run log dir> reproduces a recorded run's answers and reports divergence."""
from __future__ import annotations

import pytest

from mlr_copilot.errors import ConfigError, LLMContextTooLongError, ReplayDivergedError
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.registry import build_models
from mlr_copilot.llm.replay import ReplayLLM, find_call_log
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import JsonlWriter


def ask(text):
    return [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": text}]


@pytest.fixture
def run_dir(tmp_path):
    """A finished run: agent steps, an edit call and a context-too-long failure, recorded."""
    run = tmp_path / "logs" / "task" / "20250101_000000"
    writer = JsonlWriter(run / "agent_log" / "llm_calls.jsonl", fsync=False)
    budget = Budget()
    main = LLMClient(ScriptedLLM(["step one", LLMContextTooLongError("prompt is too long"),
                                  "step two (shorter prompt)"], model="claude-sonnet-4-6"),
                     call_log=writer, budget=budget, role="main")
    edit = LLMClient(ScriptedLLM(["def train(): ..."], model="claude-sonnet-4-6"),
                     call_log=writer, budget=budget, role="edit")
    main.complete(ask("step 1"))
    edit.complete(ask("edit train.py"), purpose="edit")
    with pytest.raises(LLMContextTooLongError):
        main.complete(ask("step 2 with a huge history"))
    main.complete(ask("step 2"))
    return run


def test_replay_serves_recorded_answers_in_order_without_a_model(run_dir, tmp_path):
    waits: list[float] = []
    models = build_models(f"replay:{run_dir}", env={}, sleep=waits.append,
                          call_log=JsonlWriter(tmp_path / "new_calls.jsonl", fsync=False))
    assert models.main.complete(ask("step 1")).text == "step one"
    # the edit call may come in another order relative to the agent's: queues are per purpose
    with pytest.raises(LLMContextTooLongError, match="replayed"):
        models.main.complete(ask("step 2 with a huge history"))
    assert waits == []  # a replayed failure is not retried
    assert models.main.complete(ask("step 2")).text == "step two (shorter prompt)"
    assert models.edit.complete(ask("edit train.py"), purpose="edit").text == "def train(): ..."
    assert models.main.complete  # all three roles share one recording
    assert models.main.backend is models.edit.backend is models.fast.backend
    assert models.main.backend.remaining == {}


def test_divergent_request_is_reported_with_where_it_differs(run_dir):
    replay = ReplayLLM(run_dir)
    with pytest.raises(ReplayDivergedError) as info:
        replay.complete(ask("step 1, but different"))
    msg = str(info.value)
    assert "'agent' call 1" in msg and "message 1 (user) differs at character 6" in msg


def test_running_past_the_recording_is_reported(run_dir):
    replay = ReplayLLM(run_dir)
    replay.complete(ask("edit train.py"), purpose="edit")
    with pytest.raises(ReplayDivergedError, match="holds only 1 such calls"):
        replay.complete(ask("edit again"), purpose="edit")
    with pytest.raises(ReplayDivergedError, match="holds only 0 such calls"):
        replay.complete(ask("x"), purpose="summarize")


def test_call_log_is_found_from_run_dir_agent_log_or_file(run_dir):
    f = run_dir / "agent_log" / "llm_calls.jsonl"
    assert find_call_log(run_dir) == find_call_log(run_dir / "agent_log") == find_call_log(f) == f


def test_missing_or_empty_recording_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no llm_calls.jsonl"):
        build_models(f"replay:{tmp_path}", env={})
    (tmp_path / "llm_calls.jsonl").write_text("")
    with pytest.raises(ConfigError, match="holds no recorded LLM calls"):
        ReplayLLM(tmp_path)


def test_interrupted_recording_ends_replay_clearly(tmp_path):
    writer = JsonlWriter(tmp_path / "llm_calls.jsonl", fsync=False)
    c = LLMClient(ScriptedLLM(["a", KeyboardInterrupt()]), call_log=writer)
    c.complete(ask("1"))
    with pytest.raises(KeyboardInterrupt):
        c.complete(ask("2"))
    replay = ReplayLLM(tmp_path)
    assert replay.complete(ask("1")).text == "a"
    with pytest.raises(ReplayDivergedError, match="original run stopped with KeyboardInterrupt"):
        replay.complete(ask("2"))
