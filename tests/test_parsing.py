"""The response parser on the shapes real models produce, and on the recorded MLR-Copilot run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlr_copilot.agents.parsing import (ENTRIES, FormatError, ParsedResponse, corrective_message,
                                        parse_action_input, parse_response)
from mlr_copilot.env.actions import ActionInfo, ActionRegistry, Arg, action
from mlr_copilot.errors import MLRError
from mlr_copilot.log_import import read_original_log, reconstruct_response

FIXTURE = (Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mlr-copilot-logs"
           / "feedback-2024-08-06T01-17-04")


def _noop(ctx, **kwargs):  # the parser never calls actions
    return ""


def make_registry() -> ActionRegistry:
    """The MLAgentBench / MLR-Copilot actions with their real argument names."""
    reg = ActionRegistry()
    path = "a valid file name with relative path to current directory if needed"
    specs = {
        "List Files": [Arg("dir_path", "a valid relative path to a directory")],
        "Read File": [Arg("file_name", path)],
        "Write File": [Arg("file_name", path), Arg("content", "the content to be written")],
        "Copy File": [Arg("source", path), Arg("destination", path)],
        "Undo Edit Script": [Arg("script_name", path)],
        "Execute Script": [Arg("script_name", path)],
        "Final Answer": [Arg("final_answer", "a detailed description on the final answer")],
        "Understand File": [Arg("file_name", path), Arg("things_to_look_for", "what to look for")],
        "Inspect Script Lines": [Arg("script_name", path), Arg("start_line_number", "a number", int),
                                 Arg("end_line_number", "a number", int)],
        "Edit Script (AI)": [Arg("script_name", path), Arg("edit_instruction", "what to change"),
                             Arg("save_name", path)],
        "Edit Script Segment (AI)": [Arg("script_name", path), Arg("start_line_number", "a number", int),
                                     Arg("end_line_number", "a number", int),
                                     Arg("edit_instruction", "what to change"), Arg("save_name", path)],
        "Reflection": [Arg("things_to_reflect_on", "what to reflect on")],
    }
    for name, args in specs.items():
        action(name, f"{name} (test)", args, "the result", registry=reg)(_noop)
    return reg


REGISTRY = make_registry()
OFFERED = [info for info in REGISTRY.all() if info.name not in ("Read File", "Write File")]
FULL = """Reflection: The script ran and printed a baseline.
Research Plan and Status: 1. Baseline (done: 0.61) 2. Improve the model
Fact Check: "baseline 0.61" - confirmed by the last observation
Thought: I will look at the files first.
Questions: Is a GPU available?
Action: List Files
Action Input: {"dir_path": "."}"""


def parse(text: str) -> ParsedResponse:
    return parse_response(text, OFFERED)


def test_canonical_response_gives_every_entry_in_order():
    r = parse(FULL)
    assert r.action == "List Files"
    assert r.action_input == {"dir_path": "."}
    assert list(r.entries) == list(ENTRIES)
    assert r.entries["Thought"] == "I will look at the files first."
    assert r.entries["Research Plan and Status"] == "1. Baseline (done: 0.61) 2. Improve the model"
    assert r.entries["Action Input"] == '{"dir_path": "."}'


EDIT = {"script_name": "train.py", "edit_instruction": "Use 'lr=1e-3'.\nThen print {loss}.",
        "save_name": "train.py"}

SHAPES = {
    "markdown bold": (
        "**Reflection:** fine\n**Research Plan and Status:** plan\n**Fact Check:** none\n"
        "**Thought:** list the files\n**Action:** List Files\n**Action Input:** {\"dir_path\": \".\"}",
        "List Files", {"dir_path": "."}),
    "bold name, colon outside": (
        "**Thought**: run it\n**Action**: Execute Script\n**Action Input**: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "markdown headers and a fenced block": (
        "### Reflection\nNothing yet.\n\n### Thought\nRun the baseline.\n\n### Action\nExecute Script\n\n"
        "### Action Input\n```json\n{\n  \"script_name\": \"train.py\"\n}\n```\n",
        "Execute Script", {"script_name": "train.py"}),
    "lower-case entry names": (
        "thought: run it\naction: execute script\naction input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "upper-case entry names": (
        "THOUGHT: run it\nACTION: EXECUTE SCRIPT\nACTION INPUT: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "bullets": (
        "- Thought: run it\n- Action: Execute Script\n- Action Input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "fence without language": (
        "Thought: t\nAction: Execute Script\nAction Input:\n```\n{\"script_name\": \"train.py\"}\n```",
        "Execute Script", {"script_name": "train.py"}),
    "prose after the JSON": (
        "Thought: t\nAction: List Files\nAction Input: {\"dir_path\": \"data\"}\nThis shows the data files.",
        "List Files", {"dir_path": "data"}),
    "hallucinated observation and a second step": (
        "Thought: t\nAction: List Files\nAction Input: {\"dir_path\": \".\"}\nObservation: train.py\n\n"
        "Thought: now run\nAction: Execute Script\nAction Input: {\"script_name\": \"train.py\"}",
        "List Files", {"dir_path": "."}),
    "single quotes": (
        "Thought: t\nAction: Copy File\nAction Input: {'source': 'train.py', 'destination': \"it's.py\"}",
        "Copy File", {"source": "train.py", "destination": "it's.py"}),
    "raw newlines and tabs inside strings": (
        "Thought: t\nAction: Edit Script (AI)\nAction Input: {\"script_name\": \"train.py\", "
        "\"edit_instruction\": \"Use 'lr=1e-3'.\nThen print {loss}.\", \"save_name\": \"train.py\"}",
        "Edit Script (AI)", EDIT),
    "tab inside a string": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"a\tb\"}",
        "Final Answer", {"final_answer": "a\tb"}),
    "trailing commas": (
        "Thought: t\nAction: Copy File\nAction Input: {\n  \"source\": \"a.py\",\n  \"destination\": \"b.py\",\n}",
        "Copy File", {"source": "a.py", "destination": "b.py"}),
    "Python literals": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"done\", \"extra\": [True, False, None]}",
        "Final Answer", {"final_answer": "done", "extra": [True, False, None]}),
    "Python dict repr": (
        "Thought: t\nAction: Edit Script (AI)\nAction Input: " + repr(EDIT),
        "Edit Script (AI)", EDIT),
    "only the required entries": (
        "Thought: look\nAction: List Files\nAction Input: {\"dir_path\": \".\"}",
        "List Files", {"dir_path": "."}),
    "action name with a trailing period": (
        "Thought: t\nAction: List Files.\nAction Input: {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
    "action name in backticks": (
        "Thought: t\nAction: `Edit Script Segment (AI)`\nAction Input: {\"script_name\": \"a.py\", "
        "\"start_line_number\": 1, \"end_line_number\": 5, \"edit_instruction\": \"x\", \"save_name\": \"a.py\"}",
        "Edit Script Segment (AI)", {"script_name": "a.py", "start_line_number": 1, "end_line_number": 5,
                                     "edit_instruction": "x", "save_name": "a.py"}),
    "action name followed by one word": (
        "Thought: t\nAction: Execute Script train.py\nAction Input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "action name followed by a remark": (
        "Thought: t\nAction: Execute Script (to get the baseline)\nAction Input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "unique prefix of an action name": (
        "Thought: t\nAction: Understand\nAction Input: {\"file_name\": \"a.txt\", \"things_to_look_for\": \"x\"}",
        "Understand File", {"file_name": "a.txt", "things_to_look_for": "x"}),
    "input on the Action line": (
        "Thought: t\nAction: List Files {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
    "fenced input under the Action, no Action Input entry": (
        "Thought: t\nAction: Execute Script\n```json\n{\"script_name\": \"train.py\"}\n```",
        "Execute Script", {"script_name": "train.py"}),
    "everything on one line": (
        "Thought: run it. Action: Execute Script Action Input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "unescaped double quotes inside a string": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"The \"best\" model scores 0.42\"}",
        "Final Answer", {"final_answer": "The \"best\" model scores 0.42"}),
    "unescaped quotes in one of several keys": (
        "Thought: t\nAction: Edit Script (AI)\nAction Input: {\n  \"script_name\": \"train.py\",\n"
        "  \"edit_instruction\": \"Replace \"adam\" with \"sgd\".\",\n  \"save_name\": \"train.py\"\n}",
        "Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "Replace \"adam\" with \"sgd\".",
                             "save_name": "train.py"}),
    "bare value for a one-argument action": (
        "Thought: t\nAction: Execute Script\nAction Input: train.py", "Execute Script", {"script_name": "train.py"}),
    "Windows line endings": (
        "Thought: t\r\nAction: List Files\r\nAction Input: {\"dir_path\": \".\"}\r\n", "List Files", {"dir_path": "."}),
    "spelling variants of the narrative entries": (
        "Reflections: r\nResearch Plan & Status: p\nFact-Check: f\nThoughts: t\nQuestion: q\n"
        "Action: List Files\nAction Input: {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
    "unquoted keys and a comment": (
        "Thought: t\nAction: Copy File\nAction Input: {source: \"a.py\", // the original\n destination: \"b.py\"}",
        "Copy File", {"source": "a.py", "destination": "b.py"}),
    "output cut before the closing brace": (
        "Thought: t\nAction: Execute Script\nAction Input: {\"script_name\": \"train.py\"",
        "Execute Script", {"script_name": "train.py"}),
    "unterminated object then a hallucinated observation": (
        "Thought: t\nAction: List Files\nAction Input: {\"dir_path\": \".\"\nObservation: a.py b.py",
        "List Files", {"dir_path": "."}),
    "entry names and fences inside a JSON string": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"Action: none\\nObservation: "
        "fine\\n```python\\nprint(1)\\n```\"}\nObservation: ignored",
        "Final Answer", {"final_answer": "Action: none\nObservation: fine\n```python\nprint(1)\n```"}),
    "entry names mentioned inside the thought": (
        "Thought: my last Action: was wrong, the Action Input: too.\nAction: List Files\n"
        "Action Input: {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
    "unicode and emoji": (
        "Thought: vérifier 🚀\nAction: Final Answer\nAction Input: {\"final_answer\": \"MCRMSE ≈ 0.45 ✅ \\ud83d\\ude80\"}",
        "Final Answer", {"final_answer": "MCRMSE ≈ 0.45 ✅ 🚀"}),
    "an entry name starting a line of the Fact Check": (
        "Fact Check:\n1. Action: List Files showed train.py - confirmed\n2. Thought: guessed\nThought: run it\n"
        "Action: Execute Script\nAction Input: {\"script_name\": \"train.py\"}",
        "Execute Script", {"script_name": "train.py"}),
    "Python triple-quoted string": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"\"\"Two\nlines\"\"\"}",
        "Final Answer", {"final_answer": "Two\nlines"}),
    "escaped single quote inside a JSON string": (
        "Thought: t\nAction: Final Answer\nAction Input: {\"final_answer\": \"it\\'s done\"}",
        "Final Answer", {"final_answer": "it's done"}),
    "full-width colon": (
        "Thought： t\nAction： List Files\nAction Input： {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
    "blockquote": (
        "> Thought: t\n> Action: List Files\n> Action Input: {\"dir_path\": \".\"}", "List Files", {"dir_path": "."}),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_real_response_shapes_parse(name):
    text, expected_action, expected_args = SHAPES[name]
    r = parse(text)
    assert r.action == expected_action
    assert r.action_input == expected_args
    assert r.entries["Action"] == expected_action
    assert r.entries.get("Thought")


def test_hallucinated_observation_is_returned_as_discarded():
    r = parse(SHAPES["hallucinated observation and a second step"][0])
    assert r.discarded.startswith("Observation: train.py")
    assert "Execute Script" in r.discarded


def test_narrative_entries_keep_their_text_across_lines():
    text = ("**Reflection:**\nThe error says `x` is undefined.\nIt comes from line 3.\n\n"
            "**Research Plan and Status:**\n1. fix **x** (in progress)\n2. rerun\n\n"
            "**Thought:** fix it\n**Action:** Undo Edit Script\n**Action Input:** {\"script_name\": \"a.py\"}")
    r = parse(text)
    assert r.entries["Reflection"] == "The error says `x` is undefined.\nIt comes from line 3."
    assert r.entries["Research Plan and Status"] == "1. fix **x** (in progress)\n2. rerun"


def test_accepts_a_registry_infos_or_plain_names():
    text = "Thought: t\nAction: list files\nAction Input: {\"dir_path\": \".\"}"
    assert parse_response(text, REGISTRY).action == "List Files"
    assert parse_response(text, OFFERED).action == "List Files"
    assert parse_response(text, ["List Files", "Final Answer"]).action == "List Files"


def test_parses_against_the_real_action_registry():
    import mlr_copilot.env.environment  # noqa: F401  (registers every action)
    from mlr_copilot.env.actions import DEFAULT_OFFERED, REGISTRY as REAL
    offered = [REAL[name] for name in DEFAULT_OFFERED]
    r = parse_response("Thought: run\nAction: execute script\nAction Input: train.py", offered)
    assert (r.action, r.action_input) == ("Execute Script", {"script_name": "train.py"})
    r = parse_response("Thought: look\nAction: List Files", offered)  # dir_path is optional
    assert (r.action, r.action_input) == ("List Files", {})
    err = _error("Thought: t\nAction: Write File\nAction Input: {}", offered)
    assert "is not one of: " + ", ".join(DEFAULT_OFFERED) in str(err)


def test_action_without_arguments_needs_no_input():
    reg = ActionRegistry()
    action("Stop", "stop", [], "nothing", registry=reg)(_noop)
    assert parse_response("Thought: done\nAction: Stop", reg).action_input == {}
    assert parse_response("Thought: done\nAction: Stop\nAction Input: {}", reg).action_input == {}


def _error(text: str, offered=None) -> FormatError:
    with pytest.raises(FormatError) as info:
        parse_response(text, OFFERED if offered is None else offered)
    return info.value


@pytest.mark.parametrize("text,message", [
    ("", "the response is empty"),
    ("   \n  ", "the response is empty"),
    ("Thought: t\nAction Input: {\"dir_path\": \".\"}", "missing 'Action:' entry"),
    ("Thought: t\nAction: Copy File", "missing 'Action Input:' entry; Copy File needs a JSON object with "
                                      "'source', 'destination'"),
    ("Thought: t\nAction: Copy File\nAction Input:  \n", "the 'Action Input:' entry is empty"),
    ("Reflection: r\nAction: List Files\nAction Input: {\"dir_path\": \".\"}", "missing 'Thought:' entry"),
    ("I think we should list the files.", "missing 'Thought:', 'Action:' and 'Action Input:' entries"),
    ("Thought: t\nAction:\nAction Input: {}", "the 'Action:' entry is empty"),
])
def test_missing_parts_are_named(text, message):
    err = _error(text)
    assert message in str(err)
    assert isinstance(err, MLRError)


def test_unknown_action_lists_the_offered_ones():
    err = _error("Thought: t\nAction: Run Python\nAction Input: {\"code\": \"1\"}")
    assert str(err) == "Action 'Run Python' is not one of: " + ", ".join(a.name for a in OFFERED)
    assert err.kind == "unknown_action"


def test_registered_action_that_is_not_offered_is_refused():
    err = _error("Thought: t\nAction: Write File\nAction Input: {\"file_name\": \"a\", \"content\": \"b\"}")
    assert "Action 'Write File' is not one of:" in str(err)
    assert parse_response("Thought: t\nAction: Write File\nAction Input: {\"file_name\": \"a\", \"content\": \"b\"}",
                          REGISTRY).action == "Write File"


@pytest.mark.parametrize("written", ["Final Answer is not ready, so I will look at the files",
                                     "List Files and then Execute Script"])
def test_a_sentence_that_starts_with_an_action_name_is_refused(written):
    err = _error(f"Thought: t\nAction: {written}\nAction Input: {{}}")
    assert f"Action '{written}' is not one of:" in str(err)


def test_ambiguous_action_name_is_refused():
    err = _error("Thought: t\nAction: Edit Script\nAction Input: {}")
    assert "Action 'Edit Script' is not one of:" in str(err)


def test_bad_json_names_the_position_and_the_action():
    err = _error("Thought: t\nAction: Copy File\nAction Input: {\n  \"source\": \"a.py\"\n  \"destination\" \"b.py\"\n}")
    assert str(err).startswith("Action Input is not valid JSON: Expecting ")
    assert "at line 3 column" in str(err)
    assert err.action == "Copy File"
    assert err.kind == "bad_json"


def test_input_that_is_not_an_object():
    err = _error("Thought: t\nAction: Copy File\nAction Input: a.py to b.py")
    assert "Action Input is not a JSON object" in str(err)
    assert "'a.py to b.py'" in str(err)


def test_corrective_message_names_the_problem_and_the_format():
    err = _error("Thought: t\nAction: Copy File\nAction Input: {\"source\" \"a.py\"}")
    msg = corrective_message(err, OFFERED)
    assert str(err) in msg
    assert REGISTRY["Copy File"].usage_block() in msg  # the usage of the action it meant
    order = [msg.rindex(f"\n{name}:") for name in ("Reflection", "Research Plan and Status", "Fact Check",
                                                  "Thought", "Action", "Action Input")]
    assert order == sorted(order)
    assert "valid JSON" in msg


def test_corrective_message_for_unknown_action_lists_the_offer():
    err = _error("Thought: t\nAction: Fly\nAction Input: {}")
    msg = corrective_message(err, OFFERED)
    assert "Action 'Fly' is not one of" in msg
    for info in OFFERED:
        assert info.name in msg


def test_corrective_message_for_a_missing_entry_shows_an_example():
    err = _error("Thought: run the baseline\nAction: Execute Script")
    msg = corrective_message(err, OFFERED)
    assert msg.startswith("Your last response could not be used: missing 'Action Input:' entry; "
                          "Execute Script needs a JSON object with 'script_name'.")
    assert '"script_name"' in msg


def test_parse_action_input_alone():
    assert parse_action_input('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_action_input("{'a': None,}") == {"a": None}
    assert parse_action_input('{"x": "say "hi""}', ["x"]) == {"x": 'say "hi"'}
    with pytest.raises(FormatError, match="Action Input is empty"):
        parse_action_input("  ")
    with pytest.raises(FormatError, match="not valid JSON"):
        parse_action_input('{"x": "say "hi""}')


def test_deeply_nested_input_is_a_format_error_not_a_crash():
    with pytest.raises(FormatError):
        parse_action_input("{" + '"a": [' * 5000 + "1" + "]" * 5000 + "}")
    with pytest.raises(FormatError):
        parse_action_input("{" + "[" * 100_000)


# ------------------------------------------------------------ the recorded MLR-Copilot run

def _fixture_steps() -> list[dict]:
    if not FIXTURE.is_dir():
        pytest.skip(f"recorded MLR-Copilot logs not available ({FIXTURE} is absent)")
    return read_original_log(FIXTURE / "full_log.json")


def _fixture_offered() -> list[ActionInfo]:
    """The action registry exactly as the recorded run declared it (trace.json)."""
    trace = json.loads((FIXTURE / "trace.json").read_text(encoding="utf-8"))
    reg = ActionRegistry()
    for info in trace["action_infos"].values():
        args = [Arg(k, str(v)) for k, v in info["usage"].items()]
        action(info["name"], info["description"], args, info["return_value"], registry=reg)(_noop)
    return reg.all()


def _raw_newline_json(value) -> str:
    """JSON as a model writes it when it forgets to escape newlines inside strings."""
    text = json.dumps(value, indent=4, ensure_ascii=False)
    return text.replace("\\n", "\n") if "\\\\" not in text else text


def _renderings(entries: dict) -> dict[str, str]:
    args = entries["Action Input"]
    narrative = [(k, v) for k, v in entries.items() if k not in ("Action", "Action Input")]
    action_name = entries["Action"].strip()

    def build(fmt_entry, fmt_input) -> str:
        body = "".join(fmt_entry(k, v.strip()) for k, v in narrative)
        return body + fmt_entry("Action", action_name) + fmt_input(args)

    return {
        "original": reconstruct_response(entries),
        "compact JSON": build(lambda k, v: f"{k}: {v}\n", lambda a: "Action Input: " + json.dumps(a)),
        "raw newlines in strings": build(lambda k, v: f"{k}: {v}\n\n",
                                         lambda a: "Action Input: " + _raw_newline_json(a)),
        "markdown, fenced, observation": build(
            lambda k, v: f"**{k}:** {v}\n\n",
            lambda a: "**Action Input:**\n```json\n" + json.dumps(a, indent=2) + "\n```\nObservation: ..."),
    }


def test_every_step_of_the_recorded_run_parses_back():
    steps = _fixture_steps()
    offered = _fixture_offered()
    assert len(steps) == 17
    checked = 0
    for k, obj in enumerate(steps, 1):
        entries = obj["entries"]
        for shape, text in _renderings(entries).items():
            r = parse_response(text, offered)
            where = f"step {k}, {shape}"
            assert r.action == entries["Action"].strip(), where
            assert r.action_input == entries["Action Input"], where
            for name in ("Reflection", "Research Plan and Status", "Fact Check", "Thought", "Questions"):
                assert r.entries.get(name, "") == entries.get(name, "").strip(), (where, name)
            checked += 1
    assert checked == 17 * 4


def test_the_recorded_run_parses_against_our_own_action_registry():
    """Our actions keep MLR-Copilot's names and argument names, so its responses still parse."""
    import mlr_copilot.env.environment  # noqa: F401  (registers every action)
    from mlr_copilot.env.actions import DEFAULT_OFFERED, REGISTRY as REAL
    offered = [REAL[name] for name in DEFAULT_OFFERED]
    for obj in _fixture_steps():
        r = parse_response(reconstruct_response(obj["entries"]), offered)
        assert r.action == obj["entries"]["Action"].strip()
        assert REAL[r.action].validate(r.action_input) == obj["entries"]["Action Input"]
