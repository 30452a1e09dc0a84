"""A long script run's output cut to fit the prompt, without a model call.

The agent once read a model-written summary of each long observation. For a script run that
loses what matters most: a churn run's 87-line output (a pandas warning and a traceback) was
summarised as "The script has executed successfully, but it encountered an error", without
the exception line or "Exit code: 1"; the checks that read the steps (a failed last run, the
usual next move, the error's meaning) saw no failure, and the agent gave a Final Answer on the
broken script. The excerpt keeps the head, the lines that name a number or an error in
between (metrics, warnings), and the tail, where the exception and the exit code are; it costs
no model call.
"""
from __future__ import annotations

import re

_KEY = re.compile(r"[A-Za-z][\w .()/-]*[:=]\s*-?\d|Error\b|Exception\b|Warning\b")
HEAD_SHARE = 0.25  # of the limit, for the first lines; the tail gets what the key lines leave
KEY_SHARE = 0.25


def script_output_excerpt(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters, else its head, its key lines and its tail,
    with the number of lines left out at each cut, within ``limit``."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    head = _take(lines, int(limit * HEAD_SHARE))
    rest = lines[len(head):]
    tail_budget = limit - sum(len(ln) + 1 for ln in head) - int(limit * KEY_SHARE) - 120
    tail = _take(rest[::-1], max(0, tail_budget))[::-1]
    middle = rest[:len(rest) - len(tail)]
    key, used = [], 0
    for ln in middle:
        if _KEY.search(ln) and used + len(ln) + 1 <= limit * KEY_SHARE:
            key.append(ln)
            used += len(ln) + 1
    cut = len(middle) - len(key)
    marker = [f"[... {cut} lines of output left out{'; the lines with numbers or errors among them:' if key else ''}]"]
    after = ["[... the last lines:]"] if key else []
    excerpt = "\n".join(head + marker + key + after + tail)
    return excerpt[-limit:] if len(excerpt) > limit else excerpt


def _take(lines: list[str], budget: int) -> list[str]:
    """The first lines of ``lines`` that fit in ``budget`` characters (a longer first line is cut)."""
    taken, used = [], 0
    for ln in lines:
        if used + len(ln) + 1 > budget:
            if not taken and budget > 0:
                taken.append(ln[:budget])
            break
        taken.append(ln)
        used += len(ln) + 1
    return taken
