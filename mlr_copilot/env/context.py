"""What an action function receives: the workspace, its rules, the models, the human.

Kept apart from ``environment`` so action modules (``actions.ACTION_MODULES``) depend
only on this small surface, never on the agent.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from ..config import DEFAULT_SCRIPT_TIMEOUT_S
from ..llm.base import Models

DEFAULT_OBSERVATION_BUDGET = 10_000  # characters kept from a script's output (head + tail)


class HumanChannel(Protocol):
    """How Request Help reaches a person. ``None`` answer: nobody is there."""

    def ask(self, question: str) -> str | None:
        ...


@dataclass
class EnvConfig:
    """Options of the experiment engine; defaults documented here (run-wide ones come from
    ``config``), overridden by CLI flags."""

    read_only: Sequence[str] = ()  # glob patterns relative to the workspace
    sandbox: str = "auto"  # auto | bwrap | none
    allow_network: bool = False
    device: str | None = None  # value for CUDA_VISIBLE_DEVICES; None leaves it unset
    # Execute Script's interpreter: by default the Python running mlr-copilot, so scripts see
    # the same packages (a bare "python" may be another interpreter, or none at all).
    python: Sequence[str] = (sys.executable or "python3", "-u")
    script_timeout_s: float = DEFAULT_SCRIPT_TIMEOUT_S
    max_time_s: float | None = None  # wall-clock limit of the whole run
    observation_budget: int = DEFAULT_OBSERVATION_BUDGET
    memory_limit_mb: int | None = None  # RLIMIT_DATA for scripts (not AS: CUDA reserves huge VA)
    max_file_size_mb: int | None = 20_000
    max_processes: int | None = 4096
    pass_env: Sequence[str] = ()  # variables passed to scripts beyond the allowlist (--pass-env)
    pass_secret_env: bool = False  # --pass-env may name a secret variable (--pass-secret-env)
    set_env: Sequence[tuple[str, str]] = ()  # variables set for every script (baselines: PYTHONHASHSEED)
    hidden_paths: Sequence[str] = ()  # extra files/folders masked inside bwrap (secrets, keys)
    hf_endpoint: str | None = None  # Hugging Face Hub endpoint for Retrieve Model/Dataset


@dataclass
class ActionContext:
    """Passed to every action function as its first argument."""

    workspace: Path
    env_log_dir: Path
    config: EnvConfig
    sandbox: "object"  # env.sandbox.Sandbox: path resolution, read-only checks, running scripts
    models: Models | None = None
    human: HumanChannel | None = None
    step: int = 0
    deadline: float | None = None  # time.monotonic() value when the run must stop
    script_limit_s: float | None = None  # a tighter script limit for the action running now (tree nodes)
    research_problem: str = ""
