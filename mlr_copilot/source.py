"""Which code ran: the commit of the MLR-Copilot checkout, recorded in run.json and the
benchmark journals so results can be traced to the code that produced them."""
from __future__ import annotations

import subprocess
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root of a source checkout
GIT_TIMEOUT_S = 10.0


def source_commit(root: Path = CHECKOUT) -> str | None:
    """The checkout's commit, with "+changes" when tracked files differ from it; None when
    ``root`` is not a git checkout (an installed package) or git is missing or stuck."""
    if not (root / ".git").exists():  # not the git repository of some folder above an installed package
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if dirty else "")
