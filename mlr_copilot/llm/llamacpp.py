"""GGUF models through llama-cpp-python: the embedded ``local`` model and ``gguf:<path>``.

Two things make a small model usable for an agent on a CPU:

* **Prefix reuse.** One ``Llama`` object per model file lives for the whole process and
  keeps its KV cache between calls. The chat prompt is formatted with the model's own
  template and tokenized here, so llama.cpp can compare it with the tokens it already
  holds and only evaluate the new suffix: agent prompts put the stable instructions first
  and the changing history last, so the second step re-reads almost nothing.
  ``Usage.cached_tokens`` reports how many prompt tokens were reused.
* **Constrained decoding.** With a ``ResponseSpec`` the output follows a GBNF grammar
  (``grammar.py``, sampled by ``sampling.py``): entries in order, a valid action name, a
  JSON Action Input.
* **Prompt lookup.** Calls that copy their prompt (whole-file edits, tree nodes) check drafts
  taken from the prompt in batches (``prompt_lookup.py``): the same greedy text, or the same
  sampling distribution, with fewer passes.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import progress
from ..errors import (ConfigError, LLMBadResponseError, LLMContextTooLongError, LLMError,
                      MissingDependencyError)
from .base import Completion, Message, ResponseSpec, Usage, as_messages
from .grammar import build_gbnf, limits_for_max_tokens
from .prompt_lookup import Sampler, generate
from .sampling import GrammarGuide, TokenCounter, check_gbnf_cached
from .prefix_cache import (ENV_PREFIX_DIR, MIN_PREFIX_TOKENS, PrefixStateCache, capacity_from_env, common_prefix,
                           install_lean_states, last_logits_only, lean_ram_cache, llama_cpp_version,
                           to_llama_state)

log = logging.getLogger(__name__)

DEFAULT_N_CTX = 16384
"""Context window: MLAgentBench-style prompts with history reach ~8-12k tokens."""
MIN_ANSWER_TOKENS = 256
"""A prompt must leave at least this much room to answer, else it is 'too long'."""
TOP_K = 40  # llama-cpp-python's sampler chain for temperature > 0 (prompt lookup draws the same way)
TOP_P = 0.95
MIN_P = 0.05
# Calls that copy much of their prompt: whole-file edits and tree nodes. Not agent steps: under
# their grammar, checking drafts in batches changed a greedy step-2 answer of the digits demo
# (llama.cpp's logits depend slightly on the batch), and the run took another path.
LOOKUP_PURPOSES = frozenset({"edit_script", "tree_node"})
EMBEDDED_MODEL_NAME = "local:qwen2.5-coder-1.5b-instruct-q4_k_m"

_MODELS: dict[tuple, "_Loaded"] = {}
_MODELS_LOCK = threading.Lock()


class _Loaded:
    """A loaded Llama, its chat formatter and the lock that serialises calls on it."""

    def __init__(self, llm: Any, formatter: Callable[[list[dict]], str]):
        self.llm = llm
        self.format = formatter
        self.lock = threading.Lock()


USE_MMAP = False
"""Read the weights into memory instead of mapping the file. On a CPU, llama.cpp repacks most
weight matrices into its own faster layout after loading; with the file mapped, the pages it
read to do so stay resident beside the repacked copy (measured on the embedded model: 2.30 GB
resident after loading, 1.69 GB without the mapping; the same speed, and the same answer in
the check made: the repacked matrices are the ones used either way)."""

KV_STATE_CACHE_BYTES = 256 << 20
"""RAM for saved KV states of earlier prompts (least recently used out); about four 2k-token
prompts of the 1.5B model (see ``prefix_cache.lean_ram_cache``)."""


ENV_PROMPT_LOOKUP = "MLR_PROMPT_LOOKUP"


def prompt_lookup_from_env() -> bool:
    """Prompt lookup is on unless ``MLR_PROMPT_LOOKUP`` is 0/false/no/off (to compare speeds, or
    to rule it out when an answer looks wrong: greedy text is the same either way, up to
    llama.cpp's batch-dependent rounding, and sampled text has the same distribution)."""
    return os.environ.get(ENV_PROMPT_LOOKUP, "").strip().lower() not in ("0", "false", "no", "off")


def default_threads() -> int:
    """All cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class LlamaCppBackend:
    """``complete`` on a GGUF model; the model is loaded on first use, once per process."""

    continues_answers = True  # a trailing assistant message is continued (see llm.base.continues_answers)

    def __init__(self, model_path: str | os.PathLike, *, n_ctx: int = DEFAULT_N_CTX,
                 n_threads: int | None = None, n_batch: int = 512, seed: int = 0,
                 model_name: str | None = None, flash_attn: bool = False, prompt_lookup: bool | None = None):
        self.model_path = Path(model_path).expanduser()
        self.model = model_name or f"gguf:{self.model_path.name}"
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or default_threads()
        self.n_batch = n_batch
        self.seed = seed
        self.flash_attn = flash_attn
        # copying calls (LOOKUP_PURPOSES) check drafts in batches; MLR_PROMPT_LOOKUP=0 turns it off
        self.prompt_lookup = prompt_lookup_from_env() if prompt_lookup is None else prompt_lookup
        self.last_stats: dict[str, float] = {}  # timings of the last call, for benchmarks
        self.model_sha256: str | None = None  # set for the embedded model (its verified checksum)
        self._prefix_cache: PrefixStateCache | None = None

    @classmethod
    def embedded(cls, progress: Callable[[int, int], None] | None = None, **kwargs: Any) -> "LlamaCppBackend":
        """The embedded Qwen2.5-Coder-1.5B-Instruct (or ``MLR_LOCAL_GGUF``), joined on first use."""
        from .local_model import ENV_OVERRIDE, ensure_embedded_model

        path = ensure_embedded_model(progress)
        name = kwargs.pop("model_name", None)
        if name is None:
            name = f"gguf:{path.name}" if os.environ.get(ENV_OVERRIDE) else EMBEDDED_MODEL_NAME
        backend = cls(path, model_name=name, **kwargs)
        if not os.environ.get(ENV_OVERRIDE):
            from .local_model import EMBEDDED
            backend.model_sha256 = EMBEDDED.sha256
        return backend

    def prefix_cache(self) -> PrefixStateCache:
        """The on-disk states of stable prompt prefixes for this model file and setting."""
        if self._prefix_cache is None:
            from .local_model import models_dir

            if self.model_sha256:
                identity = {"sha256": self.model_sha256}
            else:  # hashing a multi-GB file at every start costs more than the cache saves
                st = self.model_path.stat()
                identity = {"path": str(self.model_path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            settings = {**identity, "n_ctx": self.n_ctx, "n_batch": self.n_batch, "flash_attn": self.flash_attn,
                        "llama_cpp": llama_cpp_version()}
            tag = (self.model_sha256 or self.model_path.stem)[:16]
            root = Path(os.environ.get(ENV_PREFIX_DIR) or models_dir() / "prefix-states")
            self._prefix_cache = PrefixStateCache(root / tag, settings, capacity_from_env())
        return self._prefix_cache

    # -- loading -------------------------------------------------------------------
    def load(self) -> _Loaded:
        key = (str(self.model_path.resolve()), self.n_ctx, self.n_threads, self.n_batch, self.flash_attn)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = self._load()
            return _MODELS[key]

    def _load(self) -> _Loaded:
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependencyError("llama-cpp-python", f"The local model ({self.model})", extra="local") from exc
        if not self.model_path.is_file():
            raise ConfigError(f"GGUF model file {str(self.model_path)!r} does not exist.")
        started = time.monotonic()
        try:
            llm = llama_cpp.Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                  n_threads_batch=self.n_threads, n_batch=self.n_batch, seed=self.seed,
                                  flash_attn=self.flash_attn, use_mmap=USE_MMAP, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigError(f"llama.cpp could not load {self.model_path}: {exc}. "
                              f"Is it a complete GGUF file?") from exc
        # Keep the KV state of recent prompts in RAM: the agent's prompt and the fast calls
        # between steps (research log, summaries) alternate on this one model, and without
        # it every agent step would re-read the whole shared prefix after a fast call.
        llm.set_cache(lean_ram_cache(KV_STATE_CACHE_BYTES))
        install_lean_states(llm)
        load_s = time.monotonic() - started
        log.info("loaded %s in %.1f s (n_ctx=%d, threads=%d)", self.model_path.name, load_s,
                 self.n_ctx, self.n_threads)
        return _Loaded(llm, _chat_formatter(llm))

    # -- completion ------------------------------------------------------------------
    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens of ``messages`` after the chat template (lets callers shorten early)."""
        loaded = self.load()
        return len(_tokenize(loaded, as_messages(messages)))

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        import llama_cpp

        loaded = self.load()
        llm = loaded.llm
        started = time.monotonic()
        tokens = _tokenize(loaded, as_messages(messages))
        n_ctx = llm.n_ctx()
        room = n_ctx - len(tokens)
        if room < min(int(max_tokens), MIN_ANSWER_TOKENS) or room < 1:
            raise LLMContextTooLongError(
                f"The prompt has {len(tokens)} tokens; {self.model} has a context of {n_ctx} tokens and "
                f"needs room for the answer: shorten the prompt to at most "
                f"{n_ctx - min(int(max_tokens), MIN_ANSWER_TOKENS)} tokens.")
        max_new = max(1, min(int(max_tokens), room))
        temperature = max(0.0, float(temperature))
        gbnf = None
        if response_spec is not None:
            gbnf = build_gbnf(response_spec, limits_for_max_tokens(response_spec, max_new))
            check_gbnf_cached(gbnf)
        with loaded.lock:
            llama_cpp.llama_perf_context_reset(llm.ctx)
            self._restore_stable_prefix(loaded, messages, tokens)
            cached = _reusable_prefix(llm, tokens)
            if self.prompt_lookup and purpose in LOOKUP_PURPOSES and gbnf is None:
                sampler = (Sampler(temperature, top_k=TOP_K, top_p=TOP_P, min_p=MIN_P, seed=self.seed)
                           if temperature > 0 else None)
                return self._complete_with_lookup(llm, tokens, max_new, started, sampler, stop)
            guide = GrammarGuide(llm, gbnf, len(tokens), 1 if temperature == 0 else TOP_K) if gbnf else None
            processors = [p for p in (guide, TokenCounter() if progress.listening("tokens") else None) if p]
            try:
                response = llm.create_completion(
                    prompt=tokens, max_tokens=max_new, temperature=temperature,
                    stop=[s for s in stop if s], seed=self.seed, top_k=TOP_K, top_p=TOP_P, min_p=MIN_P,
                    repeat_penalty=1.0, logits_processor=processors or None)
            except ValueError as exc:
                if "context window" in str(exc):
                    raise LLMContextTooLongError(str(exc)) from exc
                raise LLMError(f"{self.model} failed: {exc}") from exc
            except RuntimeError as exc:
                raise LLMError(f"{self.model} failed: {exc}") from exc
            finally:
                if guide:
                    guide.close()
            perf = llama_cpp.llama_perf_context(llm.ctx)
            if 0 < perf.n_p_eval <= len(tokens):  # what was really re-read, state cache included
                cached = len(tokens) - perf.n_p_eval
        if guide and guide.error is not None:
            raise LLMBadResponseError(f"{self.model}: constrained decoding failed: {guide.error}")
        latency = time.monotonic() - started
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        self.last_stats = {
            "prompt_tokens": len(tokens), "prompt_eval_tokens": perf.n_p_eval,
            "prompt_eval_s": perf.t_p_eval_ms / 1000, "gen_eval_tokens": perf.n_eval,
            "gen_eval_s": perf.t_eval_ms / 1000, "latency_s": latency,
        }
        if guide:  # how often the likely tokens were all refused, and the whole vocabulary judged
            self.last_stats.update(grammar_widened=guide.widened, grammar_full_masks=guide.full_masks)
        return Completion(
            text=choice.get("text") or "", model=self.model,
            usage=Usage(input_tokens=int(usage.get("prompt_tokens", len(tokens))),
                        output_tokens=int(usage.get("completion_tokens", 0)), cached_tokens=cached),
            latency_s=latency, stop_reason=choice.get("finish_reason"))

    def _complete_with_lookup(self, llm: Any, tokens: list[int], max_new: int, started: float,
                              sampler: Sampler | None, stop: Sequence[str]) -> Completion:
        """A completion that copies from its prompt (a whole-file edit, a tree node), checked a
        draft at a time: greedy, the same text as ``create_completion`` at temperature 0 (up to
        llama.cpp's batch-dependent rounding); sampled, drawn from the same distribution as its
        sampler chain. Uses and feeds the RAM cache of prompt states as ``create_completion``
        does."""
        import llama_cpp

        on_token = ((lambda n: progress.report("tokens", generated=n)) if progress.listening("tokens")
                    else None)
        try:
            _restore_from_ram_cache(llm, tokens)
            text, finish, n_out, stats = generate(llm, tokens, max_new, on_token, sampler, stop)
            if llm.cache is not None:
                llm.cache[llm.input_ids[:llm.n_tokens].tolist()] = llm.save_state()
        except RuntimeError as exc:
            llm.reset()
            raise LLMError(f"{self.model} failed: {exc}") from exc
        perf = llama_cpp.llama_perf_context(llm.ctx)
        latency = time.monotonic() - started
        self.last_stats = {
            "prompt_tokens": len(tokens), "prompt_eval_tokens": len(tokens) - stats["cached"],
            "prompt_eval_s": perf.t_p_eval_ms / 1000, "gen_eval_tokens": n_out,
            "gen_eval_s": perf.t_eval_ms / 1000, "latency_s": latency,
            "lookup_checks": stats["checks"], "lookup_drafted": stats["drafted"],
            "lookup_accepted": stats["accepted"],
        }
        return Completion(text=text, model=self.model,
                          usage=Usage(input_tokens=len(tokens), output_tokens=n_out, cached_tokens=stats["cached"]),
                          latency_s=latency, stop_reason=finish)

    def _restore_stable_prefix(self, loaded: _Loaded, messages: Sequence[Message], tokens: list[int]) -> None:
        """Start from the saved state of the prompt's system part when neither the context
        nor the RAM cache holds it; save that state the first time it is read."""
        cache = self.prefix_cache()
        chat = as_messages(messages)
        if not cache.enabled or not chat or chat[0].get("role") != "system":
            return
        n = common_prefix(_tokenize(loaded, chat[:1]), tokens)
        llm = loaded.llm
        if n < MIN_PREFIX_TOKENS or n >= len(tokens) or _reusable_prefix(llm, tokens) >= n:
            return
        if llm.cache is not None and llm.cache.longest_prefix(tokens) >= n:
            return
        prefix = tokens[:n]
        saved = cache.load(prefix)
        if saved is not None:
            try:
                llm.load_state(to_llama_state(saved))
                return
            except (RuntimeError, ValueError) as exc:
                log.warning("prefix cache: a saved state could not be loaded (%s); reading the prompt", exc)
                llm.reset()
        llm.reset()
        llm.eval(prefix)
        cache.save(prefix, last_logits_only(llm.save_state()))


def _tokenize(loaded: _Loaded, messages: list[dict]) -> list[int]:
    if len(messages) > 1 and messages[-1].get("role") == "assistant":  # a prefill: the answer so far,
        # continued where it stopped (the template would close the turn and open a new one)
        prompt = loaded.format(messages[:-1]) + (messages[-1].get("content") or "")
    else:
        prompt = loaded.format(messages)
    # the template writes any BOS itself; special=True turns <|im_start|> etc. into their tokens
    return loaded.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def _restore_from_ram_cache(llm: Any, tokens: list[int]) -> None:
    """Load the RAM cache's state for the longest prefix of ``tokens`` when it holds more of
    them than the context does (``create_completion``'s own rule)."""
    if llm.cache is None:
        return
    try:
        item = llm.cache[tokens]
    except KeyError:
        return
    if common_prefix(item.input_ids[:item.n_tokens].tolist(), tokens) > _reusable_prefix(llm, tokens):
        llm.load_state(item)


def _reusable_prefix(llm: Any, tokens: list[int]) -> int:
    """Prompt tokens llama.cpp will take from its KV cache (its own longest-prefix rule)."""
    held = llm._input_ids  # the tokens whose KV the context holds now
    return min(common_prefix(held.tolist(), tokens), max(0, len(tokens) - 1))


def _chat_formatter(llm: Any) -> Callable[[list[dict]], str]:
    """Render messages with the GGUF's own chat template (a plain fallback without one)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        log.warning("%s has no chat template; using a plain 'Role: text' format", llm.model_path)
        return lambda messages: "".join(f"{m['role'].capitalize()}: {m['content']}\n\n"
                                        for m in messages) + "Assistant:"
    model = llm._model
    eos, bos = llm.token_eos(), llm.token_bos()
    formatter = Jinja2ChatFormatter(template=template,
                                    eos_token=model.token_get_text(eos) if eos != -1 else "",
                                    bos_token=model.token_get_text(bos) if bos != -1 else "")
    return lambda messages: formatter(messages=messages).prompt
