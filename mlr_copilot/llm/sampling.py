"""llama.cpp sampling helpers for the GGUF backend: the grammar guide that keeps constrained
decoding fast, the token counter that feeds the live view, and the grammar check."""
from __future__ import annotations

import ctypes
import functools
from typing import Any

from .. import progress


@functools.lru_cache(maxsize=32)
def check_gbnf_cached(gbnf: str) -> None:
    """Check each grammar once: a bad one would crash llama.cpp's sampler."""
    check_gbnf(gbnf)


class TokenCounter:
    """A logits processor that changes nothing: it reports each generated token to ``progress``
    (``tokens``, with the count so far), so the live view can show that the model is working."""

    def __init__(self) -> None:
        self.generated = 0

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        self.generated += 1  # called once per sampled token
        progress.report("tokens", generated=self.generated)  # never raises: listeners are guarded
        return logits


class GrammarGuide:
    """Constrains sampling to a GBNF grammar, checking the likely tokens first.

    llama.cpp's grammar sampler, put in the sampler chain as llama-cpp-python does, tests
    all ~150k vocabulary entries at every step (~100 ms per token here, slower than the
    model itself). The likely tokens decide the outcome: with greedy decoding only the
    argmax can be picked, with sampling only the top-k. So the grammar first judges just
    those; only when none is allowed (rare: at forced characters and at the end) does it
    mask the whole vocabulary. The result is the same as the full mask for greedy decoding.
    Used as a llama-cpp-python logits processor; it learns each sampled token from the
    ``input_ids`` of the next call and advances the grammar with it.
    """

    def __init__(self, llm: Any, gbnf: str, n_prompt: int, top_k: int):
        import llama_cpp
        import numpy as np

        self._lc, self._np = llama_cpp, np
        self._sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, gbnf.encode("utf-8"), b"root")
        if not self._sampler:
            raise ValueError("llama.cpp rejected the response grammar")
        self._seen = n_prompt
        self._k = max(1, top_k)
        n_vocab = llm.n_vocab()
        self._buf = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.ctypeslib.as_array(self._buf).view(
            np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
        self._all_ids = np.arange(n_vocab, dtype=np.int32)
        self.full_masks = 0  # how often the whole vocabulary had to be judged
        self.error: Exception | None = None
        self._eos = llm.token_eos()

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        np = self._np
        out = np.full_like(logits, -np.inf)
        if self.error is not None:
            out[self._eos] = 0.0
            return out
        try:  # an exception must not escape: llama.cpp calls this through ctypes
            for token in input_ids[self._seen:]:
                self._lc.llama_sampler_accept(self._sampler, int(token))
            self._seen = len(input_ids)
            if self._k == 1:
                candidates = np.array([int(np.argmax(logits))], dtype=np.int32)
            else:
                candidates = np.argpartition(-logits, self._k)[: self._k].astype(np.int32)
            allowed = self._judge(candidates, logits)
            if allowed.size == 0:
                self.full_masks += 1
                allowed = self._judge(self._all_ids, logits)
            if allowed.size == 0:
                raise RuntimeError("the grammar allows no token here")
        except Exception as exc:  # stop generating; complete() reports it
            self.error = exc
            out[self._eos] = 0.0
            return out
        out[allowed] = logits[allowed]
        return out

    def _judge(self, ids: Any, logits: Any) -> Any:
        """The ids among ``ids`` that the grammar allows next."""
        n = len(ids)
        view = self._view[:n]
        view["id"] = ids
        view["logit"] = logits[ids]
        arr = self._lc.llama_token_data_array(self._buf, n, -1, False)
        self._lc.llama_sampler_apply(self._sampler, ctypes.byref(arr))
        return ids[self._np.isfinite(view["logit"])]

    def close(self) -> None:
        if self._sampler:
            self._lc.llama_sampler_free(self._sampler)
            self._sampler = None


def check_gbnf(gbnf: str) -> None:
    """Raise ValueError when llama.cpp's parser rejects ``gbnf``."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(None, gbnf.encode("utf-8"), b"root")
    if not sampler:
        raise ValueError("llama.cpp rejected the response grammar (see its log above):\n" + gbnf[:2000])
    llama_cpp.llama_sampler_free(sampler)
