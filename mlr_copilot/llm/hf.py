"""Open models through ``transformers`` (``llama`` and ``hf:<repo id or local path>``).

The model and tokenizer are loaded once per process (first call) and shared by every
backend object that names them. The chat template is applied when the tokenizer has one;
stop sequences end generation as soon as they appear in the decoded text, and each
completion is generated exactly once (the original MLR-Copilot generated twice).
GPU when present (``device_map="auto"``, bfloat16), float32 on CPU.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, LLMAuthError, LLMContextTooLongError, LLMError, MissingDependencyError
from .base import Completion, Message, ResponseSpec, Usage, as_messages

log = logging.getLogger(__name__)

_LOADED: dict[tuple, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


class HFBackend:
    """``complete`` on a causal LM loaded with ``AutoModelForCausalLM``."""

    continues_answers = True  # a trailing assistant message is continued (see llm.base.continues_answers)

    def __init__(self, model_id_or_path: str, *, device_map: str | None = "auto",
                 dtype: str | None = None, token: str | None = None, model_name: str | None = None,
                 trust_remote_code: bool = False, max_context: int | None = None):
        self.model_id = str(model_id_or_path)
        self.model = model_name or f"hf:{self.model_id}"
        self.device_map = device_map
        self.dtype = dtype  # "bfloat16", "float16", "float32" or None for the default
        self.token = token if token is not None else (os.environ.get("HF_TOKEN") or None)
        self.trust_remote_code = trust_remote_code
        self.max_context = max_context
        self._call_lock = threading.Lock()

    # -- loading -------------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """The (tokenizer, model) pair, loaded on first use and cached for the process."""
        key = (self.model_id, self.device_map, self.dtype, self.trust_remote_code)
        with _LOAD_LOCK:
            if key not in _LOADED:
                _LOADED[key] = self._load()
            return _LOADED[key]

    def _load(self) -> tuple[Any, Any]:
        try:
            import torch
            import transformers
        except ImportError as exc:
            missing = "torch" if "torch" in str(exc) else "transformers"
            raise MissingDependencyError(missing, f"The Hugging Face backend ({self.model})", extra="hf") from exc
        local = Path(self.model_id).expanduser()
        if local.exists():
            source = str(local)
        elif self.model_id.startswith((".", "/", "~")) or self.model_id.count("/") > 1:
            raise ConfigError(f"Model folder {self.model_id!r} does not exist (hf:<repo id or local path>).")
        else:
            source = self.model_id  # a hub repo id such as meta-llama/Llama-3.1-8B-Instruct
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        common = {"token": self.token, "trust_remote_code": self.trust_remote_code}
        if offline:
            common["local_files_only"] = True
        cuda = torch.cuda.is_available()
        dtype = getattr(torch, self.dtype) if self.dtype else (torch.bfloat16 if cuda else torch.float32)
        kwargs: dict[str, Any] = dict(common)
        kwargs[_dtype_kwarg(transformers)] = dtype
        place_on = None
        if self.device_map and _has_accelerate():
            kwargs["device_map"] = self.device_map
        elif cuda:
            place_on = "cuda"
        started = time.monotonic()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
            model = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
        except (OSError, ValueError, EnvironmentError) as exc:
            raise _load_error(self.model_id, exc, offline, bool(self.token)) from exc
        if place_on:
            model.to(place_on)
        model.eval()
        log.info("loaded %s in %.1f s (dtype %s, device %s)", self.model_id,
                 time.monotonic() - started, dtype, getattr(model, "device", "?"))
        return tokenizer, model

    # -- completion ------------------------------------------------------------------
    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        """Generate once; ``response_spec`` is not used (no constrained decoding here)."""
        import torch

        tokenizer, model = self.load()
        started = time.monotonic()
        prompt_ids = _prompt_ids(tokenizer, as_messages(messages))
        limit = self._context_limit(tokenizer, model)
        if len(prompt_ids) >= limit:
            raise LLMContextTooLongError(
                f"The prompt has {len(prompt_ids)} tokens; {self.model} accepts at most {limit}.")
        max_new = max(1, min(int(max_tokens), limit - len(prompt_ids)))
        stops = [s for s in stop if s]
        input_ids = torch.tensor([prompt_ids], device=model.device)
        gen: dict[str, Any] = {"max_new_tokens": max_new,
                               "attention_mask": torch.ones_like(input_ids),
                               "pad_token_id": _pad_id(tokenizer, model)}
        if temperature and temperature > 0:
            gen.update(do_sample=True, temperature=float(temperature))
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops:
            gen["stopping_criteria"] = _stop_criteria(tokenizer, len(prompt_ids), stops)
        with self._call_lock, torch.inference_mode():
            try:
                output = model.generate(input_ids, **gen)
            except RuntimeError as exc:  # CUDA OOM and friends: not worth retrying blindly
                raise LLMError(f"{self.model} failed to generate: {exc}") from exc
        new_ids = output[0, len(prompt_ids):].tolist()
        text = tokenizer.decode(new_ids, skip_special_tokens=True)
        stop_reason = "length" if len(new_ids) >= max_new else "end"
        for s in stops:
            if s in text:
                text = text[: text.index(s)]
                stop_reason = "stop"
        return Completion(text=text, model=self.model,
                          usage=Usage(input_tokens=len(prompt_ids), output_tokens=len(new_ids)),
                          latency_s=time.monotonic() - started, stop_reason=stop_reason)

    def _context_limit(self, tokenizer: Any, model: Any) -> int:
        if self.max_context:
            return int(self.max_context)
        limit = getattr(model.config, "max_position_embeddings", None)
        tok_limit = getattr(tokenizer, "model_max_length", None)
        if not limit and tok_limit and tok_limit < 10**8:
            limit = tok_limit
        return int(limit or 4096)


def _prompt_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    """Token ids of the chat prompt, through the tokenizer's chat template when it has one. A
    trailing assistant message is the start of the answer, continued (a prefill)."""
    prefill = len(messages) > 1 and messages[-1]["role"] == "assistant"
    turn = {"continue_final_message": True} if prefill else {"add_generation_prompt": True}
    if getattr(tokenizer, "chat_template", None):
        try:
            return list(_as_id_list(tokenizer.apply_chat_template(messages, tokenize=True, **turn)))
        except Exception as exc:  # e.g. templates that refuse a system role
            if not (messages and messages[0]["role"] == "system"):
                raise ConfigError(f"The model's chat template failed on these messages: {exc}") from exc
            merged = [dict(m) for m in messages[1:]] or [{"role": "user", "content": ""}]
            merged[0]["content"] = messages[0]["content"] + "\n\n" + merged[0]["content"]
            return list(_as_id_list(tokenizer.apply_chat_template(merged, tokenize=True, **turn)))
    asked = messages[:-1] if prefill else messages
    text = ("".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in asked) + "Assistant:"
            + (f" {messages[-1]['content']}" if prefill else ""))
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return list(ids)


def _as_id_list(result: Any) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding in newer transformers."""
    if hasattr(result, "keys") and "input_ids" in result:
        result = result["input_ids"]
    if result and isinstance(result[0], list):
        result = result[0]
    return [int(i) for i in result]


def _stop_criteria(tokenizer: Any, prompt_len: int, stops: list[str]) -> Any:
    """Stop as soon as any stop string appears in the tail of the decoded new text."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    window = max(len(s) for s in stops) + 8  # tokens: each decodes to >= 1 char

    class _StopOnText(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001 - transformers' signature
            tail = input_ids[0, prompt_len:][-window:].tolist()
            text = tokenizer.decode(tail, skip_special_tokens=True)
            return any(s in text for s in stops)

    return StoppingCriteriaList([_StopOnText()])


def _pad_id(tokenizer: Any, model: Any) -> int | None:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    eos = model.generation_config.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    return eos if eos is not None else tokenizer.eos_token_id


def _dtype_kwarg(transformers: Any) -> str:
    """Newer transformers call it ``dtype``; older ones only know ``torch_dtype``."""
    try:
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    except ValueError:
        return "torch_dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _has_accelerate() -> bool:
    import importlib.util

    return importlib.util.find_spec("accelerate") is not None


def _load_error(model_id: str, exc: BaseException, offline: bool, has_token: bool) -> LLMError | ConfigError:
    text = str(exc)
    low = text.lower()
    if "gated" in low or "401" in low or "403" in low or "access to model" in low:
        key = "HF_TOKEN is set but was refused" if has_token else "HF_TOKEN is not set"
        return LLMAuthError(
            f"{model_id} is a gated model and {key}: accept its license on the Hugging Face hub "
            f"and set HF_TOKEN to a token of that account (details: {text.splitlines()[0]})")
    if offline:
        return ConfigError(
            f"{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it "
            f"cannot be downloaded. Download it once online (huggingface-cli download {model_id}), "
            f"or point hf:<path> at a local copy. (details: {text.splitlines()[0]})")
    return ConfigError(f"Could not load {model_id} with transformers: {text.splitlines()[0] if text else exc!r}. "
                       f"Check the repo id or path, network access, and HF_TOKEN for gated models.")
