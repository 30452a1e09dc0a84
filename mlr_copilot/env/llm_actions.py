"""The LLM-backed actions: Understand File, the two AI edits, Reflection, Retrieval from
Research Log, and Retrieve Model / Retrieve Dataset.

Each one reaches a model only through ``ctx.models`` (``fast`` reads and summarises, ``edit``
rewrites code, ``main`` reflects), so tests drive them with ``ScriptedLLM``. Paths go through
``ctx.sandbox.resolve``; AI edits call ``files.backup_before_write`` first, so Undo Edit Script
also undoes them. Errors the agent can fix raise ``ActionError`` (its message is the
observation); model errors propagate to the engine, which decides whether the run goes on.
"""
from __future__ import annotations

import io
import logging
import re
from pathlib import Path

from ..errors import ActionError, LLMContextTooLongError
from ..llm.base import LLM, STOP_REPEATED, Completion, Models
from ..templates import render
from .actions import Arg, action
from .context import ActionContext
from .data_columns import tables_paragraph
from .data_preview import PreviewUnavailable, is_structured, preview
from .definition_repair import repair_script
from .file_io import existing_file, open_regular, read_bytes_bounded, write_text_atomic
from .files import backup_before_write
from . import research_log
from .hub_retrieve import retrieve_from_hub
from .llm_edit import clip_middle, extract_code, is_truncated, language_for, unified_diff

logger = logging.getLogger(__name__)

UNDERSTAND_BLOCK_CHARS = 10_000  # characters of file text per Understand File block
UNDERSTAND_MAX_BLOCKS = 20  # blocks read at most; the rest of a huge file is left unread
UNDERSTAND_MAX_TOKENS = 1_500
UNDERSTAND_DATA_MAX_TOKENS = 400  # the answer about a data file's preview: a few lines
MERGE_MAX_TOKENS = 2_000
EDIT_MAX_TOKENS = 8_000  # the edit model's whole output budget: a full file must fit in it
EDIT_READ_MAX_BYTES = 8 << 20  # the AI edits read a whole file: never more than this
CHARS_PER_TOKEN = 4  # generous estimate: code rarely packs more characters into a token
REFLECTION_MAX_TOKENS = 2_000
RETRIEVAL_MAX_TOKENS = 1_500
RESEARCH_LOG_TAIL_CHARS = 40_000  # Reflection and Retrieval show the newest part of a longer log
EDIT_DIFF_NOTE = "please check whether the edit is correct and desirable"

_FILE_NAME = "a valid file name with relative path to the current directory if needed"
_SCRIPT_NAME = "a valid python script name with relative path to the current directory if needed"
_EDIT_RETURN = (f"The observation is a unified diff of the edit; {EDIT_DIFF_NOTE}. "
                "If it is far from right, use Undo Edit Script to revert it.")


# --- Understand File ------------------------------------------------------------------

@action("Understand File",
        "Read a whole file and extract what you ask for: describe precisely what to look for "
        "and what to return. Long files are read in blocks whose answers are then combined. "
        "For exact lines, use Inspect Script Lines instead.",
        [Arg("file_name", _FILE_NAME),
         Arg("things_to_look_for", "a detailed description of what to look for and what to return")],
        "A description of the relevant content, citing line numbers, or an error message if the "
        "file cannot be read.", uses_llm=True)
def understand_file(ctx: ActionContext, file_name: str, things_to_look_for: str) -> str:
    models = _models(ctx)
    path = existing_file(ctx, file_name)
    if is_structured(path):
        try:
            table = preview(path, file_name)
        except PreviewUnavailable as exc:
            logger.info("no data preview of %s (%s); reading it as text", file_name, exc)
        else:
            prompt = render("env.prompts", "understand_data", file_name=file_name, preview=table,
                            things_to_look_for=things_to_look_for)
            answer = _ask(models.fast, prompt, UNDERSTAND_DATA_MAX_TOKENS, "understand_file")
            return f"{answer}\n\nPreview of {file_name} (computed from the file):\n{table}"
    blocks, complete = _read_blocks(path, file_name)
    if not blocks:
        return f"The file {file_name} is empty."
    total_note = f" of {blocks[-1][1]}" if complete else ""
    answers = []
    for start, end, text in blocks:
        prompt = render("env.prompts", "understand_block", file_name=file_name, start_line=start,
                        end_line=end, total_note=total_note, block=text,
                        things_to_look_for=things_to_look_for)
        answers.append((start, end, _ask(models.fast, prompt, UNDERSTAND_MAX_TOKENS, "understand_file")))
    if len(answers) == 1:
        result = answers[0][2]
    else:
        summaries = "\n\n".join(f"Lines {s}-{e}:\n{a}" for s, e, a in answers)
        prompt = render("env.prompts", "understand_merge", file_name=file_name, parts=len(answers),
                        things_to_look_for=things_to_look_for, summaries=summaries)
        result = _ask(models.fast, prompt, MERGE_MAX_TOKENS, "understand_file_merge")
    if not complete:
        result += (f"\n\n[Only lines 1-{blocks[-1][1]} of {file_name} were read; the file goes on "
                   "beyond that. Use Inspect Script Lines for later parts.]")
    return result


def _read_blocks(path: Path, file_name: str) -> tuple[list[tuple[int, int, str]], bool]:
    """Numbered blocks of lines within the character budget; streams, never loads a huge file."""
    with open_regular(path, file_name) as fh:
        if b"\0" in fh.read(8192):
            raise ActionError(f"{file_name} is a binary file; Understand File reads text files only.")
    blocks: list[tuple[int, int, str]] = []
    lines: list[str] = []
    size = 0
    start = 1
    number = 0
    with io.TextIOWrapper(open_regular(path, file_name), encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(_bounded_lines(fh, UNDERSTAND_BLOCK_CHARS), 1):
            if lines and size + len(line) > UNDERSTAND_BLOCK_CHARS:
                blocks.append((start, number - 1, "\n".join(lines)))
                if len(blocks) == UNDERSTAND_MAX_BLOCKS:
                    return blocks, False
                lines, size, start = [], 0, number
            lines.append(f"{number}: {line}")
            size += len(line) + 1
    if lines:
        blocks.append((start, number, "\n".join(lines)))
    return blocks, True


def _bounded_lines(fh, limit: int):
    """Lines without their line end; a line longer than ``limit`` is cut (and its rest skipped
    without holding it in memory), so one giant line cannot exhaust memory or the budget."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith("\n"):
            skipped = len(line) - limit
            while True:
                rest = fh.readline(1 << 20)
                skipped += len(rest.rstrip("\r\n"))
                if not rest or rest.endswith("\n"):
                    break
            line = line[:limit] + f" [... line cut: {skipped:,} more characters]"
        yield line.rstrip("\r\n")


# --- Edit Script (AI) and Edit Script Segment (AI) -----------------------------------------

@action("Edit Script (AI)",
        "Make a larger but coherent change to a script by describing it: another AI rewrites "
        "the file following your instruction and saves it under save_name. If script_name does "
        "not exist, the file is written from scratch.",
        [Arg("script_name", _SCRIPT_NAME + "; if it does not exist, a new file is written"),
         Arg("edit_instruction", "a detailed, step-by-step description of the edit"),
         Arg("save_name", "the file name to save the edited script to, with relative path if needed")],
        _EDIT_RETURN, uses_llm=True)
def edit_script(ctx: ActionContext, script_name: str, edit_instruction: str, save_name: str) -> str:
    models = _models(ctx)
    source = ctx.sandbox.resolve(script_name)
    target = _writable_target(ctx, save_name)
    language = language_for(save_name) or language_for(script_name)
    if source.exists():
        old, newline = _read_text(source, script_name)
        _check_fits(old, script_name, "Edit Script Segment (AI) on a part of it")
        prompt = render("env.prompts", "edit_script", file_name=script_name, content=old,
                        edit_instruction=edit_instruction, language=language,
                        tables=tables_paragraph(ctx.workspace, edit_instruction))
    else:
        old, newline = "", "\n"
        prompt = render("env.prompts", "create_script", file_name=script_name, edit_instruction=edit_instruction,
                        language=language, tables=tables_paragraph(ctx.workspace, edit_instruction)).lstrip()
    new = _with_final_newline(_edit_reply(ctx, models.edit, prompt, script_name, language))
    new, repair_note = _repaired(ctx, old, new, save_name, language, edit_instruction)
    _write(ctx, target, new, newline)
    diff = unified_diff(old, new, script_name, save_name)
    return _edit_observation(ctx, save_name, diff, repair_note)


@action("Edit Script Segment (AI)",
        "Like Edit Script (AI), but only the lines from start_line_number to end_line_number are "
        "given to the other AI and replaced; the rest of the file is kept as it is. Use it for "
        "long files.",
        [Arg("script_name", _SCRIPT_NAME),
         Arg("start_line_number", "a valid line number", int),
         Arg("end_line_number", "a valid line number", int),
         Arg("edit_instruction", "a detailed, step-by-step description of the edit"),
         Arg("save_name", "the file name to save the edited script to, with relative path if needed")],
        _EDIT_RETURN + " The diff covers the edited segment.", uses_llm=True)
def edit_script_segment(ctx: ActionContext, script_name: str, start_line_number: int,
                        end_line_number: int, edit_instruction: str, save_name: str) -> str:
    models = _models(ctx)
    start, end = start_line_number, end_line_number
    if start < 1:
        raise ActionError(f"start_line_number must be 1 or more, got {start}.")
    if end < start:
        raise ActionError(f"end_line_number ({end}) is before start_line_number ({start}).")
    source = existing_file(ctx, script_name)
    target = _writable_target(ctx, save_name)
    old, newline = _read_text(source, script_name)
    lines = old.splitlines(keepends=True)
    if not lines:
        raise ActionError(f"{script_name} is empty; use Edit Script (AI) to write it.")
    if start > len(lines):
        raise ActionError(f"start_line_number {start} is past the end of {script_name}, "
                          f"which has {len(lines)} lines.")
    note = ""
    if end > len(lines):
        note = f"{script_name} has only {len(lines)} lines, so lines {start}-{len(lines)} were edited.\n"
        end = len(lines)
    segment = "".join(lines[start - 1:end])
    _check_fits(segment, f"lines {start}-{end} of {script_name}", "a smaller segment")
    language = language_for(script_name)
    prompt = render("env.prompts", "edit_segment", file_name=script_name, start_line=start,
                    end_line=end, total_lines=len(lines), segment=segment.rstrip("\n"),
                    edit_instruction=edit_instruction, language=language)
    new_segment = _edit_reply(ctx, models.edit, prompt, f"lines {start}-{end} of {script_name}", language)
    if new_segment and (segment.endswith("\n") or end < len(lines)):
        new_segment += "\n"
    new = "".join(lines[:start - 1]) + new_segment + "".join(lines[end:])
    repaired, repair_note = _repaired(ctx, old, new, save_name, language, edit_instruction)
    _write(ctx, target, repaired, newline)
    if repaired == new:
        diff = unified_diff(segment, new_segment, script_name, save_name, line_offset=start - 1)
    else:  # lines outside the segment changed too: the diff shows the whole file
        diff = unified_diff(old, repaired, script_name, save_name)
    return note + _edit_observation(ctx, save_name, diff, repair_note)


def _edit_reply(ctx: ActionContext, llm: LLM, prompt: str, what: str, language: str) -> str:
    try:
        completion = llm.complete([{"role": "user", "content": prompt}],
                                  max_tokens=EDIT_MAX_TOKENS, purpose="edit_script")
    except LLMContextTooLongError:
        raise ActionError(f"{what} is too long for the edit model's context; nothing was written. "
                          "Edit a smaller segment with Edit Script Segment (AI).") from None
    if is_truncated(completion.stop_reason):
        logger.warning("edit reply for %s cut off at %d tokens (stop reason %s); not written",
                       what, EDIT_MAX_TOKENS, completion.stop_reason)
        raise ActionError(
            f"The edit model's reply was cut off at its output limit ({EDIT_MAX_TOKENS} tokens) before "
            f"the code for {what} was complete, so nothing was written. Edit a smaller part at a "
            "time with Edit Script Segment (AI).")
    if completion.stop_reason == STOP_REPEATED:  # a review probe's edit repeated two lines until cut, mid-bracket
        raise ActionError(f"The edit model's reply for {what} kept repeating the same lines and was cut off; nothing "
                          "was written. Ask for one precise change that names what to replace and with what.")
    code = extract_code(completion.text, language)
    if not code.strip():
        raise ActionError(f"The edit model returned no code for {what}; nothing was written. "
                          "Rephrase the edit instruction.")
    return code


def _repaired(ctx: ActionContext, old: str, new: str, save_name: str, lang: str, instruction: str) -> tuple[str, str]:
    """(the edited Python script with the lines it dropped but uses put back and its imports
    fixed, a note saying what changed and which names are still undefined, for the
    observation). The edit model rewrites whole files and often loses a line it was not asked
    to touch; finding that out by running costs the agent two steps, and the small models
    rarely find the lost line again (``definition_repair``)."""
    if lang != "python":
        return new, ""
    repair = repair_script(old or None, new, instruction, ctx.workspace)
    note = ""
    if repair.notes:
        note += "\n\nBefore saving, the edited script was repaired (the diff below shows it):\n" + \
            "\n".join(f"- {n}" for n in repair.notes)
    if repair.unbound:
        note += (f"\n\nWarning: {save_name} reads {', '.join(repair.unbound)}, which it defines nowhere: "
                 "running it will stop with a NameError. Fix the edit, or take it back with Undo Edit Script.")
    return repair.code, note


EDIT_CHANGED_NOTHING = "The edit changed nothing."  # agents read it: such an edit is not a change


def _edit_observation(ctx: ActionContext, save_name: str, diff: str, repair_note: str = "") -> str:
    """What the agent reads after an AI edit; a repair note comes before the diff, which long
    observations cut."""
    if not diff:
        return f"The edited file is saved to {save_name}. {EDIT_CHANGED_NOTHING}{repair_note}"
    diff = clip_middle(diff, ctx.config.observation_budget, "characters of the diff")
    if repair_note:
        return f"The edited file is saved to {save_name}.{repair_note}\n\nHere is the diff, {EDIT_DIFF_NOTE}:\n\n{diff}"
    return f"The edited file is saved to {save_name}. Here is the diff, {EDIT_DIFF_NOTE}:\n\n{diff}"


def _check_fits(text: str, what: str, alternative: str) -> None:
    limit = EDIT_MAX_TOKENS * CHARS_PER_TOKEN
    if len(text) > limit:
        raise ActionError(f"{what} has {len(text)} characters, more than the edit model can write back "
                          f"in one reply (about {limit}); nothing was changed. Use {alternative}.")


def _with_final_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _write(ctx: ActionContext, path: Path, text: str, newline: str) -> None:
    backup_before_write(ctx, path)  # so Undo Edit Script can take the edit back
    write_text_atomic(path, text.replace("\n", newline) if newline != "\n" else text)


# --- Reflection and the research log -------------------------------------------------------

@action("Reflection",
        "Step back and reflect on the work so far, using the research log. Say precisely what to "
        "reflect on and what the reflection should contain.",
        [Arg("things_to_reflect_on", "a detailed description of what to reflect on and what to return")],
        "The reflection.", uses_llm=True)
def reflection(ctx: ActionContext, things_to_reflect_on: str) -> str:
    models = _models(ctx)
    log = read_research_log(ctx)
    prompt = render("env.prompts", "reflection", research_problem=ctx.research_problem or "(not given)",
                    research_log=_log_for_prompt(log), things_to_reflect_on=things_to_reflect_on)
    return _ask(models.main, prompt, REFLECTION_MAX_TOKENS, "reflection")


@action("Retrieval from Research Log",
        "Recall what the research log holds that matters for the current plan.",
        [Arg("current_plan", "a detailed description of the current research plan and status")],
        "The relevant content of the research log.", uses_llm=True, bookkeeping=True)
def retrieval_from_research_log(ctx: ActionContext, current_plan: str) -> str:
    log = read_research_log(ctx)
    if not log.strip():
        return "Research Log is empty right now"
    models = _models(ctx)
    prompt = render("env.prompts", "research_log_retrieval",
                    research_problem=ctx.research_problem or "(not given)",
                    research_log=_log_for_prompt(log), current_plan=current_plan or "(not given)")
    return _ask(models.fast, prompt, RETRIEVAL_MAX_TOKENS, "research_log_retrieval")


def read_research_log(ctx: ActionContext) -> str:
    """The research log of the run ('' when none was written yet)."""
    return research_log.read(ctx)


def _log_for_prompt(log: str) -> str:
    if not log.strip():
        return "(empty)"
    if len(log) <= RESEARCH_LOG_TAIL_CHARS:
        return log
    return "[... earlier entries omitted ...]\n" + log[-RESEARCH_LOG_TAIL_CHARS:]


# --- Retrieve Model / Retrieve Dataset -----------------------------------------------------

@action("Retrieve Model",
        "Search the Hugging Face Hub for pretrained models that suit a purpose you describe. "
        "Returns the most downloaded matches with their ids, to load in your scripts. The instruction "
        "'download <model id>' instead puts that model's files in prototype/models/ (runs with network only).",
        [Arg("instruction", "a description of the model needed: task, data, size or other constraints")],
        "A short list of model ids with downloads, task and why each fits, or a message saying "
        "the Hub could not be searched.", uses_llm=True)
def retrieve_model(ctx: ActionContext, instruction: str) -> str:
    return retrieve_from_hub(ctx, _models(ctx).fast, "model", instruction)


@action("Retrieve Dataset",
        "Search the Hugging Face Hub for datasets that suit a purpose you describe. Returns the "
        "most downloaded matches with their ids, to load in your scripts.",
        [Arg("instruction", "a description of the data needed: task, domain, language, size")],
        "A short list of dataset ids with downloads, tags and why each fits, or a message saying "
        "the Hub could not be searched.", uses_llm=True)
def retrieve_dataset(ctx: ActionContext, instruction: str) -> str:
    return retrieve_from_hub(ctx, _models(ctx).fast, "dataset", instruction)


# --- shared helpers ------------------------------------------------------------------------

def _models(ctx: ActionContext) -> Models:
    if ctx.models is None:
        raise ActionError("This action needs a language model, and none is configured for this run.")
    return ctx.models


def _ask(llm: LLM, prompt: str, max_tokens: int, purpose: str) -> str:
    completion: Completion = llm.complete([{"role": "user", "content": prompt}],
                                          max_tokens=max_tokens, purpose=purpose)
    text = completion.text.strip()
    if is_truncated(completion.stop_reason):
        text += "\n[... the answer was cut off at the model's output limit]"
    return text


def _writable_target(ctx: ActionContext, save_name: str) -> Path:
    if not save_name.strip():
        raise ActionError("save_name is empty: give the file name to save the edited script to.")
    path = ctx.sandbox.resolve(save_name, for_write=True)  # read-only: refused before any model call
    if path.is_dir():
        raise ActionError(f"save_name {save_name} is a directory, not a file.")
    return path


def _read_text(path: Path, name: str) -> tuple[str, str]:
    """The file's text with '\\n' line ends, and the line end to write it back with."""
    data, size = read_bytes_bounded(path, name, EDIT_READ_MAX_BYTES + 1)
    if size > EDIT_READ_MAX_BYTES:
        raise ActionError(f"{name} has {size:,} bytes, more than the AI edit actions read "
                          f"({EDIT_READ_MAX_BYTES:,}); nothing was changed.")
    if b"\0" in data[:8192]:
        raise ActionError(f"{name} is a binary file; the AI edit actions edit text files only.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ActionError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    return re.sub(r"\r\n?", "\n", text), newline
