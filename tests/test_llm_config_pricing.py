""".env loading, secret detection and the price table."""
from __future__ import annotations

import pytest

from mlr_copilot.config import load_env_file, secret_names, secret_values
from mlr_copilot.errors import ConfigError
from mlr_copilot.llm.base import Usage
from mlr_copilot.llm.pricing import FREE, Price, find_price, load_price_overrides


def test_dotenv_is_loaded_without_overriding_the_shell(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-from-dotenv-123456\n"
                                   "MLR_CLAUDE_MODEL=claude-opus-4-1\n# a comment\n")
    sub = tmp_path / "project" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # found in a parent folder
    env = {"MLR_CLAUDE_MODEL": "claude-sonnet-4-5"}
    names = load_env_file(env=env)
    assert sorted(names) == ["ANTHROPIC_API_KEY", "MLR_CLAUDE_MODEL"]
    assert env == {"MLR_CLAUDE_MODEL": "claude-sonnet-4-5",
                   "ANTHROPIC_API_KEY": "sk-ant-from-dotenv-123456"}


def test_no_dotenv_is_fine_but_a_named_missing_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_env_file(env={}) == []
    with pytest.raises(ConfigError, match="No .env file"):
        load_env_file(tmp_path / "nope.env", env={})


def test_secret_detection():
    env = {"ANTHROPIC_API_KEY": "sk-ant-1234567890", "MY_SERVICE_TOKEN": "tok-abcdefgh",
           "MLR_MAX_TOKENS": "2000", "PATH": "/usr/bin", "DB_PASSWORD": "short", "HF_TOKEN": ""}
    assert secret_names(env) == ["ANTHROPIC_API_KEY", "DB_PASSWORD", "MY_SERVICE_TOKEN"]
    # values too short to scrub safely are left out of the scrub list
    assert secret_values(env) == ["sk-ant-1234567890", "tok-abcdefgh"]


@pytest.mark.parametrize("model, expected", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("claude-sonnet-4-6", "claude-sonnet-4-6"),
])
def test_dated_model_ids_get_their_family_price(model, expected):
    assert find_price(model) == find_price(expected) is not None


def test_prefix_match_respects_boundaries_and_unknowns():
    assert find_price("gpt-4.1") != find_price("gpt-4")
    assert find_price("gpt-4o-mini") != find_price("gpt-4o")
    assert find_price("totally-unknown") is None


def test_cost_counts_cached_tokens_at_the_cached_rate():
    price = find_price("claude-sonnet-4-6")
    cost = price.cost(Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=500_000))
    assert cost == pytest.approx(0.5 * 3.0 + 0.5 * 0.30 + 0.1 * 15.0)


def test_price_overrides_from_a_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"my-model": {"input": 1, "output": 2, "cached_input": 0.5}}')
    assert load_price_overrides({"MLR_LLM_PRICES": str(f)})["my-model"].cache_read == 0.5
    f.write_text('{"my-model": {"input": "cheap"}}')
    with pytest.raises(ConfigError, match="numeric 'input' and 'output'"):
        load_price_overrides({"MLR_LLM_PRICES": str(f)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_price_overrides({"MLR_LLM_PRICES": str(tmp_path / "missing.json")})


def test_cache_rates_and_inline_price_json():
    sonnet = find_price("claude-sonnet-4-6")
    assert (sonnet.input, sonnet.cache_read, sonnet.cache_write) == (3.0, 0.3, 3.75)
    u = Usage(input_tokens=1_000_000, output_tokens=0, cached_tokens=600_000, cache_write_tokens=300_000)
    assert sonnet.cost(u) == pytest.approx(0.1 * 3.0 + 0.6 * 0.3 + 0.3 * 3.75)
    gpt = find_price("gpt-4o")
    assert gpt.cache_write is None and gpt.cost(Usage(1_000_000, 0, 0, 1_000_000)) == pytest.approx(2.5)
    prices = load_price_overrides({"MLR_LLM_PRICES": '{"m": {"input": 2, "output": 8, "cache_write": 2.5}}'})
    assert prices["m"] == Price(2.0, 8.0, None, 2.5)
    with pytest.raises(ConfigError, match="non-negative"):
        load_price_overrides({"MLR_LLM_PRICES": '{"m": {"input": -1, "output": 8}}'})


def test_unknown_model_is_free_only_on_a_self_hosted_server():
    from mlr_copilot.llm.registry import BackendSpec, _price

    assert _price(BackendSpec("openai", "my-model", "http://127.0.0.1:8000/v1"), {}) == FREE
    assert _price(BackendSpec("openai", "my-model", "http://192.168.1.5:11434/v1"), {}) == FREE
    assert _price(BackendSpec("openai", "my-model", "https://api.together.xyz/v1"), {}) is None
    assert _price(BackendSpec("anthropic", "claude-next"), {}) is None
