"""Prompt-lookup decoding: the same greedy text, fewer model passes when the answer copies
its prompt (a whole-file edit). The algorithm is checked on a deterministic toy model whose
greedy choice depends on the whole context; the slow test checks it on the embedded model."""
import random

import pytest

from mlr_copilot.llm.prompt_lookup import draft_from_prompt, greedy_with_lookup

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
        preds = []
        for t in tokens:
            self.context.append(t)
            preds.append(self._next(self.context) if self._correct() else 7)  # garbage after a wrong token
        return preds

    def _correct(self):
        return self.context[self.n_prompt:] == self.answer[:len(self.context) - self.n_prompt]

    def keep(self, n):
        del self.context[n:]


def plain_greedy(model, max_new):
    out = [model.first()]
    while out[-1] != EOS and len(out) < max_new:
        out.append(model.check([out[-1]])[0])
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
        fast, stats = greedy_with_lookup(ToyModel(prompt, source, edits), prompt, max_new, EOS)
        assert fast == plain
        assert stats["accepted"] <= stats["drafted"]


def test_copying_answer_needs_several_times_fewer_passes():
    prompt, source, edits = _case(1, n=300, changes=4)
    plain, fast = ToyModel(prompt, source, edits), ToyModel(prompt, source, edits)
    plain_greedy(plain, 1000)
    out, stats = greedy_with_lookup(fast, prompt, 1000, EOS)
    assert out[-1] == EOS and len(out) == 301
    assert fast.passes * 4 < plain.passes, (fast.passes, plain.passes)
    assert stats["accepted"] > 250


def test_an_answer_unlike_the_prompt_costs_no_more_passes():
    prompt = list(range(1, 40))
    model = ToyModel(prompt, [70 + i % 20 for i in range(60)], {})
    out, _ = greedy_with_lookup(model, prompt, 200, EOS)
    assert len(out) == 61 and model.passes <= 61


def test_the_draft_follows_the_copy_point_when_the_same_tokens_occur_twice():
    prompt = [5, 6, 7, 1, 2, 5, 6, 7, 3, 4, 9]
    assert draft_from_prompt(prompt + [5, 6, 7], len(prompt), n_draft=2) == ([3, 4], 8)  # latest first
    assert draft_from_prompt(prompt + [5, 6, 7], len(prompt), hint=4, n_draft=2) == ([1, 2], 3)
    assert draft_from_prompt(prompt + [6, 7], len(prompt), hint=7, n_draft=2) == ([3, 4], 8)
    assert draft_from_prompt(prompt + [42], len(prompt)) == ([], -1)
    assert draft_from_prompt(prompt + [1, 4], len(prompt)) == ([], -1)  # one token is not enough


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
