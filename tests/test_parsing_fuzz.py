"""Property-based fuzzing of the response parser and the Action Input repair (issue 8, item 3).

No exception other than FormatError may escape, every FormatError carries a message, and
responses built from random entries, actions and arguments parse back to the same action
and arguments. Derandomized, so every run tries the same cases.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlr_copilot.agents.parsing import (ENTRIES, FormatError, ParsedResponse, corrective_message,
                                        parse_action_input, parse_response)
from mlr_copilot.env.actions import ActionRegistry, Arg, action

FUZZ = settings(max_examples=200, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
ROUND_TRIP = settings(FUZZ, max_examples=150)


def _noop(ctx, **kwargs):
    return ""


REG = ActionRegistry()
for _name, _args in {
    "List Files": ["dir_path"], "Execute Script": ["script_name"], "Final Answer": ["final_answer"],
    "Copy File": ["source", "destination"], "Edit Script (AI)": ["script_name", "edit_instruction", "save_name"],
    "Edit Script Segment (AI)": ["script_name", "start_line_number", "end_line_number", "edit_instruction",
                                 "save_name"],
    "Understand File": ["file_name", "things_to_look_for"], "Reflection": ["things_to_reflect_on"],
}.items():
    action(_name, _name, [Arg(a, a) for a in _args], "result", registry=REG)(_noop)
OFFERED = REG.all()
NAMES = [a.name for a in OFFERED]


def _check_outcome(text: str) -> None:
    try:
        r = parse_response(text, OFFERED)
    except FormatError as exc:
        assert str(exc).strip(), "a FormatError must say what is wrong"
        assert corrective_message(exc, OFFERED)
        return
    assert isinstance(r, ParsedResponse)
    assert r.action in NAMES
    assert isinstance(r.action_input, dict)
    json.dumps(r.action_input, ensure_ascii=False).encode("utf-8")  # loggable as UTF-8 JSON Lines


FRAGMENTS = st.sampled_from([
    "Thought:", "Action:", "Action Input:", "**Action:**", "### Action Input", "Observation:", "Reflection:",
    "Research Plan and Status:", "Fact Check:", "Questions:", "List Files", "Execute Script", "final answer",
    "{", "}", "[", "]", "\"", "'", "\\", ",", ":", "```json", "```", "\n", " ", "\t", "True", "None", "null",
    '"script_name": "train.py"', "'dir_path': '.'", "//", "#", "\\u00e9", "\\ud83d", "\\x41", "0", "-1e999",
])


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises_anything_but_format_error(text):
    _check_outcome(text)


@FUZZ
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=40).map("".join))
def test_response_like_text_never_raises_anything_but_format_error(text):
    _check_outcome(text)


@FUZZ
@given(st.text(max_size=300), st.sampled_from([(), ("x",), ("script_name", "edit_instruction")]))
def test_action_input_repair_never_raises_anything_but_format_error(text, arg_names):
    for candidate in (text, "{" + text, "{" + text + "}", "```json\n{" + text):
        try:
            result = parse_action_input(candidate, arg_names)
        except FormatError as exc:
            assert str(exc).startswith("Action Input")
            continue
        assert isinstance(result, dict)
        json.dumps(result, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------ round trips

# Free text of the narrative entries: anything but what starts an entry (a colon after a
# name, markdown markers that could make a bare name a header).
NARRATIVE = st.text(st.characters(blacklist_characters=":：#*_`\r", blacklist_categories=("Cs",)),
                    max_size=80)
KEYS = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
STRINGS = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(['"', "'", "\n", "\t", "{", "}", "\\", "Observation: ", "é", "🚀", "```",
                              ",", " ", "x", "True"]), max_size=20).map("".join),
)
VALUES = st.one_of(STRINGS, st.integers(-10**6, 10**6), st.booleans(), st.none(),
                   st.lists(st.one_of(st.integers(), STRINGS), max_size=3))
ARGS = st.dictionaries(KEYS, VALUES, max_size=5)


def _raw_newline_json(args: dict) -> str:
    """JSON with real newlines and tabs inside strings, as models often write it."""
    def enc(v):
        if isinstance(v, str):
            out = json.dumps(v, ensure_ascii=False)
            return out.replace("\\n", "\n").replace("\\t", "\t") if "\\\\" not in out else out
        if isinstance(v, list):
            return "[" + ", ".join(enc(x) for x in v) + "]"
        return json.dumps(v)
    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {enc(v)}" for k, v in args.items()) + "\n}"


def _python_literal(args: dict) -> str:
    return repr(args)


def _trailing_comma(args: dict) -> str:
    text = json.dumps(args, indent=2, ensure_ascii=False)
    return text[:-2] + ",\n}" if args else text


RENDER_INPUT = {
    "compact": lambda a: json.dumps(a),
    "indented, unicode": lambda a: json.dumps(a, indent=4, ensure_ascii=False),
    "raw newlines": _raw_newline_json,
    "python literal": _python_literal,
    "trailing comma": _trailing_comma,
}
HEADER = {
    "plain": lambda n: f"{n}: ",
    "bold": lambda n: f"**{n}:** ",
    "lower": lambda n: f"{n.lower()}: ",
    "markdown header": lambda n: f"### {n}\n",
}
NAME_STYLE = [lambda n: n, str.lower, str.upper, lambda n: f"`{n}`", lambda n: f"**{n}**", lambda n: n + "."]


@ROUND_TRIP
@given(
    narrative=st.fixed_dictionaries({
        "Reflection": NARRATIVE, "Research Plan and Status": NARRATIVE, "Fact Check": NARRATIVE,
        "Thought": NARRATIVE.filter(lambda s: s.strip()), "Questions": NARRATIVE}),
    present=st.sets(st.sampled_from(["Reflection", "Research Plan and Status", "Fact Check", "Questions"])),
    action_name=st.sampled_from(NAMES),
    name_style=st.sampled_from(range(len(NAME_STYLE))),
    args=ARGS,
    render=st.sampled_from(sorted(RENDER_INPUT)),
    header=st.sampled_from(sorted(HEADER)),
    fence=st.booleans(),
    tail=st.one_of(st.just(""), st.text(max_size=40).map(lambda t: "\nObservation: " + t),
                   st.text(max_size=40).map(lambda t: "\n\nThis should work. " + t)),
)
def test_generated_response_parses_back(narrative, present, action_name, name_style, args, render, header,
                                        fence, tail):
    head = HEADER[header]
    parts = [head(name) + narrative[name] + "\n" for name in ENTRIES
             if name == "Thought" or name in present]
    body = RENDER_INPUT[render](args)
    if fence:
        body = "```json\n" + body + "\n```"
    text = ("".join(parts) + head("Action") + NAME_STYLE[name_style](action_name) + "\n"
            + head("Action Input") + body + tail)
    r = parse_response(text, OFFERED)
    assert r.action == action_name
    assert r.action_input == args
    for name in present | {"Thought"}:
        assert r.entries[name] == narrative[name].strip()


@ROUND_TRIP
@given(args=ARGS, render=st.sampled_from(sorted(RENDER_INPUT)),
       before=st.sampled_from(["", " ", "\n", "```json\n", "```\n"]),
       after=st.one_of(st.just(""), st.text(max_size=30).map(lambda t: "\n```\n" + t)))
def test_action_input_repair_round_trip(args, render, before, after):
    assert parse_action_input(before + RENDER_INPUT[render](args) + after) == args
