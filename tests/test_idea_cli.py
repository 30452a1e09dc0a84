"""`mlr-copilot idea` end to end: the real CLI, the real OpenAI SDK, a fake server on 127.0.0.1."""
from __future__ import annotations

import json

from fakes import idea_answers as A
from fakes.llm_servers import FakeLLMServer, openai_text
from fakes.minipdf import make_pdf
from fakes.wires import FAKE_OPENAI_KEY
from mlr_copilot.cli import main
from mlr_copilot.logs import read_jsonl


def _project(tmp_path):
    (tmp_path / "paper.pdf").write_bytes(make_pdf(["Shifted Digits", "Abstract", "Shifts help tiny images.",
                                                   "1 Introduction", "Digits move by a pixel."]))
    (tmp_path / "workspaces" / "digits").mkdir(parents=True)
    (tmp_path / "workspaces" / "digits" / "train.py").write_text("print('submission.csv')\n")
    return tmp_path


def _argv(tmp_path, server, *extra):
    return ["idea", str(tmp_path / "paper.pdf"), "--task", "digits", "--llm", "openai:test-model",
            "--llm-base-url", server.url + "/v1", "--yes", "--offline", "--root", str(tmp_path),
            "--log-root", str(tmp_path / "logs"), *extra]


def test_idea_command_writes_the_problem_and_accounts_every_call(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.chdir(tmp_path)
    project = _project(tmp_path)
    with FakeLLMServer() as server:
        server.queue(*[openai_text(a, prompt_tokens=100, completion_tokens=20) for a in A.full_run()])
        assert main(_argv(project, server)) == 0
        assert [r.body["model"] for r in server.requests] == ["test-model"] * 5
    out = capsys.readouterr().out
    assert f"Research problem written to {project / 'problems' / 'digits'}" in out
    assert "LLM calls: 5, tokens: 500 in / 100 out" in out
    assert "Does adding one-pixel shifted copies" in (project / "problems" / "digits").read_text()
    assert json.loads((project / "problems" / "digits.idea.json").read_text())["task"] == "digits"
    run_dir = next((project / "logs" / "digits").iterdir())
    calls = read_jsonl(run_dir / "agent_log" / "llm_calls.jsonl")
    assert len(calls) == 5 and {c.get("purpose") for c in calls} >= {"idea_understanding", "idea_review"}
    assert (run_dir / "idea_log.jsonl").exists()


def test_idea_command_refuses_to_overwrite_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.chdir(tmp_path)
    project = _project(tmp_path)
    (project / "problems").mkdir()
    (project / "problems" / "digits").write_text("hand-written task\n")
    with FakeLLMServer() as server:
        assert main(_argv(project, server)) == 1
        assert server.requests == []
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (project / "problems" / "digits").read_text() == "hand-written task\n"
