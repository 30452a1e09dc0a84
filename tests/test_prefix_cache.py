"""Saved KV states of stable prompt prefixes: written once, read back exactly, never trusted
when damaged or made for another model or setting, evicted by size, least recently used first."""
import logging
import os
import types

import numpy as np
import pytest

from mlr_copilot.llm.prefix_cache import PrefixStateCache, last_logits_only

SETTINGS = {"sha256": "ab" * 32, "n_ctx": 16384, "n_batch": 512}


def fake_state(n_tokens=300, state_bytes=4096, vocab=50):
    rng = np.random.default_rng(n_tokens)
    return types.SimpleNamespace(
        input_ids=np.arange(n_tokens, dtype=np.intc), n_tokens=n_tokens,
        llama_state=rng.integers(0, 255, state_bytes, dtype=np.uint8).tobytes(),
        scores=rng.random((4, vocab), dtype=np.float32), seed=7)


def test_a_saved_prefix_state_is_read_back_exactly(tmp_path):
    cache = PrefixStateCache(tmp_path, SETTINGS)
    tokens = list(range(300))
    state = fake_state()
    cache.save(tokens, state)
    back = cache.load(tokens)
    assert back.llama_state == state.llama_state and back.n_tokens == 300 and back.seed == 7
    assert back.input_ids == list(range(300))
    assert back.scores_shape == (1, 50)  # only the last row of logits is kept: a restore uses no more
    assert np.frombuffer(back.scores, dtype=np.float32).tolist() == pytest.approx(state.scores[-1].tolist())
    assert cache.load(tokens[:-1]) is None  # another prefix is another key


def test_a_damaged_or_foreign_state_file_is_ignored_with_a_warning(tmp_path, caplog):
    tokens = list(range(300))
    cache = PrefixStateCache(tmp_path, SETTINGS)
    cache.save(tokens, fake_state())
    path = cache.path_for(tokens)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert cache.load(tokens) is None
    assert "damaged or does not match" in caplog.text and not path.exists()

    cache.save(tokens, fake_state())  # a file written for another model under this one's name
    other = PrefixStateCache(tmp_path, {**SETTINGS, "sha256": "cd" * 32})
    os.replace(cache.path_for(tokens), other.path_for(tokens))
    assert other.load(tokens) is None
    (tmp_path / "x.kv").write_bytes(b"garbage")
    assert cache.load(tokens) is None


def test_states_are_evicted_by_size_least_recently_used_first(tmp_path):
    cache = PrefixStateCache(tmp_path, SETTINGS)
    keys = [[k] * 300 for k in range(1, 5)]
    for i, key in enumerate(keys[:3]):
        cache.save(key, fake_state(state_bytes=4_000))
        os.utime(cache.path_for(key), (1_000 + i, 1_000 + i))
    size = cache.path_for(keys[0]).stat().st_size
    cache.capacity_bytes = 3 * size + size // 2  # room for three states
    assert cache.load(keys[0]) is not None  # used now: the most recent
    cache.save(keys[3], fake_state(state_bytes=4_000))
    present = [cache.path_for(k).exists() for k in keys]
    assert present == [True, False, True, True]


def test_a_zero_budget_turns_the_cache_off(tmp_path, monkeypatch):
    from mlr_copilot.llm.prefix_cache import capacity_from_env
    monkeypatch.setenv("MLR_PREFIX_CACHE_MB", "0")
    cache = PrefixStateCache(tmp_path, SETTINGS, capacity_from_env())
    cache.save(list(range(300)), fake_state())
    assert not cache.enabled and not list(tmp_path.glob("*.kv"))


def test_ram_cache_states_keep_only_their_last_logits():
    state = fake_state()
    assert last_logits_only(state).scores.shape == (1, 50)


_ONE_CALL = """
import json, sys
from mlr_copilot.llm.llamacpp import LlamaCppBackend
system = "You are a careful assistant. " + " ".join(f"Rule {i}: check item {i} twice." for i in range(80))
c = LlamaCppBackend.embedded().complete([{"role": "system", "content": system},
                                         {"role": "user", "content": "Name one colour."}], max_tokens=8)
print(json.dumps({"text": c.text, "cached": c.usage.cached_tokens, "input": c.usage.input_tokens}))
"""


@pytest.mark.slow
def test_a_second_process_starts_from_the_saved_prefix_with_the_same_greedy_answer(tmp_path):
    import json
    import subprocess
    import sys

    env = {**os.environ, "MLR_PREFIX_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _ONE_CALL], env=env, capture_output=True,
                                      text=True, check=True, timeout=600).stdout.strip().splitlines()[-1])
            for _ in range(2)]
    assert runs[0]["cached"] == 0 and list(tmp_path.rglob("*.kv"))
    assert runs[1]["cached"] > 0.9 * runs[1]["input"] - 30  # all of the system part came from disk
    assert runs[1]["text"] == runs[0]["text"]


@pytest.mark.slow
def test_the_lean_state_is_llama_cpp_pythons_state_minus_the_unused_logits():
    from llama_cpp import Llama

    from mlr_copilot.llm.llamacpp import LlamaCppBackend
    from mlr_copilot.llm.prefix_cache import lean_save_state

    backend = LlamaCppBackend.embedded()
    backend.complete([{"role": "user", "content": "Name one colour."}], max_tokens=4)
    llm = backend.load().llm
    full, lean = Llama.save_state(llm), lean_save_state(llm)
    assert lean.llama_state == full.llama_state and lean.n_tokens == full.n_tokens
    assert (lean.scores == full.scores[-1:]).all() and (lean.input_ids == full.input_ids).all()
    assert llm.save_state().scores.shape[0] == 1  # installed on the loaded model


@pytest.mark.slow
def test_the_lean_restore_gives_the_same_answer_without_filling_the_logits_rows():
    import resource

    from llama_cpp import Llama

    from mlr_copilot.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend.embedded()
    prompt = [{"role": "user", "content": "Count from one to five in words."}]
    first = backend.complete(prompt, max_tokens=16)
    llm = backend.load().llm
    saved = llm.save_state()
    llm.reset()
    llm.load_state(saved)  # the lean restore
    assert llm.n_tokens == saved.n_tokens and (llm.input_ids == saved.input_ids).all()
    assert backend.complete(prompt, max_tokens=16).text == first.text
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Llama.load_state(llm, saved)  # llama-cpp-python's own restore spreads the logits row
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"llama-cpp-python's restore raised the peak by {grown_mb:.0f} MB")
