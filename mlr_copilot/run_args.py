"""The options of ``mlr-copilot run`` (shared by ``pipeline``, ``batch`` and ``idea``), generated
from ``run_config.RunConfig`` and turned back into it: flags, defaults and help are written
there, once."""
from __future__ import annotations

import argparse
from typing import Any

from .run_config import LLM, OVERRIDE, RunConfig, default_of, flag_of, flags, from_args, resumable


def add_llm_options(p: argparse.ArgumentParser) -> None:
    """The model and budget options (``idea`` has these and no others of a run)."""
    for name, flag in flags(LLM):
        flag.add_to(p, default_of(name))


def add_run_options(p: argparse.ArgumentParser) -> None:
    for name, flag in flags():
        flag.add_to(p, default_of(name))
    p.add_argument("-q", "--quiet", action="store_true", help="live view without the details of each step")


def add_run_option(p: argparse.ArgumentParser, name: str, **changes: Any) -> None:
    """One run option on another command, respelt by ``changes`` (e.g. ``help=None``); its default
    stays the run's."""
    flag_of(name, **changes).add_to(p, default_of(name))


def run_options_from_args(args: argparse.Namespace, task: str) -> RunConfig:
    config = from_args(args, task=task)
    config.pass_env = _checked_pass_env(args)
    return config


def resume_overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``--resume`` may change that the user typed (those that differ from the defaults)."""
    typed = {}
    for name in resumable(OVERRIDE):
        flag = flag_of(name)
        if getattr(args, flag.dest) != flag.parser_default(default_of(name)):
            typed[name] = _checked_pass_env(args) if name == "pass_env" else flag.value(getattr(args, flag.dest))
    return typed


def _checked_pass_env(args: argparse.Namespace) -> tuple[str, ...]:
    """--pass-env names, refused (ConfigError) for a secret one without --pass-secret-env."""
    from .env.isolation import check_pass_env

    return tuple(check_pass_env(args.pass_env or (), args.pass_secret_env))
