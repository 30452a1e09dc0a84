"""Prompt-lookup decoding: the same greedy text (or, sampled, the same distribution), fewer
model passes when the answer copies its prompt (a whole-file edit, a tree node). The algorithm
is checked on deterministic toy models whose choice depends on the whole context; the slow
test checks it on the embedded model."""
import collections
import random

import numpy as np
import pytest

from mlr_copilot.llm.prompt_lookup import (MAX_DRAFT, DraftSizer, RepeatGuard, Sampler, StopStrings,
                                          decode_with_lookup, draft_from_prompt)

EOS = 0


class ToyModel:
    """A deterministic 'model': its greedy next token is a function of the whole context.
    It copies ``source`` from the prompt, changing a few tokens (an edit), then stops.
    It counts passes the way a real model would: one per ``first``/``check`` call."""

    def __init__(self, prompt, source, changes):
        self.context = list(prompt)
        self.n_prompt = len(prompt)
        self.answer = [changes.get(i, t) for i, t in enumerate(source)] + [EOS]
        self.passes = 0

    def _next(self, context):
        return self.answer[len(context) - self.n_prompt] if len(context) - self.n_prompt < len(self.answer) else EOS

    def first(self):
        self.passes += 1
        return self._next(self.context)

    def check(self, tokens):
        self.passes += 1
        self.preds = []
        for t in tokens:
            self.context.append(t)
            self.preds.append(self._next(self.context) if self._correct() else 7)  # garbage after a wrong token

    def pick(self, i, proposal):
        return self.preds[i]

    def _correct(self):
        return self.context[self.n_prompt:] == self.answer[:len(self.context) - self.n_prompt]

    def keep(self, n):
        del self.context[n:]


def plain_greedy(model, max_new):
    out = [model.first()]
    while out[-1] != EOS and len(out) < max_new:
        model.check([out[-1]])
        out.append(model.pick(0, None))
    return out


def _case(seed, n=120, changes=3):
    rng = random.Random(seed)
    source = [rng.randrange(1, 60) for _ in range(n)]
    prompt = [rng.randrange(1, 60) for _ in range(20)] + source + [rng.randrange(1, 60) for _ in range(10)]
    edits = {rng.randrange(n): rng.randrange(60, 99) for _ in range(changes)}
    return prompt, source, edits


@pytest.mark.parametrize("seed", range(12))
def test_lookup_gives_exactly_the_greedy_answer(seed):
    prompt, source, edits = _case(seed)
    for max_new in (5, 50, 500):
        plain = plain_greedy(ToyModel(prompt, source, edits), max_new)
        fast, stats = decode_with_lookup(ToyModel(prompt, source, edits), prompt, max_new, EOS)
        assert fast == plain
        assert stats["accepted"] <= stats["drafted"]


def test_copying_answer_needs_several_times_fewer_passes():
    prompt, source, edits = _case(1, n=300, changes=4)
    plain, fast = ToyModel(prompt, source, edits), ToyModel(prompt, source, edits)
    plain_greedy(plain, 1000)
    # the sizer times each check: on this machine's clock the figure varied with its load (83
    # passes in a full test run beside a model run, under 75 alone), so the costs are simulated
    timed = Timed(fast, 0.1, 0.05)  # a CPU: each extra token of a batch costs half a pass
    out, stats = decode_with_lookup(timed, prompt, 1000, EOS, clock=timed.clock)
    assert out[-1] == EOS and len(out) == 301
    assert fast.passes * 4 < plain.passes, (fast.passes, plain.passes)
    assert stats["accepted"] > 250


def test_an_answer_unlike_the_prompt_costs_no_more_passes():
    prompt = list(range(1, 40))
    model = ToyModel(prompt, [70 + i % 20 for i in range(60)], {})
    out, _ = decode_with_lookup(model, prompt, 200, EOS)
    assert len(out) == 61 and model.passes <= 61


def test_the_draft_follows_the_copy_point_when_the_same_tokens_occur_twice():
    prompt = [5, 6, 7, 1, 2, 5, 6, 7, 3, 4, 9]
    assert draft_from_prompt(prompt + [5, 6, 7], len(prompt), n_draft=2) == ([3, 4], 8)  # latest first
    assert draft_from_prompt(prompt + [5, 6, 7], len(prompt), hint=4, n_draft=2) == ([1, 2], 3)
    assert draft_from_prompt(prompt + [6, 7], len(prompt), hint=7, n_draft=2) == ([3, 4], 8)
    assert draft_from_prompt(prompt + [42], len(prompt)) == ([], -1)
    assert draft_from_prompt(prompt + [1, 4], len(prompt)) == ([], -1)  # one token is not enough


V = 8


class SampledToy:
    """A toy model with a next-token distribution that depends on the last token; it favours
    the token after it (what a copy of the prompt would propose) without being sure of it."""

    def __init__(self, prompt, sampler):
        self.context, self.sampler, self.rows = list(prompt), sampler, []

    FAVOUR = 1.5  # how much the model prefers the token a copy would propose

    @classmethod
    def logits(cls, context):
        lg = np.zeros(V)
        lg[(context[-1] + 1) % V] += cls.FAVOUR
        lg[(context[-1] * 3) % V] += 1.0
        return lg

    def first(self):
        return self.sampler.pick(self.logits(self.context), None)

    def check(self, tokens):
        self.rows = []
        for t in tokens:
            self.context.append(t)
            self.rows.append(self.logits(self.context))

    def pick(self, i, proposal):
        return self.sampler.pick(self.rows[i], proposal)

    def keep(self, n):
        del self.context[n:]


def _sampler(seed):
    return Sampler(0.8, top_k=40, top_p=0.95, min_p=0.05, seed=seed)


def test_sampled_lookup_draws_from_the_same_distribution_as_plain_sampling():
    prompt = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]
    n, plain, fast, accepted = 3000, collections.Counter(), collections.Counter(), 0
    for seed in range(n):
        sampler, context = _sampler(seed), list(prompt)
        for _ in range(4):
            context.append(sampler.pick(SampledToy.logits(context), None))
        plain[tuple(context[len(prompt):][1:3])] += 1
        out, stats = decode_with_lookup(SampledToy(prompt, _sampler(10_000 + seed)), prompt, 4, eos=-1)
        fast[tuple(out[1:3])] += 1
        accepted += stats["accepted"]
    assert accepted > n // 3  # drafts were proposed and kept
    for key in set(plain) | set(fast):
        assert abs(plain[key] - fast[key]) / n < 0.04, (key, plain[key], fast[key])


def test_sampler_filters_like_the_llama_cpp_chain():
    logits = np.array([3.0, 2.0, 1.0, -5.0, 2.5])
    ids, p = Sampler(1.0, top_k=3, top_p=1.0, min_p=0.0, seed=0).distribution(logits)
    assert list(ids) == [0, 4, 1] and p[0] / p[1] == pytest.approx(np.exp(0.5))
    ids, _ = Sampler(1.0, top_k=40, top_p=1.0, min_p=0.3, seed=0).distribution(logits)
    assert list(ids) == [0, 4, 1]  # e^-2 < 0.3 <= e^-1: token 2 and 3 go
    ids, _ = Sampler(1.0, top_k=40, top_p=0.5, min_p=0.0, seed=0).distribution(logits)
    assert list(ids) == [0, 4]  # the fewest tokens reaching half the mass
    _, p = Sampler(0.5, top_k=2, top_p=1.0, min_p=0.0, seed=0).distribution(logits)
    assert p[0] / p[1] == pytest.approx(np.exp(1.0))  # temperature after the filters


def test_a_draft_token_the_sampler_cannot_draw_is_never_kept():
    sampler = Sampler(1.0, top_k=1, top_p=1.0, min_p=0.0, seed=0)
    assert {sampler.pick(np.array([0.0, 5.0, 4.9]), 2) for _ in range(50)} == {1}


class Timed:
    """A toy model whose checks take simulated time: ``single`` for one token, ``extra`` for
    each further token of a batch (a CPU: about half a pass; a GPU: almost nothing)."""

    def __init__(self, model, single, extra):
        self.model, self.single, self.extra = model, single, extra
        self.now, self.sizes = 0.0, []

    def clock(self):
        return self.now

    def first(self):
        self.now += self.single
        return self.model.first()

    def check(self, tokens):
        self.now += self.single + self.extra * (len(tokens) - 1)
        self.sizes.append(len(tokens))
        self.model.check(tokens)

    def pick(self, i, proposal):
        return self.model.pick(i, proposal)

    def keep(self, n):
        self.model.keep(n)


class FixedSizer(DraftSizer):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def size(self):
        return self.n


def _sampled_time(favour, sizer, seeds=range(20)):
    """Simulated seconds to sample 60 tokens on a CPU-like cost (a pass 0.1 s, each extra
    batch token 0.05 s) from a toy that favours the copy by ``favour``, and the batch sizes."""
    prompt = [0, 1, 2, 3, 4, 5, 6, 7] * 3
    toy = type("Toy", (SampledToy,), {"FAVOUR": favour})
    total, sizes = 0.0, []
    for seed in seeds:
        timed = Timed(toy(prompt, _sampler(seed)), 0.1, 0.05)
        out, _ = decode_with_lookup(timed, prompt, 60, eos=-1, clock=timed.clock, sizer=sizer())
        assert len(out) == 60
        total, sizes = total + timed.now, sizes + timed.sizes
    return total, sizes


@pytest.mark.parametrize("favour", [1.0, 2.0, 3.0, 4.5])
def test_sampled_drafts_are_sized_to_what_they_save_on_a_cpu(favour):
    """However often the copy is kept, the sizer takes at most 5% longer than the best fixed
    draft length for that case (no lookup at all included): long drafts where they pay, one
    token or none where they do not."""
    adaptive, sizes = _sampled_time(favour, DraftSizer)
    fixed = {n: _sampled_time(favour, lambda n=n: FixedSizer(n))[0] for n in (0, 1, 2, 3, 4, 8, MAX_DRAFT)}
    assert adaptive <= 1.05 * min(fixed.values()), (adaptive, fixed)
    if favour <= 2.0:  # copies kept at most about half the time: long drafts waste a third
        assert adaptive < 0.8 * fixed[MAX_DRAFT], (adaptive, fixed)
        assert sum(sizes) / len(sizes) < 1.5
    else:
        assert max(sizes) > 4


def test_drafts_grow_to_the_longest_when_a_copy_is_kept_and_batches_are_cheap():
    prompt, source, edits = _case(2, n=300, changes=2)
    gpu = Timed(ToyModel(prompt, source, edits), 0.02, 0.0005)
    out, _ = decode_with_lookup(gpu, prompt, 1000, EOS, clock=gpu.clock)
    assert len(out) == 301 and max(gpu.sizes) == MAX_DRAFT + 1
    assert gpu.now < 301 * 0.02 / 6


def test_the_sizer_learns_the_cost_of_extra_tokens_from_timings():
    sizer = DraftSizer(prior_ratio=0.5)
    assert sizer.cost_ratio() == 0.5  # nothing measured yet
    for n in (1, 3, 2, 5, 1, 4):
        sizer.checked(n, 0.12 + 0.03 * (n - 1))
    assert sizer.cost_ratio() == pytest.approx(0.25)
    for _ in range(20):
        sizer.drafted(4, 4)  # every draft token kept
    long_drafts = sizer.size()
    for _ in range(20):
        sizer.drafted(4, 1)  # most drafts cut after one token
    assert long_drafts == MAX_DRAFT and sizer.size() <= 2


class Letters:
    """Detokenizes toy tokens: token t is the letter chr(ord('a') + t % 26)."""

    @staticmethod
    def detokenize(tokens):
        return bytes(ord("a") + t % 26 for t in tokens)


def test_generation_ends_at_a_stop_string_even_inside_a_kept_draft():
    prompt, source, edits = _case(3, n=200, changes=0)
    full = plain_greedy(ToyModel(prompt, source, edits), 1000)
    text = Letters.detokenize(full[:-1])
    stop = text[120:123].decode()  # a string that ends inside the copied part
    first = text.find(stop.encode())
    stops = StopStrings(Letters, [stop])
    model = ToyModel(prompt, source, edits)
    out, _ = decode_with_lookup(model, prompt, 1000, EOS, is_done=stops)
    assert len(out) == first + len(stop)  # not one token more
    assert stops.cut(Letters.detokenize(out)) == text[:first]
    assert StopStrings(Letters, ["zzzzzz"]).cut(text) is None


def test_an_answer_that_repeats_itself_is_ended_early():
    sentences = list(range(100, 160))  # the same 60 tokens written over and over
    prompt = list(range(1, 30))
    guard = RepeatGuard(prompt)
    out, _ = decode_with_lookup(ToyModel(prompt, sentences * 25, {}), prompt, 1500, EOS, is_done=guard)
    assert guard.fired and len(out) < 4 * len(sentences)


def test_copying_text_the_prompt_repeats_is_not_cut():
    block = list(range(100, 160))
    source = block * 3 + list(range(200, 260))
    prompt = [5, 6] + source + [7]
    guard = RepeatGuard(prompt)
    out, _ = decode_with_lookup(ToyModel(prompt, source, {}), prompt, 1500, EOS, is_done=guard)
    assert not guard.fired and out == source + [EOS]


@pytest.mark.slow
def test_real_model_whole_file_edit_is_the_same_with_and_without_lookup():
    import os

    from mlr_copilot.llm import local_model
    from mlr_copilot.llm.llamacpp import LlamaCppBackend

    if os.environ.get(local_model.ENV_OVERRIDE):
        pytest.skip("MLR_LOCAL_GGUF points at another model")
    script = "\n".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(25))
    prompt = [{"role": "user", "content": "Rewrite this Python file with every multiplication by 3 turned into a "
                                          "multiplication by 30. Reply with the whole file in one ```python block."
                                          f"\n```python\n{script}```"}]
    llm = LlamaCppBackend.embedded()
    llm.prompt_lookup = False
    plain = llm.complete(prompt, max_tokens=700, purpose="edit_script")
    plain_s = llm.last_stats["latency_s"]
    llm.prompt_lookup = True
    fast = llm.complete(prompt, max_tokens=700, purpose="edit_script")
    print(f"whole-file edit: {plain.usage.output_tokens} tokens, {plain_s:.1f} s plain, "
          f"{llm.last_stats['latency_s']:.1f} s with lookup ({llm.last_stats['lookup_accepted']} of "
          f"{llm.last_stats['lookup_drafted']} drafted tokens kept)")
    assert fast.text == plain.text
    assert fast.usage.output_tokens == plain.usage.output_tokens
    cut = llm.complete(prompt, max_tokens=700, purpose="edit_script", stop=["def f4("])
    llm.prompt_lookup = False
    assert cut.text == llm.complete(prompt, max_tokens=700, purpose="edit_script", stop=["def f4("]).text
    assert "def f3(" in cut.text and "def f4(" not in cut.text and cut.stop_reason == "stop"


@pytest.mark.parametrize("value, expected", [(None, True), ("", True), ("1", True), ("0", False),
                                             ("off", False), ("False", False)])
def test_prompt_lookup_can_be_turned_off_from_the_environment(monkeypatch, tmp_path, value, expected):
    from mlr_copilot.llm.llamacpp import ENV_PROMPT_LOOKUP, LlamaCppBackend

    if value is None:
        monkeypatch.delenv(ENV_PROMPT_LOOKUP, raising=False)
    else:
        monkeypatch.setenv(ENV_PROMPT_LOOKUP, value)
    assert LlamaCppBackend(tmp_path / "m.gguf").prompt_lookup is expected
    assert LlamaCppBackend(tmp_path / "m.gguf", prompt_lookup=not expected).prompt_lookup is (not expected)
