"""Human feedback channels: how a person steers a run between steps.

- ``ConsoleFeedback``: after each step shows thought, action and the head of the
  observation, then reads one line: empty continues, text becomes feedback for the next
  prompt, ``/stop`` ends the run cleanly, ``/auto`` stops asking, ``/help`` lists these.
- ``FileFeedback``: lines appended to a file while the run goes are picked up at the next
  step (for long headless runs).
- ``NoFeedback``: autonomous.
Request Help reaches the same channel through ``ask``.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import progress

logger = logging.getLogger(__name__)

HELP_TEXT = (
    "Commands: press Enter to continue; type text to give feedback for the next step; "
    "/stop ends the run cleanly; /auto stops asking (the run goes on autonomously); /help shows this."
)


@dataclass
class StepView:
    """What a person sees of one finished step."""

    step: int
    thought: str
    action: str
    action_input: dict
    observation: str


@dataclass
class FeedbackResult:
    text: str | None = None
    stop: bool = False


class FeedbackChannel:
    """Base channel: nobody there."""

    interactive = False

    def after_step(self, view: StepView) -> FeedbackResult:
        return FeedbackResult()

    def ask(self, question: str) -> str | None:
        return None


class NoFeedback(FeedbackChannel):
    pass


class ConsoleFeedback(FeedbackChannel):
    """Reads feedback from a terminal. ``input_fn``/``output`` are injectable for tests."""

    interactive = True

    def __init__(self, input_fn: Callable[[str], str] = input, output=None, observation_head: int = 600):
        self._input = input_fn
        self._out = output if output is not None else sys.stderr
        self._head = observation_head
        self.auto = False

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def after_step(self, view: StepView) -> FeedbackResult:
        if self.auto:
            return FeedbackResult()
        if not progress.listening("step_done"):  # the live view shows the step already
            self._show(view)
        while True:
            try:
                line = self._input("Feedback (Enter to continue, /help): ")
            except EOFError:
                self.auto = True
                return FeedbackResult()
            line = line.strip()
            if line == "/help":
                self._print(HELP_TEXT)
                continue
            if line == "/stop":
                return FeedbackResult(stop=True)
            if line == "/auto":
                self.auto = True
                self._print("No more questions: the run goes on autonomously.")
                return FeedbackResult()
            return FeedbackResult(text=line or None)

    def _show(self, view: StepView) -> None:
        obs = view.observation
        if len(obs) > self._head:
            obs = obs[: self._head] + f"\n... ({len(view.observation) - self._head} more characters in the log)"
        self._print(f"\n── Step {view.step} ──\nThought: {view.thought.strip()}\n"
                    f"Action: {view.action} {view.action_input}\nObservation:\n{obs}")

    def ask(self, question: str) -> str | None:
        if self.auto:
            return None
        self._print(f"\nThe agent asks for help:\n{question}")
        try:
            answer = self._input("Your answer: ").strip()
        except EOFError:
            return None
        return answer or None


class FileFeedback(FeedbackChannel):
    """Picks up lines appended to ``path`` since the last step. Never blocks."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def _new_lines(self) -> str | None:
        if not self.path.exists():
            return None
        size = self.path.stat().st_size
        if size < self._offset:  # truncated or replaced: read it all again
            self._offset = 0
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        # Only consume complete lines; a line still being written waits for the next step.
        end = data.rfind(b"\n")
        if end < 0:
            return None
        self._offset += end + 1
        text = data[: end + 1].decode("utf-8", errors="replace").strip()
        return text or None

    def after_step(self, view: StepView) -> FeedbackResult:
        text = self._new_lines()
        if text == "/stop":
            return FeedbackResult(stop=True)
        if text and text.splitlines()[-1].strip() == "/stop":
            return FeedbackResult(text="\n".join(text.splitlines()[:-1]) or None, stop=True)
        return FeedbackResult(text=text)

    def ask(self, question: str) -> str | None:
        logger.warning("The agent asks for help (answer by appending to %s): %s", self.path, question)
        return self._new_lines()


class CombinedFeedback(FeedbackChannel):
    """Console and file together: feedback from both is joined."""

    def __init__(self, channels: Sequence[FeedbackChannel]):
        self.channels = list(channels)
        self.interactive = any(c.interactive for c in self.channels)

    def after_step(self, view: StepView) -> FeedbackResult:
        texts, stop = [], False
        for channel in self.channels:
            result = channel.after_step(view)
            stop = stop or result.stop
            if result.text:
                texts.append(result.text)
            if stop:
                break
        return FeedbackResult(text="\n".join(texts) or None, stop=stop)

    def ask(self, question: str) -> str | None:
        for channel in self.channels:
            answer = channel.ask(question)
            if answer:
                return answer
        return None


def make_feedback(mode: str = "auto", feedback_file: str | None = None, *,
                  stdin_is_tty: bool | None = None) -> FeedbackChannel:
    """``mode``: auto (console when stdin is a terminal), console, none."""
    if stdin_is_tty is None:
        stdin_is_tty = sys.stdin is not None and sys.stdin.isatty()
    channels: list[FeedbackChannel] = []
    if mode == "console" or (mode == "auto" and stdin_is_tty):
        channels.append(ConsoleFeedback())
    elif mode not in ("auto", "none"):
        raise ValueError(f"unknown feedback mode {mode!r}: use auto, console or none")
    if feedback_file:
        channels.append(FileFeedback(feedback_file))
    if not channels:
        return NoFeedback()
    return channels[0] if len(channels) == 1 else CombinedFeedback(channels)
