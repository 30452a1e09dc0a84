"""The response grammar: llama.cpp accepts its syntax, and it admits exactly well-formed steps.

Fast tests parse the generated GBNF with llama.cpp's own grammar parser (no model needed).
The slow tests run responses through llama.cpp's grammar sampler token by token with the
embedded model's tokenizer, which is what constrains generation for real.
"""
from __future__ import annotations

import ctypes
import json

import pytest

from mlr_copilot.llm.base import ResponseSpec
from mlr_copilot.llm.grammar import (GrammarLimits, build_gbnf, estimate_tokens, limits_for_max_tokens,
                                     response_entries)

llama_cpp = pytest.importorskip("llama_cpp")
from mlr_copilot.llm.sampling import check_gbnf  # noqa: E402

ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check", "Thought")
SPEC = ResponseSpec(
    entries=ENTRIES,
    actions={
        "List Files": ("dir_path",),
        "Execute Script": ("script_name",),
        "Inspect Script Lines": ("script_name", "start_line_number", "end_line_number"),
        "Edit Script (AI)": ("script_name", "edit_instruction", "save_name"),
        "Edit Script Segment (AI)": ("script_name", "start_line_number", "end_line_number",
                                     "edit_instruction", "save_name"),
        "Final Answer": ("final_answer",),
        'Odd "Name" \\ Tool': ("first", "second", "third"),
    },
    required_args={'Odd "Name" \\ Tool': ("second",)},
    arg_types={"Inspect Script Lines": {"start_line_number": "integer", "end_line_number": "integer"},
               "Edit Script Segment (AI)": {"start_line_number": "int", "end_line_number": "int"}},
)

GOOD = (
    "Reflection: The listing shows train.py and data/.\n"
    "Research Plan and Status:\n"
    "1. Understand the baseline. **in progress**\n"
    "2. Improve the model.\n"
    "Fact Check: none yet\n"
    "Thought: Run the baseline first.\n"
    "Action: Execute Script\n"
    'Action Input: {\n    "script_name": "train.py"\n}'
)


def step(action: str, action_input: str, *, entries=ENTRIES) -> str:
    head = "".join(f"{e}: something about {e.lower()}\n" for e in entries)
    return f"{head}Action: {action}\nAction Input: {action_input}"


def test_llama_cpp_parses_the_grammar_of_a_full_spec():
    check_gbnf(build_gbnf(SPEC))


def test_llama_cpp_rejects_a_broken_grammar():
    with pytest.raises(ValueError, match="rejected"):
        check_gbnf('root ::= "a" undefined-rule\n')


@pytest.mark.parametrize("max_tokens", [300, 800, 1500, 2500, 6000])
def test_grammar_fits_the_token_budget_and_still_parses(max_tokens):
    limits = limits_for_max_tokens(SPEC, max_tokens)
    check_gbnf(build_gbnf(SPEC, limits))
    if max_tokens >= 800:
        assert estimate_tokens(SPEC, limits) <= max_tokens
    assert limits.line_chars >= 80 and all(v >= 1 for v in limits.entry_lines.values())


def test_a_budget_with_room_left_gives_json_strings_more_and_keeps_the_lines():
    from dataclasses import replace
    from mlr_copilot.llm.grammar import MIN_STRING_CHARS
    limits = limits_for_max_tokens(SPEC, 1140)
    assert limits.string_chars == MIN_STRING_CHARS and estimate_tokens(SPEC, limits) <= 1140
    assert limits_for_max_tokens(SPEC, 1130).line_chars == limits.line_chars  # the lines stay as they were
    assert limits_for_max_tokens(SPEC, 1130).string_chars < MIN_STRING_CHARS  # no room there: as before
    assert estimate_tokens(SPEC, replace(limits_for_max_tokens(SPEC, 1130), string_chars=MIN_STRING_CHARS)) > 1130


def test_entries_are_ordered_and_action_names_offered():
    gbnf = build_gbnf(SPEC)
    root = next(line for line in gbnf.splitlines() if line.startswith("root ::="))
    names = [part for part in root.split()[2:]]
    assert [n.split("-", 2)[2] for n in names[:-1]] == ["reflection", "research-plan-and-status",
                                                         "fact-check", "thought"]
    for name in SPEC.actions:
        assert json.dumps(name)[1:-1] in gbnf


def test_action_and_action_input_entries_are_not_free_text():
    spec = ResponseSpec(entries=ENTRIES + ("Action", "Action Input"), actions={"List Files": ("dir_path",)})
    assert response_entries(spec) == ENTRIES
    assert build_gbnf(spec) == build_gbnf(ResponseSpec(entries=ENTRIES, actions={"List Files": ("dir_path",)}))


def test_a_spec_without_actions_is_refused():
    with pytest.raises(ValueError, match="at least one action"):
        build_gbnf(ResponseSpec(entries=ENTRIES, actions={}))


def test_unknown_entries_get_default_line_bounds():
    spec = ResponseSpec(entries=("Questions", "Thought", "Mood"), actions={"Final Answer": ("final_answer",)})
    gbnf = build_gbnf(spec, GrammarLimits(default_lines=2))
    assert '"Mood:" (" " line nl | nl line nl) (line nl){0,1}' in gbnf
    check_gbnf(gbnf)


# --- acceptance through llama.cpp's sampler, with the real tokenizer (slow) -------------

@pytest.fixture(scope="module")
def vocab_model():
    from mlr_copilot.llm.local_model import ensure_embedded_model

    return llama_cpp.Llama(model_path=str(ensure_embedded_model()), vocab_only=True, verbose=False)


def accepts(model, gbnf: str, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets ``text`` through and then allows end-of-text."""
    sampler = llama_cpp.llama_sampler_init_grammar(model._model.vocab, gbnf.encode(), b"root")
    assert sampler

    def allowed(token: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
        arr = llama_cpp.llama_token_data_array(data, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
        return data[0].logit != float("-inf")

    try:
        for token in model.tokenize(text.encode(), add_bos=False, special=False):
            if not allowed(token):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return allowed(model.token_eos())
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    GOOD,
    step("List Files", '{"dir_path": "."}'),
    step("Inspect Script Lines", '{"script_name": "train.py", "start_line_number": 1, "end_line_number": 40}'),
    step("Edit Script (AI)", '{"script_name": "train.py", "edit_instruction": "Use \\"adam\\"\\nand lr 0.1",'
                             ' "save_name": "train2.py"}'),
    step("Final Answer", '{\n  "final_answer": "accuracy 0.91 \\u2713"\n}'),
    step('Odd "Name" \\ Tool', '{"second": "x"}'),
    step('Odd "Name" \\ Tool', '{"first": "a", "second": "b", "third": "c"}'),
])
def test_well_formed_steps_are_accepted(vocab_model, text):
    assert accepts(vocab_model, build_gbnf(SPEC), text)


@pytest.mark.slow
@pytest.mark.parametrize("text,why", [
    (step("Run Everything", '{"script_name": "train.py"}'), "action not offered"),
    (step("Execute Script", '{"script": "train.py"}'), "wrong key"),
    (step("Execute Script", '{}'), "missing required key"),
    (step("Execute Script", '{"script_name": "train.py", "extra": 1}'), "extra key"),
    (step("Inspect Script Lines", '{"script_name": "a.py", "start_line_number": "1", "end_line_number": 9}'),
     "integer given as a string"),
    (step("Edit Script (AI)", '{"script_name": "a.py", "save_name": "b.py", "edit_instruction": "x"}'),
     "keys out of order"),
    (step("Execute Script", '{"script_name": "line\nbreak.py"}'), "raw newline in a JSON string"),
    (step('Odd "Name" \\ Tool', '{"first": "a"}'), "required key left out"),
    (step("Execute Script", '{"script_name": "train.py"}', entries=("Thought", "Reflection",
                                                                     "Research Plan and Status",
                                                                     "Fact Check")), "entries out of order"),
    (step("Execute Script", '{"script_name": "train.py"}', entries=ENTRIES[:3]), "entry missing"),
    (GOOD + "\nObservation: made up", "text after the Action Input"),
    ("**Reflection:** markdown\n" + GOOD.split("\n", 1)[1], "markdown decoration"),
])
def test_malformed_steps_are_rejected(vocab_model, text, why):
    assert not accepts(vocab_model, build_gbnf(SPEC), text), why


@pytest.mark.slow
def test_free_text_is_bounded(vocab_model):
    limits = GrammarLimits(line_chars=50, entry_lines={"Reflection": 2}, default_lines=1)
    gbnf = build_gbnf(SPEC, limits)
    ok = step("List Files", '{"dir_path": "."}').replace("something about reflection",
                                                          "z" * 50 + "\n" + "y" * 50)
    assert accepts(vocab_model, gbnf, ok)
    assert not accepts(vocab_model, gbnf, ok.replace("z" * 50, "z" * 51)), "line too long"
    assert not accepts(vocab_model, gbnf, ok.replace("y" * 50, "y\nx\nw")), "too many lines"
    long_name = step("List Files", json.dumps({"dir_path": "d" * (limits.short_string_chars + 1)}))
    assert not accepts(vocab_model, gbnf, long_name), "string too long"


@pytest.mark.slow
@pytest.mark.parametrize("line,ok", [
    ("Action: Final Answer", False),
    ("action input: {}", False),
    ("Thought: made-up second thought", False),
    ("Observation: invented output", False),
    ("**Thought:** bold header", False),
    ("  Reflection: indented header", False),
    ("# Fact Check", False),
    ("Thoughtful idea: try dropout", True),
    ("Action items: run the baseline", True),
    ("Act now", True),
    ("R", True),
    ("1. Reflection: numbered lines are fine", True),
    ("- Thought: bullets are fine", True),
])
def test_free_text_lines_cannot_open_like_a_header(vocab_model, line, ok):
    text = step("List Files", '{"dir_path": "."}').replace(
        "something about research plan and status", "plan\n" + line)
    assert accepts(vocab_model, build_gbnf(SPEC), text) is ok


@pytest.mark.slow
@pytest.mark.parametrize("top_k", [1, 40])
def test_guide_steers_random_logits_to_a_parseable_step(vocab_model, top_k):
    """Drive GrammarGuide (the backend's sampler) with random logits until end of text."""
    import re

    import numpy as np

    from mlr_copilot.llm.sampling import GrammarGuide

    limits = GrammarLimits(line_chars=24, entry_lines={}, default_lines=2, string_chars=24, short_string_chars=12)
    guide = GrammarGuide(vocab_model, build_gbnf(SPEC, limits), n_prompt=3, top_k=top_k)
    rng = np.random.default_rng(top_k)
    ids = [1, 2, 3]  # stands for the prompt
    try:
        for _ in range(600):
            masked = guide(np.array(ids, dtype=np.int32), rng.standard_normal(vocab_model.n_vocab()).astype(np.float32))
            allowed = np.flatnonzero(np.isfinite(masked))
            assert 0 < allowed.size <= top_k or guide.widened
            token = int(allowed[np.argmax(masked[allowed])]) if top_k == 1 else int(rng.choice(allowed))
            if token == vocab_model.token_eos():
                break
            ids.append(token)
        else:
            pytest.fail("no end of text after 600 tokens")
    finally:
        guide.close()
    assert guide.error is None
    text = vocab_model.detokenize(ids[3:]).decode()
    match = re.fullmatch(r"Reflection:.+\nResearch Plan and Status:.+\nFact Check:.+\nThought:.+\n"
                         r"Action: (?P<action>[^\n]+)\nAction Input: ?(?P<input>\{.*\})", text, re.S)
    assert match, text
    assert match["action"] in SPEC.actions
    args = json.loads(match["input"])
    required = SPEC.required_args.get(match["action"], SPEC.actions[match["action"]])
    assert set(required) <= set(args) <= set(SPEC.actions[match["action"]])
    for key in SPEC.arg_types.get(match["action"], {}):
        assert isinstance(args[key], int)


@pytest.mark.slow
def test_widening_groups_pick_the_tokens_the_full_mask_picks(vocab_model):
    """Greedy choices under the grammar are the same whether the guide judges growing groups of
    likely tokens or the whole vocabulary, and the groups spare most whole-vocabulary passes."""
    import numpy as np

    from mlr_copilot.llm.sampling import GrammarGuide

    limits = GrammarLimits(line_chars=24, entry_lines={}, default_lines=2, string_chars=24, short_string_chars=12)
    gbnf = build_gbnf(SPEC, limits)
    grouped = GrammarGuide(vocab_model, gbnf, n_prompt=0, top_k=1)
    whole = GrammarGuide(vocab_model, gbnf, n_prompt=0, top_k=1, widen=())
    rng = np.random.default_rng(7)
    ids: list[int] = []
    try:
        for _ in range(300):
            logits = rng.standard_normal(vocab_model.n_vocab()).astype(np.float32)
            logits[rng.integers(0, vocab_model.n_vocab(), 2000)] += 3.0  # a few thousand likely tokens
            picks = [int(np.argmax(g(np.array(ids, dtype=np.int32), logits))) for g in (grouped, whole)]
            assert picks[0] == picks[1], vocab_model.detokenize(ids).decode(errors="replace")
            if picks[0] == vocab_model.token_eos():
                break
            ids.append(picks[0])
        else:
            pytest.fail("no end of text after 300 tokens")
    finally:
        grouped.close()
        whole.close()
    assert grouped.error is None and whole.error is None
    assert whole.full_masks == whole.widened > 20
    assert grouped.widened == whole.widened and grouped.full_masks < whole.full_masks / 2


@pytest.mark.slow
@pytest.mark.parametrize("line,ok", [
    ("Research Plan and Status**: copied header", False),
    ("thought_: odd emphasis", False),
    ("Action** Input: x", True),
    ("Thought", True),
    ("Thought*", True),
    ("Thought* is free", True),
    ("Action Inputs: plural", True),
])
def test_header_with_emphasis_before_the_colon_is_refused(vocab_model, line, ok):
    text = step("List Files", '{"dir_path": "."}').replace(
        "something about research plan and status", "plan\n" + line)
    assert accepts(vocab_model, build_gbnf(SPEC), text) is ok
