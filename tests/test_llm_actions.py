"""The LLM-backed actions on real files in tmp_path, with a ScriptedLLM as every model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlr_copilot.env.actions import REGISTRY
from mlr_copilot.env.context import ActionContext, EnvConfig
from mlr_copilot.env.llm_actions import EDIT_MAX_TOKENS, UNDERSTAND_BLOCK_CHARS, UNDERSTAND_MAX_BLOCKS, read_research_log
from mlr_copilot.env.research_log import RESEARCH_LOG_NAME
from mlr_copilot.env.llm_edit import extract_code, unified_diff
from mlr_copilot.env.sandbox import Sandbox
from mlr_copilot.errors import ActionError, PathEscapeError, ReadOnlyError
from mlr_copilot.llm.base import Completion, Models, Usage
from mlr_copilot.llm.scripted import ScriptedLLM

TRACE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mlr-copilot-logs"

SCRIPT = "import numpy as np\n\n\ndef train():\n    lr = 0.1\n    return lr\n\n\nprint(train())\n"


class CutOffLLM:
    """A model whose reply ran out of output budget (stop_reason as the provider reports it)."""

    model = "cut-off"

    def __init__(self, text: str, stop_reason: str = "max_tokens"):
        self.text, self.stop_reason, self.calls = text, stop_reason, []

    def complete(self, messages, *, max_tokens=2000, temperature=0.0, stop=(), response_spec=None,
                 purpose="agent"):
        self.calls.append({"max_tokens": max_tokens, "purpose": purpose})
        return Completion(text=self.text, model=self.model, usage=Usage(), stop_reason=self.stop_reason)


def make_ctx(tmp_path: Path, *, main=None, fast=None, edit=None, read_only=(), problem="Improve accuracy."):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    log = tmp_path / "env_log"
    log.mkdir(exist_ok=True)
    config = EnvConfig(sandbox="none", read_only=read_only)
    scripted = ScriptedLLM([])
    models = Models(main=main or scripted, fast=fast or scripted, edit=edit or scripted)
    return ActionContext(workspace=ws, env_log_dir=log, config=config, sandbox=Sandbox(ws, config, log),
                         models=models, research_problem=problem)


def run(ctx, name, **args):
    info = REGISTRY[name]
    return info.function(ctx, **info.validate(args))


def fenced(code: str, lang: str = "python") -> str:
    return f"Here is the edited script:\n\n```{lang}\n{code}```\nThe change sets the rate."


# --- registry: names and argument keys stay those of MLAgentBench / MLR-Copilot ---------------

EXPECTED = {
    "Understand File": ("file_name", "things_to_look_for"),
    "Edit Script (AI)": ("script_name", "edit_instruction", "save_name"),
    "Edit Script Segment (AI)": ("script_name", "start_line_number", "end_line_number",
                                 "edit_instruction", "save_name"),
    "Reflection": ("things_to_reflect_on",),
    "Retrieval from Research Log": ("current_plan",),
    "Append Summary to Research Log": ("content",),
    "Retrieve Model": ("instruction",),
    "Retrieve Dataset": ("instruction",),
}


def test_actions_are_registered_with_the_original_names_and_keys():
    for name, keys in EXPECTED.items():
        info = REGISTRY[name]
        assert info.arg_names == keys, name
        assert info.uses_llm or name == "Append Summary to Research Log"
    assert REGISTRY["Retrieval from Research Log"].bookkeeping
    assert REGISTRY["Append Summary to Research Log"].bookkeeping
    assert not REGISTRY["Edit Script (AI)"].bookkeeping


def test_keys_match_the_recorded_original_trace():
    traces = sorted(TRACE.glob("*/trace.json"))
    if not traces:
        pytest.skip("the recorded MLR-Copilot trace (../shared) is not available")
    infos = json.loads(traces[0].read_text())["action_infos"]
    for name in EXPECTED:
        if name in infos:
            assert tuple(infos[name]["usage"]) == REGISTRY[name].arg_names, name


def test_without_models_the_action_says_so(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.models = None
    (ctx.workspace / "a.txt").write_text("x\n")
    with pytest.raises(ActionError, match="needs a language model"):
        run(ctx, "Understand File", file_name="a.txt", things_to_look_for="x")


# --- Understand File --------------------------------------------------------------------------

def test_understand_short_file_in_one_call(tmp_path):
    fast = ScriptedLLM(["The learning rate is 0.1 (line 5)."])
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "train.py").write_text(SCRIPT)
    obs = run(ctx, "Understand File", file_name="train.py", things_to_look_for="the learning rate")
    assert obs == "The learning rate is 0.1 (line 5)."
    prompt = fast.calls[0]["messages"][0]["content"]
    assert "5:     lr = 0.1" in prompt and "the learning rate" in prompt and "of 9" in prompt
    assert fast.calls[0]["purpose"] == "understand_file"


def test_understand_long_file_reads_blocks_then_merges(tmp_path):
    lines = [f"row {i}: " + "x" * 90 for i in range(1, 301)]  # ~30,000 characters

    def answer(messages):
        prompt = messages[0]["content"]
        if "was read in" in prompt:
            return "the whole file"
        return "answer for " + prompt.split("(lines ")[1].split(" of")[0]

    fast = ScriptedLLM([answer], repeat_last=True)
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "data.txt").write_text("\n".join(lines) + "\n")
    obs = run(ctx, "Understand File", file_name="data.txt", things_to_look_for="what rows hold")
    assert obs == "the whole file"
    block_prompts = [c["messages"][0]["content"] for c in fast.calls[:-1]]
    assert len(block_prompts) == 3
    numbered = [p.split("```")[1].strip().splitlines() for p in block_prompts]
    for block in numbered:
        assert sum(len(line.split(": ", 1)[1]) + 1 for line in block) <= UNDERSTAND_BLOCK_CHARS
    assert [int(line.split(":")[0]) for block in numbered for line in block] == list(range(1, 301))
    merge = fast.calls[-1]["messages"][0]["content"]
    assert "Lines 1-101:\nanswer for 1 to 101" in merge and "Lines 202-300:\nanswer for 202 to 300" in merge
    assert fast.calls[-1]["purpose"] == "understand_file_merge"


def test_understand_huge_file_reads_a_bounded_prefix_and_says_so(tmp_path):
    fast = ScriptedLLM(["seen"], repeat_last=True)
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "big.log").write_text(("1,2,3," + "9" * 994 + "\n") * 2_500)  # 2.5 MB
    obs = run(ctx, "Understand File", file_name="big.log", things_to_look_for="columns")
    assert len(fast.calls) == UNDERSTAND_MAX_BLOCKS + 1
    assert "the file goes on beyond that" in obs and "Inspect Script Lines" in obs


def test_understand_cuts_a_giant_line(tmp_path):
    fast = ScriptedLLM(["a JSON list of numbers", "a text line", "numbers, then a text line"])
    ctx = make_ctx(tmp_path, fast=fast)
    (ctx.workspace / "one_line.json").write_text("[" + "1, " * 1_000_000 + "1]\nlast line\n")
    obs = run(ctx, "Understand File", file_name="one_line.json", things_to_look_for="format")
    assert obs == "numbers, then a text line" and len(fast.calls) == 3
    first, second = (c["messages"][0]["content"] for c in fast.calls[:2])
    assert "line cut: 2,990,003 more characters" in first and len(first) < UNDERSTAND_BLOCK_CHARS + 2_000
    assert "2: last line" in second


def test_understand_bad_inputs(tmp_path):
    ctx = make_ctx(tmp_path, fast=ScriptedLLM([]))
    with pytest.raises(ActionError, match="does not exist"):
        run(ctx, "Understand File", file_name="nope.txt", things_to_look_for="x")
    (ctx.workspace / "model.bin").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(ActionError, match="binary"):
        run(ctx, "Understand File", file_name="model.bin", things_to_look_for="x")
    (ctx.workspace / "sub").mkdir()
    with pytest.raises(ActionError, match="directory"):
        run(ctx, "Understand File", file_name="sub", things_to_look_for="x")
    with pytest.raises(PathEscapeError):
        run(ctx, "Understand File", file_name="../outside.txt", things_to_look_for="x")
    (ctx.workspace / "empty.txt").write_text("")
    assert "empty" in run(ctx, "Understand File", file_name="empty.txt", things_to_look_for="x")


# --- Edit Script (AI) -------------------------------------------------------------------------

def test_edit_writes_the_file_and_returns_a_diff(tmp_path):
    edit = ScriptedLLM([fenced(SCRIPT.replace("lr = 0.1", "lr = 0.01"))])
    ctx = make_ctx(tmp_path, edit=edit)
    (ctx.workspace / "train.py").write_text(SCRIPT)
    obs = run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="lower the lr",
              save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT.replace("lr = 0.1", "lr = 0.01")
    assert "saved to train.py" in obs and "check whether the edit is correct and desirable" in obs
    assert "-    lr = 0.1\n+    lr = 0.01" in obs
    call = edit.calls[0]
    assert call["max_tokens"] == EDIT_MAX_TOKENS and call["purpose"] == "edit_script"
    assert SCRIPT in call["messages"][0]["content"] and "lower the lr" in call["messages"][0]["content"]


def test_edit_to_another_name_keeps_the_original(tmp_path):
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced("print('v2')\n")]))
    (ctx.workspace / "train.py").write_text(SCRIPT)
    run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="rewrite",
        save_name="exp/train_v2.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT
    assert (ctx.workspace / "exp" / "train_v2.py").read_text() == "print('v2')\n"


def test_edit_of_a_missing_script_creates_it(tmp_path):
    edit = ScriptedLLM([fenced("print('hello')\n")])
    ctx = make_ctx(tmp_path, edit=edit)
    obs = run(ctx, "Edit Script (AI)", script_name="new.py", edit_instruction="print hello",
              save_name="new.py")
    assert (ctx.workspace / "new.py").read_text() == "print('hello')\n"
    assert "+print('hello')" in obs
    assert "does not exist yet" in edit.calls[0]["messages"][0]["content"]


def test_edit_can_be_undone(tmp_path):
    pytest.importorskip("mlr_copilot.env.files")
    if "Undo Edit Script" not in REGISTRY:
        pytest.skip("Undo Edit Script is not registered yet")
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced("print('one')\n"), fenced("print('two')\n")]))
    (ctx.workspace / "train.py").write_text(SCRIPT)
    for _ in range(2):  # two edits in the same second: both backups kept
        run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="x", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == "print('two')\n"
    run(ctx, "Undo Edit Script", script_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == "print('one')\n"
    run(ctx, "Undo Edit Script", script_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT


@pytest.mark.parametrize("reason", ["max_tokens", "length", "repetition"])
def test_cut_off_edit_is_not_written(tmp_path, reason):
    """A reply cut at the output limit, or by the local backend because it kept repeating lines
    (a review probe's edit ended inside a bracket), is never saved as the script."""
    llm = CutOffLLM("```python\nimport numpy as np\n\ndef tra", reason)
    ctx = make_ctx(tmp_path, edit=llm)
    (ctx.workspace / "train.py").write_text(SCRIPT)
    said = "kept repeating the same lines" if reason == "repetition" else "output limit"
    with pytest.raises(ActionError, match=f"{said}.*cut off.*nothing was written|{said}.*nothing was written"):
        run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="x", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT
    assert llm.calls[0]["max_tokens"] == EDIT_MAX_TOKENS


def test_edit_of_read_only_file_is_refused_before_asking_the_model(tmp_path):
    edit = ScriptedLLM([fenced("x = 1\n")])
    ctx = make_ctx(tmp_path, edit=edit, read_only=["data/*", "eval.py"])
    (ctx.workspace / "eval.py").write_text("print('grader')\n")
    (ctx.workspace / "data").mkdir()
    with pytest.raises(ReadOnlyError):
        run(ctx, "Edit Script (AI)", script_name="eval.py", edit_instruction="x", save_name="eval.py")
    with pytest.raises(ReadOnlyError):
        run(ctx, "Edit Script (AI)", script_name="eval.py", edit_instruction="x", save_name="data/new.py")
    assert edit.calls == [] and (ctx.workspace / "eval.py").read_text() == "print('grader')\n"
    run(ctx, "Edit Script (AI)", script_name="eval.py", edit_instruction="x", save_name="my_eval.py")
    assert (ctx.workspace / "my_eval.py").read_text() == "x = 1\n"


def test_edit_bad_inputs(tmp_path):
    ctx = make_ctx(tmp_path, edit=ScriptedLLM(["   "]))
    (ctx.workspace / "train.py").write_text(SCRIPT)
    with pytest.raises(PathEscapeError):
        run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="x", save_name="/tmp/evil.py")
    with pytest.raises(ActionError, match="save_name is empty"):
        run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="x", save_name="")
    with pytest.raises(ActionError, match="returned no code"):
        run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="x", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT
    (ctx.workspace / "huge.py").write_text("x = 1\n" * 10_000)
    with pytest.raises(ActionError, match="Edit Script Segment"):
        run(ctx, "Edit Script (AI)", script_name="huge.py", edit_instruction="x", save_name="huge.py")


def test_edit_keeps_windows_line_ends(tmp_path):
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced("a = 1\nb = 3\n")]))
    (ctx.workspace / "s.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    obs = run(ctx, "Edit Script (AI)", script_name="s.py", edit_instruction="b=3", save_name="s.py")
    assert (ctx.workspace / "s.py").read_bytes() == b"a = 1\r\nb = 3\r\n"
    assert "-b = 2\n+b = 3" in obs


SPLIT_SCRIPT = ("rows = list(range(10))\nfit_part, val_part = rows[:8], rows[8:]\n"
                "mean = sum(fit_part) / len(fit_part)\nprint(f'Validation error: {abs(mean - val_part[0])}')\n")


def test_an_edit_that_dropped_a_line_it_still_uses_gets_it_back_and_says_so(tmp_path):
    dropped = "rows = list(range(10))\nmean = sum(fit_part) / len(fit_part) + 0\n" \
              "print(f'Validation error: {abs(mean - val_part[0])}')\n"
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced(dropped)]))
    (ctx.workspace / "train.py").write_text(SPLIT_SCRIPT)
    obs = run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="add zero", save_name="train.py")
    saved = (ctx.workspace / "train.py").read_text()
    assert saved == SPLIT_SCRIPT.replace("len(fit_part)\n", "len(fit_part) + 0\n")
    assert "put back `fit_part, val_part = rows[:8], rows[8:]`" in obs and "NameError" not in obs
    assert "-fit_part, val_part" not in obs  # the diff is of the saved file
    assert obs.index("put back") < obs.index("Here is the diff")  # before the diff, which long observations cut
    namespace: dict = {}
    exec(compile(saved, "train.py", "exec"), namespace)  # noqa: S102 - the saved script runs
    assert namespace["mean"] == 3.5


def test_an_edit_that_reads_a_name_nothing_defines_is_saved_with_a_warning(tmp_path):
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced(SPLIT_SCRIPT.replace("len(fit_part)", "n_fit"))]))
    (ctx.workspace / "train.py").write_text(SPLIT_SCRIPT)
    obs = run(ctx, "Edit Script (AI)", script_name="train.py", edit_instruction="use n", save_name="train.py")
    assert "n_fit" in (ctx.workspace / "train.py").read_text()
    assert "Warning: train.py reads n_fit, which it defines nowhere" in obs and "Undo Edit Script" in obs


def test_a_segment_edit_that_dropped_a_line_used_below_it_gets_it_back(tmp_path):
    ctx = make_ctx(tmp_path, edit=ScriptedLLM([fenced("rows = list(range(20))\n")]))
    (ctx.workspace / "train.py").write_text(SPLIT_SCRIPT)
    obs = run(ctx, "Edit Script Segment (AI)", script_name="train.py", start_line_number=1, end_line_number=2,
              edit_instruction="more rows", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SPLIT_SCRIPT.replace("range(10)", "range(20)")
    assert "put back `fit_part, val_part = rows[:8], rows[8:]` (line 2" in obs


# --- Edit Script Segment (AI) ----------------------------------------------------------------

def test_segment_edit_replaces_only_those_lines(tmp_path):
    original = "".join(f"line{i} = {i}\n" for i in range(1, 21))
    edit = ScriptedLLM([fenced("line5 = 50\nline6 = 60\nextra = True\n")])
    ctx = make_ctx(tmp_path, edit=edit)
    (ctx.workspace / "s.py").write_text(original)
    obs = run(ctx, "Edit Script Segment (AI)", script_name="s.py", start_line_number=5,
              end_line_number="6", edit_instruction="times ten", save_name="s.py")
    new = (ctx.workspace / "s.py").read_text().splitlines()
    assert new[:4] == [f"line{i} = {i}" for i in range(1, 5)]
    assert new[4:7] == ["line5 = 50", "line6 = 60", "extra = True"]
    assert new[7:] == [f"line{i} = {i}" for i in range(7, 21)]
    prompt = edit.calls[0]["messages"][0]["content"]
    assert "line5 = 5\nline6 = 6" in prompt and "line4 = 4" not in prompt and "line7 = 7" not in prompt
    assert "@@ -5,2 +5,3 @@" in obs  # hunk numbers are the file's own
    assert "line4" not in obs and "line7" not in obs  # the diff is of the segment


def test_segment_keeps_indentation_of_an_indented_block(tmp_path):
    edit = ScriptedLLM(["```python\n    lr = 0.01\n    return lr\n```"])
    ctx = make_ctx(tmp_path, edit=edit)
    (ctx.workspace / "train.py").write_text(SCRIPT)
    run(ctx, "Edit Script Segment (AI)", script_name="train.py", start_line_number=5, end_line_number=6,
        edit_instruction="lower lr", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT.replace("lr = 0.1", "lr = 0.01")


def test_segment_line_number_checks(tmp_path):
    edit = ScriptedLLM([fenced("print(train())\n")])
    ctx = make_ctx(tmp_path, edit=edit)
    (ctx.workspace / "train.py").write_text(SCRIPT)
    args = dict(script_name="train.py", edit_instruction="x", save_name="train.py")
    with pytest.raises(ActionError, match=r"end_line_number \(3\) is before start_line_number \(5\)"):
        run(ctx, "Edit Script Segment (AI)", start_line_number=5, end_line_number=3, **args)
    with pytest.raises(ActionError, match="must be 1 or more"):
        run(ctx, "Edit Script Segment (AI)", start_line_number=0, end_line_number=3, **args)
    with pytest.raises(ActionError, match="past the end of train.py, which has 9 lines"):
        run(ctx, "Edit Script Segment (AI)", start_line_number=12, end_line_number=15, **args)
    with pytest.raises(ActionError, match="must be an integer"):
        run(ctx, "Edit Script Segment (AI)", start_line_number="five", end_line_number=6, **args)
    with pytest.raises(ActionError, match="does not exist"):
        run(ctx, "Edit Script Segment (AI)", start_line_number=1, end_line_number=2,
            script_name="nope.py", edit_instruction="x", save_name="nope.py")
    assert edit.calls == []
    obs = run(ctx, "Edit Script Segment (AI)", start_line_number=9, end_line_number=400, **args)
    assert "has only 9 lines, so lines 9-9 were edited" in obs


def test_segment_cut_off_is_not_written(tmp_path):
    ctx = make_ctx(tmp_path, edit=CutOffLLM("```python\n    lr = 0.0"))
    (ctx.workspace / "train.py").write_text(SCRIPT)
    with pytest.raises(ActionError, match="nothing was written"):
        run(ctx, "Edit Script Segment (AI)", script_name="train.py", start_line_number=5,
            end_line_number=6, edit_instruction="x", save_name="train.py")
    assert (ctx.workspace / "train.py").read_text() == SCRIPT


# --- code extraction and diffs -----------------------------------------------------------------

@pytest.mark.parametrize("reply, expected", [
    ("```python\nx = 1\n```", "x = 1"),
    ("Sure.\n```py\nx = 1\n```\nDone.", "x = 1"),
    ("x = 1\ny = 2\n", "x = 1\ny = 2"),  # no fence: the whole reply
    ("```\nx = 1\n```", "x = 1"),
    ("```bash\npip install x\n```\nthen\n```python\nimport x\nx.run()\n```", "import x\nx.run()"),
    ("```python\nx = 1\n```\nor shorter:\n```python\nx=1\n```", "x = 1"),  # the longest block
    ("```python\nx = 1", "x = 1"),  # no closing fence
    ("```python\nx = 1```", "x = 1"),  # closing fence glued to the last line
    ("~~~python\ns = '```'\n~~~", "s = '```'"),
])
def test_extract_code(reply, expected):
    assert extract_code(reply, "python") == expected


def test_extract_code_prefers_the_file_language():
    reply = "```python\nprint(1)\n```\n```yaml\nlr: 0.1\n```"
    assert extract_code(reply, "yaml") == "lr: 0.1"


def test_diff_marks_a_missing_final_newline():
    assert "\\ No newline at end of file" in unified_diff("a\n", "a\nb", "f", "f")


# --- Reflection and the research log ----------------------------------------------------------

def test_research_log_empty_then_appended_then_retrieved(tmp_path):
    fast = ScriptedLLM(["Step 0 found MCRMSE 0.59."])
    ctx = make_ctx(tmp_path, fast=fast, problem="Predict essay scores.")
    assert run(ctx, "Retrieval from Research Log", current_plan="") == "Research Log is empty right now"
    assert fast.calls == []
    assert run(ctx, "Append Summary to Research Log", content="[Step 0] baseline MCRMSE 0.59") == \
        "Successfully appended to research log"
    run(ctx, "Append Summary to Research Log", content="[Step 1] tried BERT\n")
    log = (ctx.workspace / RESEARCH_LOG_NAME).read_text()
    assert log == "[Step 0] baseline MCRMSE 0.59\n[Step 1] tried BERT\n"
    assert read_research_log(ctx) == log
    obs = run(ctx, "Retrieval from Research Log", current_plan="try DistilBERT")
    assert obs == "Step 0 found MCRMSE 0.59."
    prompt = fast.calls[0]["messages"][0]["content"]
    assert log in prompt and "Predict essay scores." in prompt and "try DistilBERT" in prompt


def test_reflection_uses_the_main_model_with_log_and_problem(tmp_path):
    main = ScriptedLLM(["The baseline is weak; try a transformer."])
    fast = ScriptedLLM([])
    ctx = make_ctx(tmp_path, main=main, fast=fast, problem="Predict essay scores.")
    (ctx.workspace / RESEARCH_LOG_NAME).write_text("[Step 0] baseline MCRMSE 0.59\n")
    obs = run(ctx, "Reflection", things_to_reflect_on="what to try next")
    assert obs == "The baseline is weak; try a transformer."
    prompt = main.calls[0]["messages"][0]["content"]
    assert "baseline MCRMSE 0.59" in prompt and "Predict essay scores." in prompt and "what to try next" in prompt
    assert fast.calls == []


def test_research_log_respects_read_only(tmp_path):
    ctx = make_ctx(tmp_path, read_only=["*.log"])
    with pytest.raises(ReadOnlyError):
        run(ctx, "Append Summary to Research Log", content="x")


def test_long_answers_cut_by_the_model_limit_are_marked(tmp_path):
    ctx = make_ctx(tmp_path, main=CutOffLLM("Reflection that goes on and o", "length"))
    assert run(ctx, "Reflection", things_to_reflect_on="x").endswith("cut off at the model's output limit]")


# --- through the real Environment ---------------------------------------------------------------

def test_ai_edit_and_undo_through_the_environment(tmp_path):
    from mlr_copilot.env.environment import Environment

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text(SCRIPT)
    (ws / "eval.py").write_text("print('grader')\n")
    edit = ScriptedLLM([fenced(SCRIPT.replace("0.1", "0.01"))])
    env = Environment(EnvConfig(sandbox="none", read_only=["eval.py"]), workspace=ws,
                      env_log_dir=tmp_path / "env_log", models=Models(main=edit, fast=edit, edit=edit))
    assert {"Edit Script (AI)", "Edit Script Segment (AI)", "Understand File", "Reflection",
            "Retrieve Model", "Retrieve Dataset"} <= set(env.offered_names)
    obs = env.execute("Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "lower lr",
                                           "save_name": "train.py"}, step=1)
    assert obs.ok and "+    lr = 0.01" in obs.text
    refused = env.execute("Edit Script (AI)", {"script_name": "eval.py", "edit_instruction": "x",
                                               "save_name": "eval.py"}, step=2)
    assert not refused.ok and "read-only" in refused.text
    undone = env.execute("Undo Edit Script", {"script_name": "train.py"}, step=3)
    assert undone.ok and (ws / "train.py").read_text() == SCRIPT
    env.execute_internal("Append Summary to Research Log", {"content": "[Step 1] lowered lr\n"}, step=3)
    assert (ws / RESEARCH_LOG_NAME).read_text() == "[Step 1] lowered lr\n"
