"""The research log the agent keeps, and its entries.

The agent owns its log (:class:`ResearchLog`): after every step it adds an entry, and it
reads the log back into its next prompt, summarised by the fast model when long. The log is
stored where MLR-Copilot keeps it, ``research_log.log`` in the workspace (the Environment
hands over the file, guarded against scripts), so the Reflection action reads it, every
step's snapshot holds it and a resume restores it with the workspace.

The original MLR-Copilot asks the fast model to summarise every step for the research log.
On a CPU that second call costs 10-20 s a step and a 1.5B model's summary adds little to
what the step already says, so the local backend writes a brief entry from the step itself:
the thought, the action and its input, and the lines of the observation that carry numbers
or errors (what a researcher would copy into a lab notebook). Hosted models keep the model
summary (``AgentConfig.research_log_entries``).
"""
from __future__ import annotations

import json
import logging
import re
from typing import Callable, Protocol

from ..errors import ActionError
from ..run_config import ENTRY_MODES
from ..templates import render

logger = logging.getLogger(__name__)

SUMMARISED_ABOVE_CHARS = 3_000
"""A log longer than this goes into the agent's prompt as a summary by the fast model."""
SUMMARY_SOURCE_CHARS = 4 * SUMMARISED_ABOVE_CHARS
"""The newest part of a long log that the summary is made from."""
ENTRY_INPUT_CHARS = 1_000  # of the Action Input, in the prompt for a model-written entry
ENTRY_OBSERVATION_CHARS = 2_500  # of the observation, likewise
ENTRY_MAX_TOKENS = 300
SUMMARY_MAX_TOKENS = 500

Ask = Callable[[str, str, int], str]
"""``ask(prompt, purpose, max_tokens)``: the fast model's answer, through the agent's
accounted call (so budget and call totals count it)."""


class LogFile(Protocol):
    """Where the log is stored (the Environment's ``research_log``)."""

    def append(self, content: str) -> None: ...

    def read(self) -> str: ...


class ResearchLog:
    """The agent's research log: an entry per step, read back into its prompt."""

    def __init__(self, file: LogFile, ask: Ask, *, entries: str = "llm"):
        if entries not in ENTRY_MODES:
            raise ValueError(f"research-log entries must be one of {ENTRY_MODES}, not {entries!r}")
        self.file = file
        self.ask = ask
        self.entries = entries

    def add_step(self, step: int, thought: str, action: str, action_input: dict, observation: str,
                 feedback: str | None) -> None:
        """Write the entry for a finished step (brief, or by the fast model)."""
        if self.entries == "brief":
            entry = brief_entry(step, thought, action, action_input, observation, feedback)
        else:
            prompt = render("agents.prompts", "research_log_entry", step=step, thought=thought, action=action,
                            action_input=json.dumps(action_input, ensure_ascii=False)[:ENTRY_INPUT_CHARS],
                            observation=observation[:ENTRY_OBSERVATION_CHARS], feedback=feedback or "none")
            entry = f"[Step {step}] {self.ask(prompt, 'research_log_entry', ENTRY_MAX_TOKENS)}\n"
        try:
            self.file.append(entry)
        except ActionError as exc:  # read-only for this task, or not writable: the run goes on
            logger.warning("Research-log entry of step %d not written: %s", step, exc)

    def text(self) -> str:
        """The whole log as stored ('' when nothing was written yet)."""
        return self.file.read()

    def for_prompt(self) -> str:
        """The log as the agent's prompt shows it ('' when empty), summarised when long."""
        log = self.text()
        if not log.strip():
            return ""
        if len(log) > SUMMARISED_ABOVE_CHARS:
            prompt = render("agents.prompts", "summarize_research_log", log=log[-SUMMARY_SOURCE_CHARS:])
            log = self.ask(prompt, "summarize_research_log", SUMMARY_MAX_TOKENS)
        return f"Research log so far:\n{log}\n"
_KEY_LINE = re.compile(r"\d|error|exception|traceback|warning|not found|no such", re.IGNORECASE)
MAX_OBSERVATION_LINES = 4
MAX_LINE_CHARS = 200


def brief_entry(step: int, thought: str, action: str, action_input: dict, observation: str,
                feedback: str | None) -> str:
    """A few lines for the research log, built from the step alone."""
    shown_input = json.dumps(action_input, ensure_ascii=False)
    if len(shown_input) > 300:
        shown_input = shown_input[:297] + "..."
    lines = [f"[Step {step}] {action} {shown_input}"]
    if thought.strip():
        lines.append(f"Reasoning: {_one_line(thought)}")
    lines.append(f"Result: {key_lines(observation)}")
    if feedback:
        lines.append(f"Human feedback: {_one_line(feedback)}")
    return "\n".join(lines) + "\n"


def key_lines(observation: str) -> str:
    """The observation's first line and its lines with numbers or errors, in order, bounded."""
    lines = [ln.strip() for ln in observation.splitlines() if ln.strip() and not ln.strip().startswith("```")]
    if not lines:
        return "(no output)"
    picked = [lines[0]] + [ln for ln in lines[1:] if _KEY_LINE.search(ln)]
    if len(picked) > MAX_OBSERVATION_LINES:  # the first line and the last key lines (results come last)
        picked = [picked[0]] + picked[-(MAX_OBSERVATION_LINES - 1):]
    return " | ".join(_clip(ln) for ln in picked)


def _one_line(text: str) -> str:
    return _clip(" ".join(text.split()))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS - 3] + "..."
