"""What the tree strategy shows the model, and what it takes from the answer.

* ``system_prompt`` / ``node_prompt``: what stays the same for the whole run (role, problem,
  preview (``tree_preview``), ``installed_packages``: ``prompts/tree_system.txt``, so a local backend keeps its
  state on disk for the next run of the task), and the prompt of one node (``prompts/tree_node.txt``): memory of earlier
  nodes, the stage's instructions with the parent's code (and, to debug, its error output),
  and the human's latest feedback.
* ``split_fences`` / ``extract_code`` / ``opens_python_block`` / ``plan_text`` /
  ``compile_error``: the fenced blocks read line by line, the script from them, whether there
  is one, the plan around it, and a syntax check that needs no run.
* ``timeout_error`` / ``duplicate_note``: what the model is told of a node that ran past its
  time limit, or whose code repeated an earlier node's.
* the memory of earlier nodes and the draft instructions name models through ``tree_models``.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Sequence

from ..templates import render
from .metric import MetricSpec
from .error_hints import error_hint
from .tree import Node, Tree
from .tree_preview import InputColumns
from .tree_models import (columns_note, draft_idea, ensemble_example, fitted_model, model_name, picked_columns,
                          stronger_models, widen_columns)

MEMORY_NODES = 12  # at most this many earlier nodes are listed in the prompt
MEMORY_DROP = 6  # past that, the oldest lines go this many at a time (see memory_text)
PLAN_CHARS = 200
ERROR_HEAD_CHARS = 600
ERROR_TAIL_CHARS = 1400
IMPROVE_IDEAS = (  # taken in turn, so successive improvements try different kinds of change
    "a stronger model (for example {stronger}, whichever suits this data)",
    "an ensemble that averages the current model with a different kind of model ({ensemble})",
    "better hyper-parameters for the current model, set directly (for example more trees, another depth, "
    "learning rate or regularisation strength; no grid search, it takes too long)",
    "{preprocessing}",
)
PREPROCESSING = ("better preprocessing or features (for example scaling, or new features computed from the columns), "
                 "applied to the test data the same way (a make_pipeline does it)")
TEXT_PREPROCESSING = ("better text features (for example word pairs with ngram_range=(1, 2), sublinear_tf=True, "
                      "min_df=2, or added character n-grams), inside the same make_pipeline so the test texts get "
                      "them too")
ML_PACKAGES = (("numpy", "numpy"), ("pandas", "pandas"), ("scikit-learn", "sklearn"), ("scipy", "scipy"),
               ("torch", "torch"), ("torchvision", "torchvision"), ("xgboost", "xgboost"),
               ("lightgbm", "lightgbm"), ("catboost", "catboost"), ("tensorflow", "tensorflow"),
               ("keras", "keras"), ("statsmodels", "statsmodels"), ("transformers", "transformers"))

_OPENING = re.compile(r"[ ]{0,3}```[ \t]*([A-Za-z0-9_+-]*)")  # a fence at the start of a line
_OPENING_AT_END = re.compile(r"```(python3?|py)[ \t]*$")  # "... the script: ```python"
PYTHON = ("python", "py", "python3")
_TIMING = re.compile(r", after [0-9.]+ s\.")


# ----------------------------------------------------------------- the answer
def split_fences(response: str) -> tuple[str, list[tuple[str, str]]]:
    """(the text outside code blocks, [(language, code), ...]). A block opens with ``` at the
    start of a line, or with ```python ending a line; a line of only ``` closes it, as does
    ``` ending the block's last line; a block left open runs to the end. Backticks inside a
    line open nothing: 13% of the tree's answers echoed "in ONE ```python code block" before
    their code, which an earlier parser took for the block."""
    outside: list[str] = []
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in (response or "").splitlines():
        m = _OPENING.match(line)
        if lang is None:
            end = None if m else _OPENING_AT_END.search(line)
            if m or end:
                lang, body = (m or end).group(1).lower(), []
                if end:
                    outside.append(line[:end.start()])
            else:
                outside.append(line)
        elif not body and m and line.strip() != "```":  # "```python" twice
            lang = m.group(1).lower()
        elif line.strip() == "```" or line.rstrip().endswith("```"):
            last = line.rstrip()[:-3]
            blocks.append((lang, "\n".join(body + ([last] if last.strip() else []))))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        blocks.append((lang, "\n".join(body)))
    return "\n".join(outside), blocks


def extract_code(response: str) -> str | None:
    """The script in the response: the longest ```python block (else the longest block of any
    language); a block the model did not close runs to the end. None when there is no block,
    or only empty ones (a digits draft answered "```python" and a closing fence)."""
    blocks = split_fences(response)[1]
    python = [code for lang, code in blocks if lang in PYTHON and code.strip()]
    pool = python or [code for lang, code in blocks if lang == "" and code.strip()] \
        or [code for _, code in blocks if code.strip()]
    if not pool:
        return None
    return max(pool, key=len).strip("\n").rstrip() + "\n"


def opens_python_block(response: str) -> bool:
    """Whether the response opens a ```python block (an answer cut at its first closing fence
    that does not was cut at some other block, or has no code)."""
    return any(lang in PYTHON for lang, _ in split_fences(response)[1])


def plan_text(response: str) -> str:
    """The first sentence of the model's words outside the code blocks, on one line, cut to
    ``PLAN_CHARS``, without a "Plan:" label, list numbers, markdown headings and bold marks.
    The memory of later prompts shows these plans: long, list-like ones there taught the
    embedded model to write long, list-like plans (a hundred tokens a node) that said little."""
    text = split_fences(response)[0]
    text = re.sub(r"(?m)^[ \t]*(#+|[-*]|\d+[.)])[ \t]*", "", text).replace("**", "")
    text = " ".join(text.split())
    # without a "Plan:" label, nor an echo of the answer format ("First one sentence that names the change:")
    text = re.sub(r"^((the|your) )?plan\b([ \t]+in\b[^:.]{0,40})?[ \t]*:?[ \t]*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^(first )?(one )?(sentence|change)\b[^:.]{0,40}:[ \t]*", "", text, flags=re.IGNORECASE)
    end = re.search(r"[.!?](?=\s|$)", text)
    text = text[:end.end()] if end else text
    return text[:PLAN_CHARS].rstrip() + ("…" if len(text) > PLAN_CHARS else "")


def compile_error(code: str, filename: str) -> str | None:
    """A description of the syntax error in ``code``, or None when it compiles."""
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        line = (exc.text or "").rstrip()
        return f"SyntaxError: {exc.msg}{where}" + (f"\n    {line}" if line else "")
    except ValueError as exc:  # null bytes and the like
        return f"The code cannot be compiled: {exc}"
    return None


def error_excerpt(output: str) -> str:
    """Head and tail of a failed run's output, without its run time (prompts stay reproducible)."""
    text = _TIMING.sub(".", output or "").strip()
    if len(text) <= ERROR_HEAD_CHARS + ERROR_TAIL_CHARS:
        return text
    return f"{text[:ERROR_HEAD_CHARS]}\n[... {len(text) - ERROR_HEAD_CHARS - ERROR_TAIL_CHARS} characters ...]\n" \
           f"{text[-ERROR_TAIL_CHARS:]}"


def failing_line(error: str, script: str, code: str | None) -> str | None:
    """``line N: <code>`` for the last traceback frame in ``script`` (where the error was raised
    in the node's own code), or None when the output names no line of it."""
    name = Path(script).name
    frames = [int(m.group(2)) for m in re.finditer(r'File "([^"]*)", line (\d+)', error or "")
              if Path(m.group(1)).name == name]
    lines = (code or "").splitlines()
    if not frames or not 0 < frames[-1] <= len(lines):
        return None
    return f"line {frames[-1]}: {lines[frames[-1] - 1].strip()[:200]}"


_INSTALLED_PATH = re.compile(r" \((?:/|[A-Za-z]:\\)[^()]*\)")  # "(/usr/lib/python3/site-packages/x.py)"


def last_error_line(error: str) -> str:
    """The line of an error output that says the most: the last 'SomethingError: ...' line,
    without the paths of installed files ("cannot import name 'X' from 'sklearn.ensemble'
    (/.../sklearn/ensemble/__init__.py)"): a path says nothing to the model and is this machine's."""
    lines = [_INSTALLED_PATH.sub("", ln).strip() for ln in (error or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b", ln) or ln.startswith("no line 'Validation"):
            return ln[:200]
    return lines[-1][:200] if lines else "failed"


# ------------------------------------------------------------------ the prompt
def memory_text(tree: Tree, limit: int = MEMORY_NODES) -> str:
    """Earlier nodes, one line each: what the code fits (the plan when nothing is found) and
    the outcome. Plans are left out where the model is known: the embedded model began its
    answers with a copy of a memory line, plan, model and an invented score (8 of 8 offline
    samples of 4 improve prompts), and 5 of those 8 answers then stopped before any code;
    without the plans none copied, each named a change of its own and gave its code."""
    done = [n for n in tree.nodes if n.done]
    if not done:
        return ""
    # The heading and the lines before the newest stay the same from node to node, so the
    # model's cached prompt state goes on to the end of the previous node's memory. Dropping
    # the oldest line at each node once the list is full would shift every line and make the
    # model read the whole memory and code again (1,021 prompt tokens instead of about 600 at
    # the 10th node of a digits run), so old lines go ``MEMORY_DROP`` at a time.
    drop = min(MEMORY_DROP, limit)
    start = 0 if len(done) <= limit else ((len(done) - limit - 1) // drop + 1) * drop
    shown = done[start:]
    lines = ["\n# Earlier attempts"]
    for n in shown:
        origin = n.stage if n.parent is None else f"{n.stage} of node {n.parent}"
        model = fitted_model(n.code)
        lines.append(f"- Node {n.id} ({origin}): {f'fits {model}' if model else n.plan or 'no plan given'}"
                     f" -> {n.outcome}")
    if len(shown) < len(done):
        lines.append(f"({len(done)} attempts so far, the last {len(shown)} shown)")
    best = tree.best()
    if best is not None:
        lines.append(f"Best so far: node {best.id}, validation {tree.metric.label} {best.metric:.6g}.")
    return "\n".join(lines) + "\n"


def outcome_text(node: Node, metric: MetricSpec) -> str:
    if node.duplicate_of is not None:
        return f"same code as node {node.duplicate_of}, not run again"
    if node.good:
        return f"validation {metric.label} {node.metric:.6g}"
    return f"failed: {last_error_line(node.error)}"


def duration_text(seconds: float) -> str:
    """A time limit in words: "90 seconds", "5 minutes", "2 hours"."""
    if seconds < 120:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def timeout_error(limit_s: float | None) -> str:
    """The last line of a timed-out node's error: what its debug prompt and the memory show."""
    within = f" within {duration_text(limit_s)}" if limit_s is not None else ""
    return (f"TimeoutError: the script did not finish{within} and was stopped; make it faster (a smaller "
            f"or simpler model, fewer trees or iterations, less data per fit).")


def duplicate_note(same: Node, metric: MetricSpec) -> str:
    """What the model is told when its script repeats node ``same``'s code."""
    if same.good:
        result = f"which scored validation {metric.label} {same.metric:.6g}"
    elif same.error:
        result = f"which failed with: {last_error_line(same.error)}"
    else:
        result = "which was already tried"
    return (f"Your last answer repeated the script of node {same.id} exactly, {result}. Write a "
            f"different version that makes the change asked above; do not copy the script unchanged.")


def node_prompt(tree: Tree, node: Node, *, script: str, starter_code: str | None, feedback: str | None,
                with_memory: bool = True, note: str | None = None, time_limit_s: float | None = None,
                text: str | None = None, columns: InputColumns = InputColumns()) -> str:
    """The prompt of one node; ``text`` is the data's free-text column (``text_column``), if any;
    ``columns`` its input columns of text categories and with gaps (``mixed_columns``)."""
    parent = tree.get(node.parent)
    metric = tree.metric
    if node.stage == "draft":
        drafts = [n for n in tree.nodes if n.stage == "draft" and n.id != node.id]
        starter = model_name(fitted_model(starter_code))
        used = list(dict.fromkeys(name for name in (model_name(fitted_model(n.code)) for n in drafts) if name))
        instructions = ("Write a first complete solution. Reuse the starter's data loading and output "
                        "format, but choose the model yourself, still fast and reliable. The drafts try "
                        f"different model families; this one: {draft_idea(len(drafts), metric, text)}, if it "
                        "suits this data (else another family)."
                        + columns_note(columns, reused=starter_code)
                        + (f" The starter fits {starter}." if starter else "")
                        + (f" Earlier drafts fit {', '.join(used)}." if used else ""))
        code = (f"\n# The starter {script} in the working directory (it runs; reuse its data loading and "
                f"output format)\n```python\n{starter_code.rstrip()}\n```\n" if starter_code else "")
    elif node.stage == "improve":
        improves = sum(1 for n in tree.nodes if n.stage == "improve" and n.id < node.id)
        ensemble = ensemble_example(metric, fitted_model(parent.code), text)
        idea = IMPROVE_IDEAS[improves % len(IMPROVE_IDEAS)].format(
            stronger=stronger_models(metric, text), ensemble=ensemble,
            preprocessing=TEXT_PREPROCESSING if text else PREPROCESSING)
        instructions = (f"Improve node {parent.id} (validation {metric.label} {parent.metric:.6g}, "
                        f"{metric.describe()}). Make ONE concrete change that should improve the "
                        f"validation {metric.label}: {idea}. Keep the rest working."
                        + columns_note(columns, code=parent.code, reused=parent.code))
        code = f"\n# The script of node {parent.id}\n```python\n{(parent.code or '').rstrip()}\n```\n"
    else:
        where = failing_line(parent.error, script, parent.code)
        instructions = (f"The script of node {parent.id} failed with: {last_error_line(parent.error)}"
                        + (f"\nThe error was raised at {where}" if where else "")
                        + "\nFind the bug and fix it (change the code that causes the error); return the "
                          "whole corrected script."
                        + (left_out_columns(parent, columns) or error_meaning(parent.error, columns.names)))
        code = (f"\n# The script of node {parent.id}\n```python\n{(parent.code or '').rstrip()}\n```\n"
                f"\n# What went wrong when it ran\n```\n{parent.error.strip()}\n```\n")
    feedback_text = (f"\n# Human feedback (follow it in this version)\n{feedback.strip()}\n"
                     if feedback and feedback.strip() else "")
    return render("agents.prompts", "tree_node",
                  memory=memory_text(tree) if with_memory else "", instructions=instructions, code=code,
                  feedback=feedback_text, note=f"\n# Note\n{note.strip()}\n" if note else "",
                  script=script, metric=metric.label, direction=metric.describe(),
                  time_limit=f"within {duration_text(time_limit_s)}" if time_limit_s is not None
                  else "in a few minutes at most")


def left_out_columns(parent: Node, columns: InputColumns) -> str:
    """For a debug: when the error names an input column that the script's own column list
    leaves out, the line that keeps them all (``widen_columns``)."""
    picked = picked_columns(parent.code, columns)
    if picked is None:
        return ""
    error = last_error_line(parent.error or "")
    left_out = [c for c in columns.inputs if c not in picked[2] and re.search(
        rf"(?<![\w]){re.escape(c)}(?![\w])", error)]
    return f"\nThe error names input columns the script leaves out: {widen_columns(picked, columns, parent.code)}" \
        if left_out else ""


def error_meaning(error: str | None, names: Sequence[str] = ()) -> str:
    """What the error usually means (``error_hints``; ``names``: the data's columns), as a line of a debug prompt."""
    hint = error_hint(error or "", names)
    return f"\nWhat this error usually means: {hint}." if hint else ""


def installed_packages() -> str:
    """Which well-known ML packages the scripts can import and which they cannot (scripts run
    with this interpreter), so the model does not build a node on a missing one: in a digits
    suite run a draft was written for TensorFlow, and the debugs of its ModuleNotFoundError
    gave back no code."""
    found = {name: importlib.util.find_spec(module) is not None for name, module in ML_PACKAGES}
    missing = [name for name, ok in found.items() if not ok]
    return (f"Installed: {', '.join(name for name, ok in found.items() if ok) or 'none of the usual ML packages'}."
            + (f" Not installed (do not import): {', '.join(missing)}." if missing else ""))


def system_prompt(problem: str, preview: str, packages: str) -> str:
    return render("agents.prompts", "tree_system", problem=problem.strip(), data_preview=preview,
                  packages=packages).strip()
