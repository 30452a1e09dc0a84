"""--llm names → backends per role; keys, overrides, errors; no SDK imported early."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fakes.llm_servers import FakeLLMServer
from fakes.wires import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, OpenAIWire
from mlr_copilot.errors import ConfigError
from mlr_copilot.llm.base import Usage
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.llm.registry import (BackendSpec, build_models, describe_backends,
                                      list_llm_names, resolve_models)
from mlr_copilot.logs import JsonlWriter

CLAUDE_ENV = {"ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY}


def test_default_is_the_embedded_local_model():
    specs = resolve_models(None, env={})
    assert specs.name == "local"
    assert specs.main == specs.fast == specs.edit == BackendSpec("local", "embedded")


def test_default_can_come_from_the_environment():
    assert resolve_models(None, env={"MLR_LLM": "claude", **CLAUDE_ENV}).name == "claude"


def test_local_gguf_override(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_models("local", env={"MLR_LOCAL_GGUF": str(gguf)}).main == BackendSpec("gguf", str(gguf))
    with pytest.raises(ConfigError, match="MLR_LOCAL_GGUF"):
        resolve_models("local", env={"MLR_LOCAL_GGUF": str(tmp_path / "missing.gguf")})


def test_claude_uses_sonnet_for_main_and_edit_and_haiku_for_fast():
    specs = resolve_models("claude", env=CLAUDE_ENV)
    assert (specs.main.model, specs.fast.model, specs.edit.model) == \
        ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-sonnet-4-6")
    assert specs.main.kind == "anthropic" and specs.main.key_var == "ANTHROPIC_API_KEY"


def test_claude_accepts_the_original_key_name_and_env_overrides():
    specs = resolve_models("Claude", env={"CLAUDE_API_KEY": "k" * 20, "MLR_CLAUDE_MODEL": "claude-opus-4-1",
                                          "MLR_CLAUDE_FAST_MODEL": "claude-3-5-haiku"})
    assert specs.main.key_var == "CLAUDE_API_KEY"
    assert (specs.main.model, specs.fast.model) == ("claude-opus-4-1", "claude-3-5-haiku")


def test_missing_key_names_the_variable_and_dotenv():
    with pytest.raises(ConfigError) as info:
        resolve_models("claude", env={})
    assert "ANTHROPIC_API_KEY" in str(info.value) and ".env" in str(info.value)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        resolve_models("gpt4", env={})


def test_gpt4_names_and_overrides():
    specs = resolve_models("gpt4", env={"OPENAI_API_KEY": FAKE_OPENAI_KEY, "MLR_GPT4_FAST_MODEL": "gpt-4.1-mini"})
    assert (specs.main.model, specs.fast.model) == ("gpt-4o", "gpt-4.1-mini")


def test_openai_compatible_server_needs_no_key():
    specs = resolve_models("openai:Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1", env={})
    assert specs.main == BackendSpec("openai", "Qwen/Qwen2.5-7B-Instruct", "http://127.0.0.1:8000/v1", None)
    from_env = resolve_models("openai:llama3", env={"OPENAI_BASE_URL": "http://localhost:11434/v1"})
    assert from_env.main.base_url == "http://localhost:11434/v1"


def test_llama_and_explicit_hf_go_through_transformers():
    assert resolve_models("llama", env={}).main == BackendSpec("hf", "meta-llama/Llama-3.1-8B-Instruct")
    assert resolve_models("llama", env={"MLR_LLAMA_MODEL": "/models/llama"}).fast.model == "/models/llama"
    assert resolve_models("hf:/tmp/tiny-llama", env={}).edit == BackendSpec("hf", "/tmp/tiny-llama")


def test_bare_model_ids_are_understood():
    assert resolve_models("claude-opus-4-1", env=CLAUDE_ENV).main.model == "claude-opus-4-1"
    assert resolve_models("gpt-4o-mini", env={"OPENAI_API_KEY": "x" * 20}).main.kind == "openai"


@pytest.mark.parametrize("name, message", [
    ("gemini", "Unknown LLM 'gemini'. Choose one of: local, claude, gpt4, llama, anthropic:<model>"),
    ("anthropic:", "missing its argument: write anthropic:<model>"),
    ("gguf:/no/such/file.gguf", "no GGUF file"),
    ("replay:/no/such/run", "no llm_calls.jsonl"),
])
def test_bad_names_are_clear_config_errors(name, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_models(name, env=CLAUDE_ENV)


def test_base_url_only_for_http_backends():
    with pytest.raises(ConfigError, match="--llm-base-url only applies"):
        resolve_models("local", base_url="http://x", env={})


def test_list_llm_names_for_the_cli():
    names = list_llm_names()
    assert names[:4] == ["local", "claude", "gpt4", "llama"] and "replay:<run log dir>" in names


def test_build_models_end_to_end_against_an_openai_compatible_server(tmp_path):
    wire = OpenAIWire()
    log_path = tmp_path / "llm_calls.jsonl"
    with FakeLLMServer() as server:
        server.queue(wire.ok("main answer"), wire.ok("fast answer"))
        budget = Budget(max_llm_calls=5)
        env = {"OPENAI_API_KEY": FAKE_OPENAI_KEY, "OPENAI_BASE_URL": server.url + "/v1"}
        models = build_models("gpt4", env=env, budget=budget,
                              call_log=JsonlWriter(log_path, fsync=False))
        assert isinstance(models.main, LLMClient) and models.main.budget is models.fast.budget
        assert models.main.complete([{"role": "user", "content": "a"}]).text == "main answer"
        assert models.fast.complete([{"role": "user", "content": "b"}]).text == "fast answer"
        assert [r.body["model"] for r in server.requests] == ["gpt-4o", "gpt-4o-mini"]
        assert [r.api_key() for r in server.requests] == [FAKE_OPENAI_KEY] * 2
    assert budget.calls == 2 and models.main.backend is models.edit.backend
    assert FAKE_OPENAI_KEY not in log_path.read_text()


def test_max_cost_refuses_a_model_without_a_price(tmp_path):
    env = {"OPENAI_API_KEY": FAKE_OPENAI_KEY}
    with pytest.raises(ConfigError, match="MLR_LLM_PRICES"):
        build_models("openai:brand-new-model", env=env, budget=Budget(max_cost_usd=1.0))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"brand-new-model": {"input": 1.0, "output": 4.0}}))
    models = build_models("openai:brand-new-model", env={**env, "MLR_LLM_PRICES": str(prices)},
                          budget=Budget(max_cost_usd=1.0))
    assert models.main.price.output == 4.0


def test_describe_backends_never_shows_key_values():
    env = {"ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY, "HF_TOKEN": "hf_" + "z" * 30}
    rows = {r["name"]: r for r in describe_backends(env)}
    assert set(rows) == {"local", "claude", "gpt4", "llama"}
    assert rows["claude"]["key_present"] is True and rows["claude"]["usable"] is True
    assert rows["gpt4"]["key_present"] is False and rows["gpt4"]["usable"] is False
    assert FAKE_ANTHROPIC_KEY not in json.dumps(rows) and "z" * 30 not in json.dumps(rows)


def test_importing_the_llm_layer_loads_no_sdk():
    code = ("import sys, mlr_copilot, mlr_copilot.llm.registry, mlr_copilot.llm.client, "
            "mlr_copilot.llm.cache, mlr_copilot.llm.replay, mlr_copilot.config\n"
            "heavy = [m for m in ('anthropic', 'openai', 'torch', 'transformers', 'llama_cpp') "
            "if m in sys.modules]\nprint(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_local_backends_are_built_once_for_all_roles_and_cost_nothing(tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")  # not loaded: local backends load on first use
    for name in (f"gguf:{gguf}", f"hf:{tmp_path}"):
        models = build_models(name, env={}, budget=Budget(max_cost_usd=0.01))
        assert models.main.backend is models.fast.backend is models.edit.backend
        assert models.main.price.cost(Usage(10**6, 10**6, 0)) == 0
