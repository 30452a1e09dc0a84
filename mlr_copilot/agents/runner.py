"""Starting an experiment run: the public entry point (``mlr-copilot run``, ``pipeline``, tests).

The run itself is a ``session.RunSession``; its options are ``run_config.RunConfig`` (long
called ``RunOptions``, the name kept here).
"""
from __future__ import annotations

from ..feedback import FeedbackChannel
from ..llm.base import Models
from ..run_config import STRATEGIES, RunConfig, RunOptions  # noqa: F401 (public names of this module)
from .session import RunResult, RunSession, check_llm  # noqa: F401


def run_experiment(options: RunConfig, *, models: Models | None = None,
                   feedback: FeedbackChannel | None = None) -> RunResult:
    """Start a new run of ``options.task``. ``models``/``feedback`` may be injected (tests, pipeline)."""
    return RunSession.start(options, models=models, feedback=feedback).run()
