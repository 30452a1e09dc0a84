"""The live view of a run in the terminal: where the log is, what the model is doing, each step.

It listens to ``progress`` reports (the library never prints) and writes to one stream:
- ``run``: the run directory, as soon as it exists;
- ``step`` thinking: a status line with the elapsed time and, where the backend reports
  them (the embedded llama.cpp model), the tokens generated so far; redrawn every second in
  a terminal, repeated every ``PLAIN_EVERY_S`` seconds in a log file;
- ``step_done``: the step's thought, action, arguments and the head of its observation, in
  every feedback mode (``quiet`` leaves them out);
- ``script``: a running script's elapsed time and (unless ``quiet``) its last output line.
Text from the run is printed as plain text, never as markup.
"""
from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from typing import Any

from .. import progress
from .result import plural

PLAIN_EVERY_S = 30.0  # in a log file, a status line at most this often
OBSERVATION_LINES = 8
ARG_CHARS = 200
LINE_CHARS = 160


def _cut(text: str, limit: int) -> str:
    text = text.replace("\r", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProgressPrinter:
    """Shows the run directory, the model's progress, each finished step, scripts and batch runs."""

    def __init__(self, stream=None, *, quiet: bool = False, tick_s: float = 1.0,
                 observation_lines: int = OBSERVATION_LINES):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet
        self.tick_s = tick_s
        self.observation_lines = observation_lines
        self._plain_at = 0.0
        self._lock = threading.RLock()
        self._thinking: dict[str, Any] | None = None  # step, max_steps, since, tokens, shown_at
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- output ------------------------------------------------------------------------
    def _line(self, text: str, *, transient: bool = False) -> None:
        with self._lock:
            if self.tty:
                width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
                shown = _cut(text, width) if transient else text
                self.stream.write("\r\x1b[K" + shown + ("" if transient else "\n"))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    # -- listeners ---------------------------------------------------------------------
    def run(self, run_dir: str, task: str = "", resumed: bool = False) -> None:
        self._line(f"{'Resuming' if resumed else 'Run'} {task}: log in {run_dir}")

    def step(self, step: int, max_steps: int, phase: str, action: str = "") -> None:
        self._plain_at = 0.0
        with self._lock:
            if phase == "thinking":
                self._thinking = {"step": step, "max_steps": max_steps, "since": time.monotonic(),
                                  "tokens": 0, "shown_at": 0.0}
            else:
                self._thinking = None
        if phase == "thinking":
            self._line(self.thinking_text(), transient=True)
        else:
            self._line(f"[step {step}/{max_steps}] {phase}{': ' + action if action else ''}")

    def tokens(self, generated: int) -> None:
        with self._lock:
            if self._thinking is not None:
                self._thinking["tokens"] = int(generated)

    def thinking_text(self, now: float | None = None) -> str:
        with self._lock:
            t = self._thinking
            if t is None:
                return ""
            elapsed = (now if now is not None else time.monotonic()) - t["since"]
            text = f"[step {t['step']}/{t['max_steps']}] thinking {elapsed:.0f} s"
            if t["tokens"]:
                text += f" · {plural(t['tokens'], 'token')} generated"
            return text

    def tick(self, now: float | None = None) -> None:
        """Redraw the thinking line (a terminal), or repeat it now and then (a log file)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._thinking is None:
                return
            if not self.tty:
                if now - self._thinking["since"] < PLAIN_EVERY_S or now - self._thinking["shown_at"] < PLAIN_EVERY_S:
                    return
                self._thinking["shown_at"] = now
            self._line(self.thinking_text(now), transient=True)

    def step_done(self, view, max_steps: int, seconds: float = 0.0, usage: Any = None,
                  cost_usd: float = 0.0, node: int | None = None) -> None:
        with self._lock:
            self._thinking = None
        if self.quiet:
            return
        self._line("\n".join(self.step_block(view, max_steps, seconds, usage, cost_usd, node)))

    def step_block(self, view, max_steps: int, seconds: float, usage: Any, cost_usd: float,
                   node: int | None = None) -> list[str]:
        """``node``: the step ends tree node ``node``, and ``max_steps`` counts nodes."""
        meta = [f"{seconds:.1f} s"] if node is None else [f"step {view.step}", f"{seconds:.1f} s"]
        if usage is not None and (usage.input_tokens or usage.output_tokens):
            meta.append(f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens")
        if cost_usd:
            meta.append(f"${cost_usd:.4f}")
        counter = f"Step {view.step}/{max_steps}" if node is None else f"Node {node}/{max_steps}"
        lines = [f"── {counter} · {view.action} · {' · '.join(meta)}"]
        thought = " ".join(str(view.thought).split())
        if thought:
            lines.append(f"Thought: {_cut(thought, 2 * LINE_CHARS)}")
        lines.append(f"Action: {view.action}")
        for key, value in (view.action_input or {}).items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            lines.append(f"  {key}: {_cut(' '.join(str(shown).split()), ARG_CHARS)}")
        obs = str(view.observation).rstrip().splitlines()
        head = obs[: self.observation_lines]
        more = f" (first {len(head)} of {len(obs)} lines)" if len(obs) > len(head) else ""
        lines.append(f"Observation{more}:")
        lines += [f"  {_cut(line, LINE_CHARS)}".rstrip() for line in head] or ["  (empty)"]
        return lines

    def script(self, elapsed_s: float, last_line: str) -> None:
        if not self.tty and self._plain_at and elapsed_s - self._plain_at < PLAIN_EVERY_S:
            return  # in a log file, a line every 30 s is enough
        self._plain_at = elapsed_s
        shown = "" if self.quiet else f" | {last_line[:100]}"  # quiet: how long, not what it prints
        self._line(f"  script running {elapsed_s:.0f} s{shown}", transient=self.tty)

    def batch(self, job, counts: dict) -> None:
        """A batch's progress: finished / running / queued, and each run as it ends."""
        total = sum(counts.values())
        head = (f"[batch {counts['finished']}/{total} finished, {counts['running']} running, "
                f"{counts['queued']} queued]")
        if job is None:
            self._line(head, transient=self.tty)
        else:
            self._line(f"{head} {job.task} / {job.llm} / trial {job.trial}: {job.run_dir or job.error}")

    # -- lifetime ----------------------------------------------------------------------
    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.tick()

    def __enter__(self):
        # quiet: nobody listens to step_done, so a console feedback channel shows the step itself
        for kind in ("run", "step", "tokens", "script") + (() if self.quiet else ("step_done",)):
            progress.listen(kind, getattr(self, kind))
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="live-view", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        for kind in ("run", "step", "tokens", "step_done", "script"):
            progress.listen(kind, None)
        with self._lock:
            if self.tty and self._thinking is not None:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._thinking = None
