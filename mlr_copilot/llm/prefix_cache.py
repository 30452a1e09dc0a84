"""KV states of prompts kept for reuse (llama.cpp backends): on disk across runs, and in RAM
within one.

Every agent run starts with the same system prompt (rules, tools, problem): about 2,000
tokens that a 2-core CPU reads in about a minute. The state of the model after reading
them is saved once under the model cache and loaded by the next run that shares that
prefix, so its first step starts where the last run's did.

A state file is keyed by the model file's checksum, the backend settings that shape the
state (context size, batch size) and the prefix tokens themselves; it carries the sha256
of its payload, so a damaged, truncated or mismatched file is ignored with a warning and
never loaded. Files are evicted least recently used first once the folder passes its size
budget (``DEFAULT_CAPACITY_BYTES``, or ``MLR_PREFIX_CACHE_MB``; 0 turns the cache off).

``LeanRAMCache`` is llama-cpp-python's RAM cache of recent prompt states, minus the copy of
the logits of the last 512 positions that ``save_state`` takes (about 300 MB a state for a
150k-token vocabulary) and that a restored state never uses: llama-cpp-python always
re-evaluates at least one token after restoring. Its budget then counts what it really holds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

DEFAULT_CAPACITY_BYTES = 1 << 30
MIN_PREFIX_TOKENS = 256  # shorter prefixes are cheap to re-read: not worth a file
MAGIC = b"MLRKV1\n"
ENV_CAPACITY = "MLR_PREFIX_CACHE_MB"
ENV_PREFIX_DIR = "MLR_PREFIX_CACHE_DIR"  # default: prefix-states/ beside the embedded model


@dataclass(frozen=True)
class SavedState:
    """What llama-cpp-python's ``LlamaState`` holds, read back from a file."""

    input_ids: list[int]
    n_tokens: int
    llama_state: bytes
    scores: bytes
    scores_shape: tuple[int, int]
    seed: int


def capacity_from_env(default: int = DEFAULT_CAPACITY_BYTES) -> int:
    raw = os.environ.get(ENV_CAPACITY)
    if raw is None or not raw.strip():
        return default
    try:
        return max(0, int(float(raw) * (1 << 20)))
    except ValueError:
        log.warning("%s=%r is not a number of megabytes; using %d MB", ENV_CAPACITY, raw, default >> 20)
        return default


class PrefixStateCache:
    """One folder of prefix states for one model file and backend setting."""

    def __init__(self, directory: Path, settings: dict[str, Any], capacity_bytes: int = DEFAULT_CAPACITY_BYTES):
        self.directory = Path(directory)
        self.settings = json.dumps(settings, sort_keys=True)
        self.capacity_bytes = capacity_bytes

    @property
    def enabled(self) -> bool:
        return self.capacity_bytes > 0

    def path_for(self, tokens: Sequence[int]) -> Path:
        digest = hashlib.sha256(self.settings.encode("utf-8"))
        digest.update(struct.pack(f"<{len(tokens)}i", *tokens))
        return self.directory / f"{digest.hexdigest()[:32]}.kv"

    def load(self, tokens: Sequence[int]) -> SavedState | None:
        """The saved state of exactly ``tokens``; None when absent or not trustworthy."""
        path = self.path_for(tokens)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("prefix cache: cannot read %s (%s); reading the prompt instead", path.name, exc)
            return None
        state = _decode(data, self.settings, list(tokens))
        if state is None:
            log.warning("prefix cache: %s is damaged or does not match this model; ignored and removed", path.name)
            _unlink(path)
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        return state

    def save(self, tokens: Sequence[int], state: Any) -> None:
        """Write a llama-cpp-python ``LlamaState`` of ``tokens`` (atomically), then evict."""
        if not self.enabled:
            return
        path = self.path_for(tokens)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            payload = _encode(state, self.settings, list(tokens))
            if len(payload) > self.capacity_bytes:
                return
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(payload)
            os.replace(tmp, path)
            self._evict(keep=path)
        except OSError as exc:  # a full or read-only disk costs speed, never the run
            log.warning("prefix cache: could not save %s: %s", path.name, exc)

    def _evict(self, keep: Path) -> None:
        files = []
        for p in self.directory.glob("*.kv"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.capacity_bytes:
                break
            if p != keep:
                _unlink(p)
                total -= size


def _encode(state: Any, settings: str, tokens: list[int]) -> bytes:
    import numpy as np

    scores = np.ascontiguousarray(state.scores, dtype=np.float32)
    scores_2d = (scores.reshape(-1, scores.shape[-1]) if scores.ndim else scores.reshape(1, 1))[-1:]
    body = bytes(state.llama_state) + scores_2d.tobytes()
    header = {"settings": settings, "tokens": tokens, "n_tokens": int(state.n_tokens),
              "input_ids": [int(x) for x in state.input_ids], "state_bytes": len(state.llama_state),
              "scores_shape": list(scores_2d.shape), "seed": int(state.seed),
              "sha256": hashlib.sha256(body).hexdigest()}
    head = json.dumps(header).encode("utf-8")
    return MAGIC + struct.pack("<Q", len(head)) + head + body


def _decode(data: bytes, settings: str, tokens: list[int]) -> SavedState | None:
    try:
        if not data.startswith(MAGIC):
            return None
        (n,) = struct.unpack_from("<Q", data, len(MAGIC))
        start = len(MAGIC) + 8
        header = json.loads(data[start:start + n].decode("utf-8"))
        body = data[start + n:]
        if header["settings"] != settings or header["tokens"] != tokens:
            return None
        if hashlib.sha256(body).hexdigest() != header["sha256"]:
            return None
        size = int(header["state_bytes"])
        rows, cols = (int(x) for x in header["scores_shape"])
        if len(body) != size + rows * cols * 4:
            return None
        return SavedState(input_ids=[int(x) for x in header["input_ids"]], n_tokens=int(header["n_tokens"]),
                          llama_state=body[:size], scores=body[size:], scores_shape=(rows, cols),
                          seed=int(header["seed"]))
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
        return None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def to_llama_state(saved: SavedState) -> Any:
    """A llama-cpp-python ``LlamaState`` from a saved one."""
    import numpy as np
    from llama_cpp.llama import LlamaState

    scores = np.frombuffer(saved.scores, dtype=np.float32).reshape(saved.scores_shape).copy()
    return LlamaState(input_ids=np.array(saved.input_ids, dtype=np.intc), scores=scores,
                      n_tokens=saved.n_tokens, llama_state=saved.llama_state,
                      llama_state_size=len(saved.llama_state), seed=saved.seed)


def last_logits_only(state: Any) -> Any:
    """``state`` with its logits cut to the last row (what a restore can use at most)."""
    scores = getattr(state, "scores", None)
    if scores is not None and getattr(scores, "ndim", 0) == 2 and scores.shape[0] > 1:
        state.scores = scores[-1:].copy()
    return state


def lean_save_state(llm: Any) -> Any:
    """``llm.save_state()`` without its transient copies: llama-cpp-python copies the state
    three times (a buffer of the full size, a compact one, then ``bytes``) and all the logits
    rows (about 300 MB here) at every completion that has a cache, only for the cache to keep
    the last row. This copies the state once and the last row only; installed on the loaded
    model (``install_lean_save``), it lowers the peak memory of every call."""
    import ctypes

    import llama_cpp
    from llama_cpp.llama import LlamaState

    size = int(llama_cpp.llama_state_get_size(llm._ctx.ctx))
    buffer = (ctypes.c_uint8 * size)()
    n_bytes = int(llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size))
    if n_bytes > size:
        raise RuntimeError("Failed to copy llama state data")
    data = ctypes.string_at(buffer, n_bytes)
    del buffer
    return LlamaState(scores=llm._scores[-1:].copy(), input_ids=llm.input_ids.copy(), n_tokens=llm.n_tokens,
                      llama_state=data, llama_state_size=n_bytes, seed=llm._seed)


def lean_load_state(llm: Any, state: Any) -> None:
    """``llm.load_state(state)`` without touching the logits rows: llama-cpp-python spreads
    the saved last row over up to ``n_batch`` rows of its logits array (about 300 MB made
    resident at the first restore) and copies the state once more, although without
    ``logits_all`` nothing reads those rows (sampling reads llama.cpp's own logits)."""
    import ctypes

    import llama_cpp

    llm.input_ids = state.input_ids.copy()
    llm.n_tokens = state.n_tokens
    llm._requires_eval = True
    llm._seed = state.seed
    size = int(state.llama_state_size)
    data = bytes(state.llama_state)
    if len(data) < size:
        raise RuntimeError("Failed to set llama state data: the saved state is shorter than its size")
    src = ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8))  # no copy of the bytes
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, src, size) != size:
        raise RuntimeError("Failed to set llama state data")


def install_lean_states(llm: Any) -> None:
    """Make ``llm.save_state`` and ``llm.load_state`` (called by llama-cpp-python around each
    cached completion, and by the prefix cache) the lean versions above, for this model
    object only."""
    llm.save_state = lambda: lean_save_state(llm)
    llm.load_state = lambda state: lean_load_state(llm, state)


def lean_ram_cache(capacity_bytes: int) -> Any:
    """A llama-cpp-python RAM cache that keeps states without their unused logits."""
    from llama_cpp import LlamaRAMCache

    class LeanRAMCache(LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(s.llama_state_size + s.scores.nbytes for s in self.cache_state.values())

        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            super().__setitem__(key, last_logits_only(value))

        def longest_prefix(self, tokens: Sequence[int]) -> int:
            key = self._find_longest_prefix_key(tuple(tokens))
            return 0 if key is None else common_prefix(key, tokens)

    return LeanRAMCache(capacity_bytes=capacity_bytes)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def llama_cpp_version() -> str:
    try:
        import llama_cpp
    except ImportError:
        return "?"
    return str(getattr(llama_cpp, "__version__", "?"))
