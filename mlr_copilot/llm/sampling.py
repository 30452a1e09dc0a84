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


WIDEN = (256, 4096, 32768)
"""Group sizes the grammar guide judges, in logit order, before the whole vocabulary."""


class GrammarGuide:
    """Constrains sampling to a GBNF grammar, checking the likely tokens first.

    llama.cpp's grammar sampler, put in the sampler chain as llama-cpp-python does, tests
    all ~150k vocabulary entries at every step (100 to 300 ms per token here, slower than
    the model itself). The likely tokens decide the outcome: with greedy decoding only the
    argmax can be picked, with sampling only the top-k. So the grammar first judges just
    those. When none is allowed (at forced characters, inside limited lines and strings, at
    the end) it judges the next most likely tokens in growing groups (``widen``) and keeps the
    first group holding an allowed one; the whole vocabulary only when none of them does
    (measured: 4 refusals in the 622 tokens of a 5-step wine run, each sparing a 100-340 ms
    pass). The result is the same as the full mask for greedy decoding (groups are taken in
    logit order). Used as a llama-cpp-python logits processor; it learns each sampled token
    from the ``input_ids`` of the next call and advances the grammar with it.
    """

    def __init__(self, llm: Any, gbnf: str, n_prompt: int, top_k: int, widen: tuple[int, ...] = WIDEN):
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
        self._widen = tuple(m for m in sorted(widen) if self._k < m < n_vocab)
        self.widened = 0  # how often the top-k held no allowed token
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
                self.widened += 1
                allowed = self._judge_wider(logits)
            if allowed.size == 0:
                raise RuntimeError("the grammar allows no token here")
        except Exception as exc:  # stop generating; complete() reports it
            self.error = exc
            out[self._eos] = 0.0
            return out
        out[allowed] = logits[allowed]
        return out

    def _judge_wider(self, logits: Any) -> Any:
        """The allowed ids among the most likely tokens after the top-k, judged in groups of
        growing size in logit order; the first group with one decides (else the whole vocabulary)."""
        np = self._np
        done = self._k
        for size in self._widen:
            top = np.argpartition(-logits, size)[:size]
            top = top[np.argsort(-logits[top], kind="stable")].astype(np.int32)
            allowed = self._judge(top[done:], logits)
            if allowed.size:
                return allowed
            done = size
        self.full_masks += 1
        return self._judge(self._all_ids, logits)

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
