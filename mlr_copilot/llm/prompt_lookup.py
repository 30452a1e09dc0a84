"""Prompt-lookup decoding: generation that guesses its next tokens from the prompt.

A whole-file edit copies most of the script it was given. At 15 tokens/s on two cores, a
100-line script costs a minute to write out one token at a time, although most of those
tokens are already in the prompt. Here, after each token, the longest recent n-gram of the
text so far is looked up in the prompt and the tokens that followed it there are proposed as
a draft; the model checks the whole draft in one batch (on two CPU cores each extra token
of a batch costs about half a single pass, on a GPU almost nothing, so ``DraftSizer`` sizes
drafts from measured costs) and keeps the part it would have produced itself:

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
import time
from typing import Any, Callable, Protocol, Sequence

from .base import STOP_REPEATED

# The longest draft. On the 2-core CPU, at a 1,500-token context, a check of 17 tokens runs at
# 31 tokens/s and one of 33 at 38 (a single token: 15), so long copies go in batches of 33; a
# longer draft gained nothing more (a 100-line edit: 30 tokens/s at 16, 34 at 32, 33 at 48).
MAX_DRAFT = 32
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


class DraftSizer:
    """How long the next draft should be, from what checks cost on this machine and how often
    draft tokens are kept.

    Within a copy, drafts are kept whole: the draft doubles after each one kept whole and
    shrinks to just past the cut after one that was not (the copy ended, or changed place).
    The cost sets a ceiling: a check of ``1 + k`` tokens costs about ``c1 + k * e`` (``c1``
    one token, ``e`` each extra one; on the 2-core CPU this project is measured on ``e`` is
    about half of ``c1``, on a GPU a few percent of it). The i-th draft token saves a pass
    only when it and the ones before it are all kept, with chance about ``a**i`` (``a``: the
    recent share of draft tokens kept), so a draft is not longer than the largest ``i`` with
    ``a**i >= e / c1``. Both are measured as the call goes: a sampled tree node that keeps
    60% of its draft tokens gets drafts of one or two tokens on a CPU, a greedy edit long ones."""

    WEIGHT = 0.2  # of the newest draft token (kept or cut) in the share of kept ones
    DECAY = 0.9  # the weight of older checks, per new one, in the cost fit
    PROBE_EVERY = 4  # while no draft is worth it, one check in this many still drafts a token

    def __init__(self, *, max_draft: int = MAX_DRAFT, first: int = 4, prior_ratio: float = 0.5,
                 prior_kept: float = 0.8):
        self.max_draft = max_draft
        self.prior_ratio = prior_ratio
        self.kept_share = prior_kept
        self._run = first  # the length within a copy, before the cost ceiling
        self._sums = [0.0] * 5  # weighted sums of 1, k, k*k, seconds, k*seconds over checks
        self._probe = 0

    def size(self) -> int:
        """Draft tokens for the next check; 0 when drafting costs more than it saves, except
        for an occasional one-token probe that notices when copying starts."""
        a = self.kept_share
        worth = self.max_draft if a >= 1.0 else (math.log(self.cost_ratio()) / math.log(a) if a > 0 else 0.0)
        if worth >= 1:
            return int(min(self._run, self.max_draft, worth))
        self._probe = (self._probe + 1) % self.PROBE_EVERY
        return 1 if self._probe == 0 else 0

    def cost_ratio(self) -> float:
        """``e / c1`` by least squares over the recent checks; the prior until their sizes vary."""
        w, sk, skk, st, skt = self._sums
        spread = w * skk - sk * sk
        if w <= 0 or spread <= 1e-6 * max(1.0, w * skk):
            return self.prior_ratio
        e = (w * skt - sk * st) / spread
        c1 = (st - e * sk) / w
        if c1 <= 0:
            return self.prior_ratio
        return min(2.0, max(0.01, e / c1))

    def checked(self, n_tokens: int, seconds: float) -> None:
        k = n_tokens - 1
        self._sums = [s * self.DECAY + x for s, x in zip(self._sums, (1.0, k, k * k, seconds, k * seconds))]

    def drafted(self, n_draft: int, n_kept: int) -> None:
        for kept in [1.0] * n_kept + ([0.0] if n_kept < n_draft else []):
            self.kept_share += self.WEIGHT * (kept - self.kept_share)
        self._run = min(self.max_draft, 2 * self._run) if n_kept == n_draft else n_kept + 1


def decode_with_lookup(decoder: Decoder, prompt: Sequence[int], max_new: int, eos: int, *,
                       on_token: Callable[[int], None] | None = None,
                       clock: Callable[[], float] = time.perf_counter,
                       sizer: DraftSizer | None = None,
                       is_done: Callable[[list[int]], bool] | None = None) -> tuple[list[int], dict[str, int]]:
    """Generate up to ``max_new`` tokens, checking drafts from the prompt in batches, each as
    long as ``sizer`` finds worth it (timed with ``clock``), until ``eos`` or until
    ``is_done(tokens so far)``. Returns the tokens (an ending ``eos`` included) and counts:
    batches checked, drafted and accepted tokens."""
    out: list[int] = []
    stats = {"checks": 0, "drafted": 0, "accepted": 0}
    sizer = sizer or DraftSizer()
    n_context = len(prompt)
    hint: int | None = None
    nxt = decoder.first()
    while True:
        out.append(nxt)
        if on_token:
            on_token(len(out))
        if nxt == eos or len(out) >= max_new or (is_done and is_done(out)):
            return out, stats
        draft, at = draft_from_prompt(list(prompt) + out, len(prompt), hint=hint,
                                      n_draft=min(sizer.size(), max_new - len(out)))
        started = clock()
        decoder.check([nxt] + draft)
        sizer.checked(1 + len(draft), clock() - started)
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
            if token == eos or (is_done and is_done(out)):
                stats["accepted"] += matched
                return out[:max_new], stats
        stats["accepted"] += matched
        if draft:
            sizer.drafted(len(draft), matched)
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


class StopStrings:
    """``is_done`` for ``decode_with_lookup``: true once the text holds one of ``stop``."""

    def __init__(self, llm: Any, stop: Sequence[str]):
        self._llm = llm
        self.stops = [s.encode("utf-8") for s in stop if s]
        self._text, self._seen = b"", 0

    def __call__(self, out: list[int]) -> bool:
        start = max(0, len(self._text) - max(len(s) for s in self.stops) + 1)
        self._text += self._llm.detokenize(out[self._seen:])
        self._seen = len(out)
        return any(s in self._text[start:] for s in self.stops)

    def cut(self, text: bytes) -> bytes | None:
        """``text`` up to its first stop string, or None when it holds none."""
        at = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        return text[:at] if at >= 0 else None


class RepeatGuard:
    """``is_done`` for a degenerate answer: true once the answer's last ``WINDOW`` tokens occur
    in it ``REPEATS`` more times than in the prompt. At temperature 0.5 the embedded model once
    wrote the same six "Plan: ..." sentences over and over until its 1,500-token limit (216 s
    of a tree node, for nothing). A copy of text the prompt itself repeats is not cut."""

    WINDOW = 48
    REPEATS = 3
    EVERY = 16  # tokens between looks

    def __init__(self, prompt: Sequence[int]):
        self._prompt = list(prompt)
        self._looked = 0
        self.fired = False

    def __call__(self, out: list[int]) -> bool:
        if len(out) < self.WINDOW * self.REPEATS or len(out) - self._looked < self.EVERY:
            return False
        self._looked = len(out)
        tail = out[-self.WINDOW:]
        in_answer = _occurrences(out, tail)
        self.fired = in_answer >= self.REPEATS and in_answer >= self.REPEATS + _occurrences(self._prompt, tail)
        return self.fired


def _occurrences(tokens: list[int], window: list[int]) -> int:
    first, n = window[0], len(window)
    return sum(1 for i in range(len(tokens) - n + 1) if tokens[i] == first and tokens[i:i + n] == window)


def generate(llm: Any, tokens: list[int], max_new: int, on_token: Callable[[int], None] | None = None,
             sampler: Sampler | None = None, stop: Sequence[str] = ()) -> tuple[str, str, int, dict[str, int]]:
    """Completion of ``tokens`` on a ``Llama`` with prompt lookup (greedy without a sampler),
    ending at the first of ``stop`` (left out of the text, as llama-cpp-python does) or when
    the answer repeats itself (``RepeatGuard``): the text, the finish reason ("stop" or
    "length", as there, or "repetition"), the number of generated tokens (the end-of-text
    token not counted) and the draft counts."""
    cached = evaluate_prompt(llm, tokens)
    eos = llm.token_eos()
    stops = StopStrings(llm, stop) if any(stop) else None
    guard = RepeatGuard(tokens)
    out, stats = decode_with_lookup(LlamaDecoder(llm, sampler), tokens, max_new, eos, on_token=on_token,
                                    is_done=lambda so_far: guard(so_far) or bool(stops and stops(so_far)))
    stats["cached"] = cached
    llm._requires_eval = True  # the context's last logits are a draft check's, not the answer's
    ended = bool(out) and out[-1] == eos
    text = llm.detokenize(out[:-1] if ended else out)
    cut = stops.cut(text) if stops else None
    if cut is not None:
        return cut.decode("utf-8", errors="ignore"), "stop", len(out) - ended, stats
    finish = "stop" if ended else STOP_REPEATED if guard.fired else "length"
    return text.decode("utf-8", errors="ignore"), finish, len(out) - ended, stats
