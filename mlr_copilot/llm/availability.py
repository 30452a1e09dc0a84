"""Can the chosen models be loaded here? Checked before a run directory is made.

``resolve_models`` checks names and keys; this checks what a local backend needs on disk,
without loading anything: the package that runs it, the embedded model's weights, a GGUF
file, a local model folder, or a hub model in the Hugging Face cache (or a way to download
it). A run that would fail at its first LLM call fails here instead, with the fix.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError
from .registry import BackendSpec, ModelSpecs


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _offline(env: Mapping[str, str]) -> bool:
    return env.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_model_cached(repo_id: str) -> bool:
    """Whether the hub model's config is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str) and os.path.isfile(found)


def _check(spec: BackendSpec, llm: str, env: Mapping[str, str]) -> None:
    if spec.kind == "local":
        from .local_model import embedded_model_status
        if not _installed("llama_cpp"):
            raise ConfigError(f"--llm {llm} needs llama-cpp-python: pip install llama-cpp-python")
        status = embedded_model_status()
        if not status["ok"]:
            raise ConfigError(f"The embedded model is not usable: {status['detail']}. Fix: {status['fix']}")
    elif spec.kind == "gguf":
        if not _installed("llama_cpp"):
            raise ConfigError(f"--llm {llm} needs llama-cpp-python: pip install llama-cpp-python")
        if not Path(spec.model).expanduser().is_file():
            raise ConfigError(f"--llm {llm}: the model file {spec.model} does not exist")
    elif spec.kind == "hf":
        missing = [m for m in ("torch", "transformers") if not _installed(m)]
        if missing:
            raise ConfigError(f"--llm {llm} needs {' and '.join(missing)}: pip install {' '.join(missing)} "
                              "(see the README for the torch build that suits your machine)")
        local = Path(spec.model).expanduser()
        if local.exists() or spec.model.startswith((".", "/", "~")) or spec.model.count("/") > 1:
            if not local.is_dir():
                raise ConfigError(f"--llm {llm}: the model folder {spec.model} does not exist")
            return
        if hub_model_cached(spec.model):
            return
        if _offline(env):
            raise ConfigError(f"--llm {llm}: {spec.model} is not in the local Hugging Face cache and "
                              f"HF_HUB_OFFLINE is set. Download it once online (huggingface-cli download "
                              f"{spec.model}), or give hf:<path> to a local copy.")
        if spec.model.startswith("meta-llama/") and not env.get("HF_TOKEN"):
            raise ConfigError(f"--llm {llm}: {spec.model} is not in the local Hugging Face cache, and it is a "
                              f"gated model: set HF_TOKEN to a token of an account that accepted its license "
                              f"(it is then downloaded on first use), or download it first "
                              f"(huggingface-cli download {spec.model}).")


def check_models_available(specs: ModelSpecs, env: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError, naming the fix, when a role's model cannot be loaded here."""
    env = os.environ if env is None else env
    for spec in dict.fromkeys((specs.main, specs.fast, specs.edit)):
        _check(spec, specs.name, env)
