"""LLMClient around a ScriptedLLM: budgets, retries, call log, scrubbing, cost."""
from __future__ import annotations

import pytest

from mlr_copilot.errors import (BudgetExceededError, ConfigError, LLMAuthError,
                                LLMEmptyResponseError, LLMRateLimitError, LLMServerError,
                                RunStopped)
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.client import MAX_RETRY_AFTER_S, Budget, LLMClient, set_step
from mlr_copilot.llm.pricing import Price
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import JsonlWriter, read_jsonl

PROMPT = [{"role": "user", "content": "x" * 400}]  # ScriptedLLM counts 100 input tokens


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "agent_log" / "llm_calls.jsonl"


def client(llm, log_path=None, **kw):
    kw.setdefault("sleep", lambda s: None)
    return LLMClient(llm, call_log=JsonlWriter(log_path, fsync=False) if log_path else None, **kw)


def test_call_budget_is_shared_across_roles_and_stops_cleanly(log_path):
    budget = Budget(max_llm_calls=2)
    main_llm, fast_llm = ScriptedLLM(["a", "b"]), ScriptedLLM(["c", "d"])
    main = client(main_llm, log_path, budget=budget, role="main")
    fast = client(fast_llm, log_path, budget=budget, role="fast")
    main.complete(PROMPT)
    fast.complete(PROMPT)
    with pytest.raises(BudgetExceededError) as info:
        main.complete(PROMPT)
    assert isinstance(info.value, RunStopped) and info.value.status == "budget"
    assert "--max-llm-calls is 2" in str(info.value)
    assert main_llm.remaining == 1  # the refused call never reached the model
    assert [r["role"] for r in read_jsonl(log_path)] == ["main", "fast"]


def test_cost_budget_lets_the_crossing_call_finish_then_stops():
    budget = Budget(max_cost_usd=0.5)
    c = client(ScriptedLLM(["a", "b", "c"]), budget=budget, price=Price(2000.0, 0.0, None))
    assert c.complete(PROMPT).cost_usd == pytest.approx(0.2)   # 100 tokens at $2000/M
    c.complete(PROMPT)
    c.complete(PROMPT)                                         # $0.6 now: over budget
    with pytest.raises(BudgetExceededError, match=r"\$0.6000 spent, --max-cost is \$0.50"):
        c.complete(PROMPT)
    assert budget.summary()["calls"] == 3


def test_budget_rejects_nonsense_limits():
    with pytest.raises(ConfigError):
        Budget(max_cost_usd=-1)
    with pytest.raises(ConfigError):
        Budget(max_llm_calls=2.5)


def test_call_log_line_has_everything_a_researcher_needs(log_path):
    c = client(ScriptedLLM(["Action: Final Answer"], model="scripted-x"), log_path,
               role="fast", price=Price(1.0, 2.0))
    models = Models(main=c, fast=c, edit=c)
    set_step(models, 4)
    c.complete(PROMPT, max_tokens=50, temperature=0.2, stop=["Observation:"], purpose="summarize")
    (rec,) = read_jsonl(log_path)
    assert rec["type"] == "llm_call" and rec["step"] == 4 and rec["timestamp"].endswith("Z")
    assert rec["purpose"] == "summarize" and rec["role"] == "fast" and rec["model"] == "scripted-x"
    assert rec["messages"] == PROMPT and len(rec["messages_sha256"]) == 64
    assert rec["params"] == {"max_tokens": 50, "temperature": 0.2, "stop": ["Observation:"]}
    assert rec["completion"] == "Action: Final Answer"
    assert rec["usage"] == {"input_tokens": 100, "output_tokens": 5, "cached_tokens": 0, "cache_write_tokens": 0}
    assert rec["cost_usd"] == pytest.approx((100 * 1.0 + 5 * 2.0) / 1e6)
    assert rec["attempts"] == 1 and rec["cached"] is False and rec["error"] is None
    assert rec["latency_s"] >= 0 and rec["elapsed_s"] >= 0


def test_secrets_are_scrubbed_from_the_log_but_not_from_the_answer(log_path):
    secret = "hf_abcdefghijklmnopqrstuvwx"
    c = client(ScriptedLLM([f"I found the token {secret} in .env"]), log_path, secrets=[secret])
    answer = c.complete([{"role": "user", "content": f"cat .env -> HF_TOKEN={secret}"}])
    assert secret in answer.text
    text = log_path.read_text()
    assert secret not in text and text.count("[REDACTED]") == 2


def test_key_shaped_strings_are_scrubbed_even_if_not_configured(log_path):
    c = client(ScriptedLLM(["ok"]), log_path)
    c.complete([{"role": "user", "content": "OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234"}])
    assert "sk-proj-abcdefghijklmnop1234" not in log_path.read_text()


def test_empty_answers_are_retried_then_the_good_one_is_used(log_path):
    waits: list[float] = []
    c = client(ScriptedLLM(["", "  \n", "Thought: ok"]), log_path, sleep=waits.append)
    assert c.complete(PROMPT).text == "Thought: ok"
    assert len(waits) == 2
    assert read_jsonl(log_path)[0]["attempts"] == 3


def test_always_empty_is_reported_after_bounded_attempts(log_path):
    c = client(ScriptedLLM([""], repeat_last=True), log_path, max_attempts=4)
    with pytest.raises(LLMEmptyResponseError, match="gave up after 4 attempts"):
        c.complete(PROMPT)
    (rec,) = read_jsonl(log_path)
    assert rec["error_type"] == "LLMEmptyResponseError" and rec["attempts"] == 4


def test_auth_error_is_not_retried(log_path):
    llm = ScriptedLLM([LLMAuthError("bad key: check ANTHROPIC_API_KEY"), "never"])
    c = client(llm, log_path)
    with pytest.raises(LLMAuthError, match="ANTHROPIC_API_KEY"):
        c.complete(PROMPT)
    assert llm.remaining == 1


def test_retry_after_is_capped_and_backoff_grows():
    waits: list[float] = []
    llm = ScriptedLLM([LLMRateLimitError("slow", retry_after=10_000), LLMServerError("500"),
                       LLMServerError("500"), LLMServerError("500"), "ok"])
    c = client(llm, max_attempts=5, sleep=waits.append)
    assert c.complete(PROMPT).text == "ok"
    assert waits[0] == MAX_RETRY_AFTER_S
    assert 2.0 <= waits[1] <= 3.0 and 4.0 <= waits[2] <= 5.0 and 8.0 <= waits[3] <= 9.0


def test_retries_stop_when_the_budget_runs_out_meanwhile():
    budget = Budget(max_cost_usd=0.15)
    c = client(ScriptedLLM(["", "", "ok"]), budget=budget, price=Price(2000.0, 0.0))
    with pytest.raises(BudgetExceededError):
        c.complete(PROMPT)  # each empty answer cost $0.2: no third attempt


def test_unknown_price_is_logged_as_null_not_zero(log_path):
    c = client(ScriptedLLM(["ok"], model="some-new-model"), log_path)
    assert c.price is None
    c.complete(PROMPT)
    assert read_jsonl(log_path)[0]["cost_usd"] is None
    assert c.budget.unpriced_calls == 1


def test_plain_prompt_string_is_accepted():
    llm = ScriptedLLM(["ok"])
    assert client(llm).complete("Summarise the log").text == "ok"
    assert llm.calls[0]["messages"] == [{"role": "user", "content": "Summarise the log"}]
