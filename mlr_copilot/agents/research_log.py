"""Research-log entries written without a model call.

The original MLR-Copilot asks the fast model to summarise every step for the research log.
On a CPU that second call costs 10-20 s a step and a 1.5B model's summary adds little to
what the step already says, so the local backend writes a brief entry from the step itself:
the thought, the action and its input, and the lines of the observation that carry numbers
or errors (what a researcher would copy into a lab notebook). Hosted models keep the model
summary (``AgentConfig.research_log_entries``).
"""
from __future__ import annotations

import json
import re

ENTRY_MODES = ("llm", "brief")
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
