"""A whole experiment run with Claude's SDK against the fake server and its prompt cache.

The agent's stable system prompt must be byte-identical in every step request, also after
a resume, so the cache written at step 1 is read at every later step; the step records,
run.json and ``show`` carry the cost per step and the share of input served from cache.
"""
from __future__ import annotations

import io
import json

from rich.console import Console

from fakes.hosted_run import TEN_STEPS, Script, anthropic_server, make_project
from mlr_copilot.agents.resume import resume_run
from mlr_copilot.agents.runner import RunOptions, run_experiment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.logs import read_jsonl
from mlr_copilot.show import render_run


def options(root, server, **kw) -> RunOptions:
    return RunOptions(task="toy", root=str(root), log_root=str(root / "logs"), sandbox="none", feedback="none",
                      llm="claude", llm_base_url=server.url, **kw)


def step_requests(server) -> list[dict]:
    return [r.body for r in server.requests if r.body.get("system")]


def test_cached_prefix_is_identical_across_steps_and_a_resume(tmp_path, monkeypatch):
    for var in ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "ANTHROPIC_BASE_URL", "MLR_CLAUDE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    root = make_project(tmp_path)
    server, _ = anthropic_server(Script(TEN_STEPS[:5] + TEN_STEPS[-1:], fail_at=4))
    with server:
        first = run_experiment(options(root, server, max_steps=6), feedback=NoFeedback())
        assert first.status == "llm_error", first.message
        resumed = resume_run(first.run_dir, feedback_mode="none")
    assert resumed.status == "final_answer", resumed.message

    steps = step_requests(server)
    assert len(steps) == 7  # steps 1-3, the failed request, steps 4-6 after the resume
    systems = {json.dumps(b["system"]) for b in steps}
    assert len(systems) == 1 and '"cache_control"' in systems.pop()
    assert all("cache_control" not in json.dumps(b["messages"]) for b in steps)  # history is not marked

    records = [r for r in read_jsonl(first.run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    llm = [r["llm"] for r in records]
    assert llm[0]["cache_write_tokens"] > 1024 and llm[0]["cached_tokens"] == 0
    assert all(f["cached_tokens"] >= llm[0]["cache_write_tokens"] for f in llm[1:])  # resume included
    assert all(f["cost_usd"] is not None and f["calls"] >= 2 for f in llm[:-1])  # step + research-log entry
    assert llm[1]["cost_usd"] < llm[0]["cost_usd"]

    totals = json.loads((first.run_dir / "run.json").read_text())["totals"]
    assert 0.3 < totals["cache_read_share"] < 1 and totals["cost_usd"] > 0
    assert totals["cache_write_tokens"] == llm[0]["cache_write_tokens"]

    out = io.StringIO()
    render_run(first.run_dir, console=Console(file=out, width=200))
    text = out.getvalue()
    assert "of input from the prompt cache" in text and text.count("LLM calls, ") == 6


def test_no_prompt_cache_run_sends_no_breakpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    root = make_project(tmp_path)
    server, _ = anthropic_server(Script(TEN_STEPS[-1:]))
    with server:
        result = run_experiment(options(root, server, max_steps=2, prompt_cache=False), feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    assert server.requests and all("cache_control" not in json.dumps(r.body) for r in server.requests)
    totals = json.loads((result.run_dir / "run.json").read_text())["totals"]
    assert totals["cached_tokens"] == totals["cache_write_tokens"] == 0 and totals["cache_read_share"] == 0


def test_run_summary_line_names_cost_per_step_and_cache_share(tmp_path):
    from mlr_copilot.view.result import llm_summary

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"totals": {
        "steps": 4, "llm_calls": 8, "input_tokens": 20000, "output_tokens": 900, "cached_tokens": 12000,
        "cache_read_share": 0.6, "cost_usd": 0.02, "unpriced_calls": 0}}))
    assert llm_summary(run) == ("LLM: 8 LLM calls · 20,000 in / 900 out tokens · $0.0200 · $0.0050 per step · "
                                "60% of input from the prompt cache")
    (run / "run.json").write_text(json.dumps({"totals": {
        "steps": 4, "llm_calls": 8, "input_tokens": 20000, "output_tokens": 900, "cost_usd": None,
        "unpriced_calls": 8}}))
    assert "cost unknown (8 call(s) without a known price)" in llm_summary(run)
    assert "$" not in llm_summary(run)
