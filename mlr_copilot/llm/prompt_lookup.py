"""Prompt-lookup decoding: generation that guesses its next tokens from the prompt.

A whole-file edit copies most of the script it was given. At 15 tokens/s on two cores, a
100-line script costs a minute to write out one token at a time, although most of those
tokens are already in the prompt. Here, after each token, the longest recent n-gram of the
text so far is looked up in the prompt and the tokens that followed it there are proposed as
a draft; the model checks the whole draft in one batch (about the cost of one token on a
CPU) and keeps the part it would have produced itself:

* greedy: a draft token is kept only where it equals the argmax at that position, so the
  output is the greedy output, token for token;
* sampled (temperature > 0): a draft token ``d`` is kept with the probability ``p(d)`` the
  sampler gives it there, else a token is drawn from ``p`` without ``d`` (speculative
  sampling with a one-token-certain draft). Each output token then has exactly the
  distribution ``p`` plain sampling draws from: ``p(d) + (1 - p(d)) * 0`` for ``d`` and
  ``(1 - p(d)) * p(x) / (1 - p(d)) = p(x)`` for any other ``x``.

llama-cpp-python ships ``LlamaPromptLookupDecoding``, but it needs ``logits_all``, which
keeps a vocabulary-wide row of logits for every position of the context (about 10 GB for
a 16k context of this model). This module asks llama.cpp for the logits of the draft
positions only.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

MAX_DRAFT = 16  # the longest draft: a CPU checks 16 tokens in about the time of four single ones
FIRST_DRAFT = 4  # a draft grows while whole drafts are kept and shrinks when one is cut
MAX_NGRAM = 4  # the longest suffix looked up in the prompt (longer is more precise, rarer)
MIN_NGRAM = 2  # a single token matches too many places to be worth a check


def draft_from_prompt(context: Sequence[int], n_prompt: int, *, hint: int | None = None,
                      max_ngram: int = MAX_NGRAM, n_draft: int = MAX_DRAFT) -> tuple[list[int], int]:
    """The tokens that followed, in the prompt, an occurrence of the context's last ``k``
    tokens (longest ``k`` first), and where they start; ``([], -1)`` when nothing matches.
    Among several occurrences the one nearest ``hint`` (where the copy was) wins, so a copy
    goes on from its own place when the same tokens occur elsewhere; without a hint, the
    latest."""
    prompt = list(context[:n_prompt])
    for k in range(min(max_ngram, len(context) - 1), MIN_NGRAM - 1, -1):
        tail = list(context[-k:])
        ends = [start + k for start in range(len(prompt) - k) if prompt[start:start + k] == tail]
        if not ends:
            continue
        at = min(ends, key=lambda e: abs(e - hint)) if hint is not None else ends[-1]
        return prompt[at:at + n_draft], at
    return [], -1


class Decoder(Protocol):
    """The operations the algorithm needs from a model holding a context."""

    def first(self) -> int:
        """The next token after the prompt (already evaluated)."""

    def check(self, tokens: list[int]) -> None:
        """Append ``tokens`` to the context, keeping the model's prediction after each."""

    def pick(self, i: int, proposal: int | None) -> int:
        """The token after the ``i``-th token of the last check: ``proposal`` when the
        decoding rule keeps it (greedy: it is the argmax), else the model's own choice.
        Called at most once per position, in order."""

    def keep(self, n_tokens: int) -> None:
        """Drop the context beyond its first ``n_tokens`` tokens (a rejected draft)."""


def decode_with_lookup(decoder: Decoder, prompt: Sequence[int], max_new: int, eos: int, *,
                       on_token: Callable[[int], None] | None = None) -> tuple[list[int], dict[str, int]]:
    """Generate up to ``max_new`` tokens, checking drafts from the prompt in batches.
    Returns the tokens (an ending ``eos`` included) and counts: batches checked, drafted and
    accepted tokens."""
    out: list[int] = []
    stats = {"checks": 0, "drafted": 0, "accepted": 0}
    n_context = len(prompt)
    hint: int | None = None
    size = FIRST_DRAFT
    nxt = decoder.first()
    while True:
        out.append(nxt)
        if on_token:
            on_token(len(out))
        if nxt == eos or len(out) >= max_new:
            return out, stats
        draft, at = draft_from_prompt(list(prompt) + out, len(prompt), hint=hint,
                                      n_draft=min(size, max_new - len(out)))
        decoder.check([nxt] + draft)
        stats["checks"] += 1
        stats["drafted"] += len(draft)
        matched, after = 0, None
        while matched < len(draft):
            token = decoder.pick(matched, draft[matched])
            if token != draft[matched]:
                after = token
                break
            out.append(token)
            matched += 1
            if on_token:
                on_token(len(out))
            if token == eos:
                break
        stats["accepted"] += matched
        if draft:
            size = min(MAX_DRAFT, size * 2) if matched == len(draft) else max(2, matched + 1)
            hint = at + matched + 1  # where the copy's next token is, if it goes on
        n_context += 1 + matched
        if matched < len(draft):
            decoder.keep(n_context)
        if out[-1] == eos or len(out) >= max_new:
            return out[:max_new], stats
        nxt = after if after is not None else decoder.pick(matched, None)


class Sampler:
    """llama-cpp-python's sampler chain as ``create_completion`` builds it (top-k, then top-p
    and min-p on the raw logits, then the temperature), in numpy, so a draft token's
    probability can be read and a token drawn without it. Seeded per call, as there."""

    def __init__(self, temperature: float, *, top_k: int, top_p: float, min_p: float, seed: int):
        import numpy as np

        self.temperature, self.top_k, self.top_p, self.min_p = temperature, top_k, top_p, min_p
        self._np, self._rng = np, np.random.default_rng(seed)

    def distribution(self, logits: Any) -> tuple[Any, Any]:
        """The candidate token ids and their probabilities."""
        np = self._np
        k = max(1, min(self.top_k, len(logits))) if self.top_k > 0 else len(logits)
        ids = np.argpartition(logits, -k)[-k:]
        ids = ids[np.argsort(-logits[ids], kind="stable")]
        lg = logits[ids].astype(np.float64)
        p = np.exp(lg - lg[0])
        p /= p.sum()
        if self.top_p < 1.0:  # the fewest candidates whose probabilities reach top_p
            n = int(np.searchsorted(np.cumsum(p), self.top_p)) + 1
            ids, lg = ids[:n], lg[:n]
        if self.min_p > 0.0:  # candidates at least min_p times as likely as the best
            keep = lg >= lg[0] + math.log(self.min_p)
            ids, lg = ids[keep], lg[keep]
        p = np.exp((lg - lg[0]) / self.temperature)
        return ids, p / p.sum()

    def pick(self, logits: Any, proposal: int | None) -> int:
        ids, p = self.distribution(logits)
        if proposal is not None:
            at = self._np.flatnonzero(ids == proposal)
            if at.size:
                if self._rng.random() < p[at[0]]:
                    return proposal
                p = p.copy()
                p[at[0]] = 0.0
                p /= p.sum()
        return int(ids[self._rng.choice(len(ids), p=p)])


class LlamaDecoder:
    """``Decoder`` on a llama-cpp-python ``Llama`` whose context holds the evaluated prompt;
    greedy without a ``Sampler``.

    Keeps ``Llama.input_ids``/``n_tokens`` true to the KV cache, so the next ordinary call
    reuses the common prefix as it would after ``create_completion``."""

    def __init__(self, llm: Any, sampler: Sampler | None = None):
        import llama_cpp
        import numpy as np

        self._llm, self._lc, self._np = llm, llama_cpp, np
        self._n_vocab = llm.n_vocab()
        self._sampler = sampler

    def _choose(self, i: int, proposal: int | None) -> int:
        row = self._lc.llama_get_logits_ith(self._llm.ctx, i)
        logits = self._np.ctypeslib.as_array(row, shape=(self._n_vocab,))
        return int(logits.argmax()) if self._sampler is None else self._sampler.pick(logits, proposal)

    def first(self) -> int:
        return self._choose(-1, None)

    def check(self, tokens: list[int]) -> None:
        llm = self._llm
        n_past = llm.n_tokens  # the caller keeps prompt + answer within the context size
        llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past:n_past + len(tokens)] = tokens
        llm.n_tokens = n_past + len(tokens)

    def pick(self, i: int, proposal: int | None) -> int:
        return self._choose(i, proposal)

    def keep(self, n_tokens: int) -> None:
        llm = self._llm
        llm._ctx.kv_cache_seq_rm(-1, n_tokens, -1)
        llm.n_tokens = n_tokens


def evaluate_prompt(llm: Any, tokens: list[int]) -> int:
    """Bring the context to ``tokens``, re-reading only what it does not hold already; returns
    how many prompt tokens were taken from the context."""
    held = llm.input_ids[:llm.n_tokens].tolist()
    keep = 0
    for a, b in zip(held, tokens):
        if a != b:
            break
        keep += 1
    keep = min(keep, len(tokens) - 1)  # the last prompt token is read again for its logits
    llm.n_tokens = keep
    llm.eval(tokens[keep:])
    return keep


def generate(llm: Any, tokens: list[int], max_new: int, on_token: Callable[[int], None] | None = None,
             sampler: Sampler | None = None) -> tuple[str, str, int, dict[str, int]]:
    """Completion of ``tokens`` on a ``Llama`` with prompt lookup (greedy without a sampler):
    the text, the finish reason ("stop" or "length", as llama-cpp-python reports them), the
    number of generated tokens (the end-of-text token not counted, as there) and the draft
    counts."""
    cached = evaluate_prompt(llm, tokens)
    eos = llm.token_eos()
    out, stats = decode_with_lookup(LlamaDecoder(llm, sampler), tokens, max_new, eos, on_token=on_token)
    stats["cached"] = cached
    llm._requires_eval = True  # the context's last logits are a draft check's, not the answer's
    if out and out[-1] == eos:
        return llm.detokenize(out[:-1]).decode("utf-8", errors="ignore"), "stop", len(out) - 1, stats
    return llm.detokenize(out).decode("utf-8", errors="ignore"), "length", len(out), stats
