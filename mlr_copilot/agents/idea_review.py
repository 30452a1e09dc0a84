"""Human review of the IdeaAgent's stages: accept, edit, regenerate with feedback, or quit.

After each of the problem, hypothesis and plan stages a person sees the fields and
chooses. Editing opens ``$VISUAL``/``$EDITOR`` on the fields (the file is parsed with the
same parser as the model's answer, so an edit that drops a field is caught), or asks
field by field when no editor is set. ``--yes`` (``ReviewPolicy.auto()``) accepts all.
Input is read through an injectable function so tests (and other front ends) drive it.
"""
from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from .idea_fields import LIST, Field, format_fields, parse_fields

logger = logging.getLogger(__name__)

ACCEPT, EDIT, REGENERATE, QUIT = "accept", "edit", "regenerate", "quit"
EDIT_MARKER = "# ---- edit the fields below; keep each 'Name:' label ----"
MENU = "[A]ccept (Enter) · [e]dit · [r]egenerate with feedback · [q]uit · [?] help: "
HELP = ("accept: keep these fields and go on. edit: change them (in $EDITOR, or here field by field). "
        "regenerate: write what should change; the model answers again with your feedback. "
        "quit: stop now; nothing is written to problems/.")


@dataclass
class Decision:
    action: str  # accept | edit | regenerate | quit
    feedback: str = ""
    values: dict[str, Any] | None = None  # the fields after an edit
    auto: bool = False  # accepted without asking (--yes)

    def to_dict(self) -> dict:
        return {"action": self.action, "feedback": self.feedback, "auto": self.auto}


def _default_editor() -> str | None:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or None


@dataclass
class ReviewPolicy:
    """How stages are reviewed. The default accepts everything (library use, ``--yes``)."""

    interactive: bool = False
    input_fn: Callable[[str], str] = input
    output: TextIO | None = None  # where the fields are shown; stderr by default
    editor: str | None = field(default_factory=_default_editor)
    max_regenerations: int = 5  # per stage, so a loop of feedback cannot run forever

    @classmethod
    def auto(cls) -> "ReviewPolicy":
        return cls(interactive=False)

    @classmethod
    def for_terminal(cls, yes: bool = False) -> "ReviewPolicy":
        """Interactive when stdin is a terminal and ``--yes`` was not given."""
        tty = sys.stdin is not None and sys.stdin.isatty()
        if not yes and not tty:
            logger.warning("no terminal to review the idea stages: every stage is accepted as generated")
        return cls(interactive=not yes and tty)

    # -- showing and asking -----------------------------------------------------------

    def _print(self, text: str) -> None:
        print(text, file=self.output if self.output is not None else sys.stderr, flush=True)

    def _ask(self, prompt: str) -> str | None:
        try:
            return self.input_fn(prompt)
        except EOFError:
            return None

    def review(self, stage: str, fields: Sequence[Field], values: dict[str, Any], *,
               title: str | None = None, regenerations: int = 0) -> Decision:
        """Show ``values`` and return the person's decision (``accept`` at once when not interactive)."""
        if not self.interactive:
            return Decision(ACCEPT, auto=True)
        self._print(f"\n── {title or stage} ──\n{format_fields(values, fields)}")
        while True:
            answer = self._ask(MENU)
            if answer is None:
                return Decision(QUIT, feedback="input closed")
            choice = answer.strip().lower()
            if choice in ("", "a", "accept", "y", "yes"):
                return Decision(ACCEPT)
            if choice in ("q", "quit", "exit"):
                return Decision(QUIT)
            if choice in ("?", "h", "help"):
                self._print(HELP)
            elif choice in ("r", "regenerate"):
                if regenerations >= self.max_regenerations:
                    self._print(f"This stage was regenerated {regenerations} times already; accept, edit or quit.")
                    continue
                feedback = self._ask("What should change? (Enter goes back): ")
                if feedback is None:
                    return Decision(QUIT, feedback="input closed")
                if feedback.strip():
                    return Decision(REGENERATE, feedback=feedback.strip())
            elif choice in ("e", "edit"):
                edited = self._edit(fields, values)
                if edited is not None:
                    self._print(f"Edited:\n{format_fields(edited, fields)}")
                    return Decision(EDIT, values=edited)
            else:
                self._print(f"Unknown choice {answer.strip()!r}. " + HELP)

    # -- editing ----------------------------------------------------------------------

    def _edit(self, fields: Sequence[Field], values: dict[str, Any]) -> dict[str, Any] | None:
        return self._edit_in_editor(fields, values) if self.editor else self._edit_inline(fields, values)

    def _edit_in_editor(self, fields: Sequence[Field], values: dict[str, Any]) -> dict[str, Any] | None:
        text = format_fields(values, fields)
        with tempfile.TemporaryDirectory(prefix="mlr-idea-edit-") as tmp:
            path = Path(tmp) / "fields.md"
            while True:
                path.write_text(f"{EDIT_MARKER}\n{text}\n", encoding="utf-8")
                try:
                    proc = subprocess.run([*shlex.split(self.editor or ""), str(path)])
                except OSError as exc:
                    self._print(f"Could not start the editor {self.editor!r} ({exc}); editing here instead.")
                    return self._edit_inline(fields, values)
                if proc.returncode != 0:
                    self._print(f"The editor exited with status {proc.returncode}; the edit is discarded.")
                    return None
                new = path.read_text(encoding="utf-8", errors="replace")
                new = new.split(EDIT_MARKER, 1)[1] if EDIT_MARKER in new else new
                if new.strip() == text.strip():
                    self._print("No change.")
                    return None
                parsed = parse_fields(new, fields)
                if parsed.ok:
                    return parsed.values
                self._print("The edit is incomplete: " + "; ".join(parsed.problems) + ".")
                again = self._ask("[e]dit again or [d]iscard the edit? ")
                if again is None or not again.strip().lower().startswith("e"):
                    return None
                text = new.strip()

    def _edit_inline(self, fields: Sequence[Field], values: dict[str, Any]) -> dict[str, Any] | None:
        edited = dict(values)
        self._print("Edit each field: Enter keeps it. Lists: one item per line, an empty line ends.")
        for f in fields:
            current = values.get(f.key)
            shown = "; ".join(current) if f.kind == LIST and isinstance(current, list) else str(current or "")
            self._print(f"{f.label}: {shown}")
            first = self._ask(f"New {f.label}: ")
            if first is None:
                return None
            if not first.strip():
                continue
            if f.kind == LIST:
                items = [first.strip().lstrip("-* ").strip()]
                while True:
                    more = self._ask("  more (empty ends): ")
                    if more is None or not more.strip():
                        break
                    items.append(more.strip().lstrip("-* ").strip())
                edited[f.key] = items
            else:
                edited[f.key] = first.strip()
        return None if edited == values else edited
