"""The SQLite response cache: an identical rerun costs nothing and calls no model."""
from __future__ import annotations

import pytest

from fakes.llm_servers import FakeLLMServer
from fakes.wires import AnthropicWire
from mlr_copilot.errors import ConfigError
from mlr_copilot.llm.cache import ResponseCache, default_cache_path
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.pricing import Price
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.logs import JsonlWriter, read_jsonl

PROMPT = [{"role": "user", "content": "What is 2+2?"}]


def run(llm, cache_path, log_path=None, budget=None, **call_kw):
    c = LLMClient(llm, cache=ResponseCache(cache_path), budget=budget or Budget(max_llm_calls=10),
                  call_log=JsonlWriter(log_path, fsync=False) if log_path else None,
                  price=Price(1000.0, 1000.0), sleep=lambda s: None)
    return c, c.complete(PROMPT, **call_kw)


def test_identical_rerun_is_served_from_cache_for_free(tmp_path):
    cache = tmp_path / "cache.sqlite"
    _, first = run(ScriptedLLM(["4"]), cache)
    assert not first.cached and first.cost_usd > 0

    budget = Budget(max_llm_calls=0)          # a rerun may not call any model at all
    log_path = tmp_path / "llm_calls.jsonl"
    _, again = run(ScriptedLLM([]), cache, log_path, budget=budget)
    assert again.text == "4" and again.cached and again.cost_usd == 0
    (rec,) = read_jsonl(log_path)
    assert rec["cached"] is True and rec["cost_usd"] == 0 and rec["attempts"] == 0
    assert budget.summary()["cached_calls"] == 1 and budget.cost_usd == 0


def test_different_parameters_miss_the_cache(tmp_path):
    cache = tmp_path / "cache.sqlite"
    run(ScriptedLLM(["4"]), cache, temperature=0.0)
    _, other = run(ScriptedLLM(["four"]), cache, temperature=0.5)
    assert other.text == "four" and not other.cached


def test_repeated_identical_requests_replay_their_own_answers(tmp_path):
    cache = tmp_path / "cache.sqlite"
    c, _ = run(ScriptedLLM(["first", "second"]), cache, temperature=0.7)
    assert c.complete(PROMPT, temperature=0.7).text == "second"
    c2, a = run(ScriptedLLM([]), cache, temperature=0.7)
    b = c2.complete(PROMPT, temperature=0.7)
    assert (a.text, b.text) == ("first", "second") and a.cached and b.cached


def test_failed_calls_are_not_cached(tmp_path):
    from mlr_copilot.errors import LLMAuthError
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(LLMAuthError):
        run(ScriptedLLM([LLMAuthError("no")]), cache)
    assert len(ResponseCache(cache)) == 0


def test_default_location_follows_xdg_cache_home(tmp_path):
    assert default_cache_path({"XDG_CACHE_HOME": str(tmp_path)}) == \
        tmp_path / "mlr_copilot" / "llm_cache.sqlite"
    assert default_cache_path({}).parts[-3:] == (".cache", "mlr_copilot", "llm_cache.sqlite")


def test_unusable_cache_file_is_a_clear_config_error(tmp_path):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="response cache"):
        ResponseCache(bad)


def test_cache_spares_the_real_http_call(tmp_path):
    wire = AnthropicWire()
    with FakeLLMServer() as server:
        server.queue(wire.ok("cached answer"))
        cache = ResponseCache(tmp_path / "c.sqlite")
        for _ in range(2):  # two "runs", each with a fresh client
            client = LLMClient(wire.backend(server), cache=ResponseCache(cache.path))
            assert client.complete(PROMPT).text == "cached answer"
        assert len(server.requests) == 1


def test_two_roles_asking_the_same_thing_keep_their_own_answers(tmp_path):
    path = tmp_path / "cache.sqlite"

    def one_run(shared_model):  # main and edit wrap one backend, as build_models does
        cache = ResponseCache(path)
        main = LLMClient(shared_model, cache=cache, role="main")
        edit = LLMClient(shared_model, cache=cache, role="edit")
        return main.complete(PROMPT).text, edit.complete(PROMPT).text

    assert one_run(ScriptedLLM(["for main", "for edit"])) == ("for main", "for edit")
    assert one_run(ScriptedLLM([])) == ("for main", "for edit")
