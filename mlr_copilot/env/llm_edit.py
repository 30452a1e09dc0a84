"""Text helpers for the AI edit actions: pull code out of a reply, detect cut-off replies,
and build the unified diffs the agent checks. Pure functions, no I/O, no model calls."""
from __future__ import annotations

import difflib
import re
from pathlib import PurePath

TRUNCATED_STOP_REASONS = frozenset({"length", "max_tokens", "max_output_tokens", "model_length"})
"""Stop reasons by which backends (OpenAI, Anthropic, llama.cpp, transformers) say the
output budget ran out before the model finished."""

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w.+#-]*)[^\n]*\n", re.MULTILINE)

LANGUAGES = {
    ".py": "python", ".pyw": "python", ".ipynb": "json", ".sh": "bash", ".bash": "bash",
    ".js": "javascript", ".ts": "typescript", ".json": "json", ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".md": "markdown", ".txt": "text", ".cfg": "ini", ".ini": "ini",
    ".r": "r", ".c": "c", ".h": "c", ".cpp": "cpp", ".cu": "cuda", ".java": "java",
    ".rs": "rust", ".go": "go", ".sql": "sql", ".html": "html", ".css": "css", ".csv": "csv",
}
_ALIASES = {"python": {"python", "py", "python3"}, "bash": {"bash", "sh", "shell", "zsh"},
            "javascript": {"javascript", "js"}, "typescript": {"typescript", "ts"},
            "yaml": {"yaml", "yml"}, "markdown": {"markdown", "md"}, "cpp": {"cpp", "c++"}}


def language_for(file_name: str) -> str:
    """The code-fence language for a file, by its extension ("python" for .py)."""
    return LANGUAGES.get(PurePath(file_name).suffix.lower(), "")


def is_truncated(stop_reason: str | None) -> bool:
    return (stop_reason or "").lower() in TRUNCATED_STOP_REASONS


def extract_code(text: str, language: str = "python") -> str:
    """The code in a model's reply.

    Prefers a fenced block labelled with ``language`` (its aliases count), then an
    unlabelled block, then any block; among equals, the longest (a model sometimes shows
    a snippet before the full file). An opening fence without a closing one yields what
    follows it. Without any fence, the whole reply is taken as the code. Indentation of
    the first line is kept (a segment may start indented); blank edge lines are dropped.
    """
    blocks = _fenced_blocks(text)
    if not blocks:
        return _trim(text)
    wanted = _ALIASES.get(language, {language}) if language else set()

    def rank(block: tuple[str, str]) -> tuple[int, int]:
        label, body = block
        tier = 2 if label in wanted else 1 if not label else 0
        return tier, len(body)

    return _trim(max(blocks, key=rank)[1])


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    blocks = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if not opening:
            break
        fence, label = opening.group(1), opening.group(2).lower()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = closing.search(text, opening.end())
        if end is None:  # cut off, or the closing fence glued to the last line
            body = text[opening.end():].rstrip()
            if body.endswith(fence):
                body = body[: -len(fence)]
            blocks.append((label, body))
            break
        blocks.append((label, text[opening.end():end.start()]))
        pos = end.end()
    return blocks


def _trim(code: str) -> str:
    lines = code.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def unified_diff(old: str, new: str, from_name: str, to_name: str, *, line_offset: int = 0) -> str:
    """A unified diff of two texts; ``line_offset`` shifts hunk line numbers (segment diffs)."""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=from_name, tofile=to_name)
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        if line_offset and line.startswith("@@"):
            line = _HUNK.sub(lambda m: _shift(m, line_offset), line, count=1)
        out.append(line)
    return "".join(out)


_HUNK = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@")


def _shift(match: re.Match, offset: int) -> str:
    a, a_len, b, b_len = match.groups()
    return f"@@ -{int(a) + offset}{a_len} +{int(b) + offset}{b_len} @@"


def clip_middle(text: str, budget: int, what: str = "characters") -> str:
    """Keep the head and the tail of ``text`` within ``budget`` characters, saying what was cut."""
    if budget <= 0 or len(text) <= budget:
        return text
    head = budget * 2 // 3
    tail = budget - head
    cut = len(text) - head - tail
    return (text[:head] + f"\n[... {cut} {what} omitted ...]\n" + text[len(text) - tail:])
