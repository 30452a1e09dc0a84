"""Prompt caching with the real SDKs against fake servers that emulate the providers' caches.

Checks where the Anthropic requests carry cache breakpoints (and that none are sent with
prompt caching off), that the fake cache reports a write on the first call and reads
afterwards as the real API does for a repeated prefix, and that each call's cost follows
the price table, cache reads and writes included.
"""
from __future__ import annotations

import json

import pytest

from fakes.llm_servers import FakeLLMServer, Reply
from fakes.prompt_caches import (AnthropicPromptCache, OpenAIPromptCache, anthropic_cached_text,
                                 openai_cached_text)
from fakes.wires import AnthropicWire, OpenAIWire
from mlr_copilot.llm.base import Usage, stable
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.pricing import find_price
from mlr_copilot.llm.prompt_cache import MAX_BREAKPOINTS
from mlr_copilot.logs import JsonlWriter, read_jsonl

RULES = "You are a careful ML research agent. Tools: List Files, Execute Script, ... " * 80  # ~6,000 chars
SHORT = "You are a careful ML research agent."


def anthropic_client(server, tmp_path, *, model="claude-sonnet-4-6", prompt_cache=True):
    from mlr_copilot.llm.anthropic import AnthropicBackend

    backend = AnthropicBackend(model, api_key=AnthropicWire.key, base_url=server.url, timeout_s=5.0,
                               prompt_cache=prompt_cache)
    return LLMClient(backend, budget=Budget(), call_log=JsonlWriter(tmp_path / "calls.jsonl", fsync=False))


def cache_marks(body: dict) -> list[str]:
    """Where a request carries cache_control: 'system' or 'message <i>'."""
    marks = []
    if isinstance(body.get("system"), list):
        marks += ["system" for b in body["system"] if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        if isinstance(m["content"], list):
            marks += [f"message {i}" for b in m["content"] if "cache_control" in b]
    return marks


@pytest.fixture
def anthropic():
    cache = AnthropicPromptCache()
    with FakeLLMServer(default=Reply(body=anthropic_cached_text(cache, "Thought: ok"))) as server:
        yield server


def test_stable_system_prompt_is_written_once_then_read(anthropic, tmp_path):
    client = anthropic_client(anthropic, tmp_path)
    completions = [client.complete([{"role": "system", "content": RULES},
                                    {"role": "user", "content": f"Step {i}: history differs " * (i + 1)}])
                   for i in range(3)]
    assert [cache_marks(r.body) for r in anthropic.requests] == [["system"]] * 3
    assert len({json.dumps(r.body["system"]) for r in anthropic.requests}) == 1  # byte-identical
    first, second, third = (c.usage for c in completions)
    assert first.cache_write_tokens == len(RULES) // 4 and first.cached_tokens == 0
    assert second.cached_tokens == third.cached_tokens == len(RULES) // 4
    assert second.cache_write_tokens == third.cache_write_tokens == 0
    # cost per call follows the table: fresh at input, reads at 0.1 x, writes at 1.25 x
    price = find_price("claude-sonnet-4-6")
    assert (price.cache_read, price.cache_write) == (pytest.approx(0.30), pytest.approx(3.75))
    for c in completions:
        u = c.usage
        fresh = u.input_tokens - u.cached_tokens - u.cache_write_tokens
        expected = (fresh * 3.0 + u.cached_tokens * 0.30 + u.cache_write_tokens * 3.75
                    + u.output_tokens * 15.0) / 1e6
        assert c.cost_usd == pytest.approx(expected)
    assert completions[1].cost_usd < completions[0].cost_usd
    logged = read_jsonl(tmp_path / "calls.jsonl")
    assert [r["usage"]["cache_write_tokens"] for r in logged] == [len(RULES) // 4, 0, 0]
    assert [r["cost_usd"] for r in logged] == [pytest.approx(c.cost_usd) for c in completions]


def test_no_prompt_cache_sends_no_breakpoint_and_pays_full_price(anthropic, tmp_path):
    client = anthropic_client(anthropic, tmp_path, prompt_cache=False)
    for i in range(2):
        c = client.complete([{"role": "system", "content": RULES}, stable({"role": "user", "content": "go"})])
        assert c.usage.cached_tokens == c.usage.cache_write_tokens == 0
    assert "cache_control" not in json.dumps([r.body for r in anthropic.requests])
    assert anthropic.requests[0].body["system"] == RULES  # the plain form, as without caching


def test_prefix_below_the_models_minimum_gets_no_breakpoint(anthropic, tmp_path):
    anthropic_client(anthropic, tmp_path).complete([{"role": "system", "content": SHORT},
                                                    {"role": "user", "content": "go"}])
    # Haiku 4.5 caches only from 4,096 tokens: RULES (about 2,000) is not worth a mark
    anthropic_client(anthropic, tmp_path, model="claude-haiku-4-5").complete(
        [{"role": "system", "content": RULES}, {"role": "user", "content": "go"}])
    assert [cache_marks(r.body) for r in anthropic.requests] == [[], []]
    assert anthropic.requests[0].body["system"] == SHORT


def test_paper_prompt_marked_stable_is_read_back_on_a_corrective_retry(anthropic, tmp_path):
    client = anthropic_client(anthropic, tmp_path)
    paper = stable({"role": "user", "content": "--- paper ---\n" + "A study of tiny models. " * 400})
    first = client.complete([{"role": "system", "content": SHORT}, paper])
    retry = client.complete([{"role": "system", "content": SHORT}, paper,
                             {"role": "assistant", "content": "Research Tasks: ..."},
                             {"role": "user", "content": "Your answer missed Keywords; answer again."}])
    assert [cache_marks(r.body) for r in anthropic.requests] == [["message 0"], ["message 0"]]
    assert first.usage.cache_write_tokens > 2000 and retry.usage.cached_tokens == first.usage.cache_write_tokens
    assert anthropic.requests[1].body["messages"][1] == {"role": "assistant", "content": "Research Tasks: ..."}


def test_at_most_four_breakpoints_and_merged_turns_keep_their_text(anthropic, tmp_path):
    parts = [stable({"role": "user", "content": f"Document {i}: " + "words " * 900}) for i in range(6)]
    client = anthropic_client(anthropic, tmp_path)
    client.complete([{"role": "system", "content": RULES}, *parts, {"role": "user", "content": "question"}])
    body = anthropic.requests[0].body
    assert len(cache_marks(body)) == MAX_BREAKPOINTS
    (turn,) = body["messages"]  # consecutive user messages are one turn, split in blocks
    assert "\n\n".join(b["text"] for b in turn["content"]) == "\n\n".join(
        [m["content"] for m in parts] + ["question"])


def test_openai_prefix_is_sent_unchanged_and_cached_tokens_are_priced(tmp_path):
    cache = OpenAIPromptCache()
    with FakeLLMServer(default=Reply(body=openai_cached_text(cache, "Thought: ok"))) as server:
        client = LLMClient(OpenAIWire().backend(server), budget=Budget())
        out = [client.complete([{"role": "system", "content": RULES}, stable({"role": "user", "content": f"step {i}"})])
               for i in range(2)]
    assert server.requests[0].body["messages"][1] == {"role": "user", "content": "step 0"}  # no mark sent
    assert out[0].usage.cached_tokens == 0 and out[1].usage.cached_tokens >= 1024
    u = out[1].usage
    assert out[1].cost_usd == pytest.approx(((u.input_tokens - u.cached_tokens) * 2.50 + u.cached_tokens * 1.25
                                             + u.output_tokens * 10.0) / 1e6)


def test_unknown_model_cost_is_unknown_not_zero(anthropic, tmp_path):
    client = anthropic_client(anthropic, tmp_path, model="claude-future-9")
    c = client.complete([{"role": "user", "content": "go"}])
    assert c.cost_usd is None
    summary = client.budget.summary()
    assert summary["cost_usd"] is None and summary["unpriced_calls"] == 1
    assert read_jsonl(tmp_path / "calls.jsonl")[0]["cost_usd"] is None


def test_budget_tallies_each_step_with_its_cache_share(anthropic, tmp_path):
    client = anthropic_client(anthropic, tmp_path)
    for step in (1, 2):
        client.step = step
        client.complete([{"role": "system", "content": RULES}, {"role": "user", "content": "go"}])
    first, second = client.budget.step_figures(1), client.budget.step_figures(2)
    assert first["calls"] == second["calls"] == 1
    assert first["cache_read_share"] == 0 and second["cache_read_share"] > 0.9
    assert second["cost_usd"] < first["cost_usd"]
    assert client.budget.step_figures(3) is None
    assert Usage(10, 1, 2, 3) + Usage(1, 1, 1, 1) == Usage(11, 2, 3, 4)
