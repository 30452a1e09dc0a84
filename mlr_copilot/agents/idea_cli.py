"""``mlr-copilot idea`` / ``pipeline``: options in, ``generate_idea`` out, a short report printed.

Kept apart from ``cli.py`` (argument parsing only) and from ``idea.py`` (no terminal I/O).
The LLM calls go through ``build_models`` with a budget and a call log in the run
directory (``agent_log/llm_calls.jsonl``), the same accounting an experiment run uses.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..llm.base import Models
from ..view.result import plural
from .idea import IdeaResult, generate_idea
from .idea_review import ReviewPolicy

logger = logging.getLogger(__name__)


def build_idea_models(args: argparse.Namespace, run_dir: Path) -> Models:
    """The idea stage's models, built as a run's are (``session.build_run_models``) from its LLM options."""
    from ..run_config import LLM, from_args
    from .session import build_run_models

    return build_run_models(from_args(args, group=LLM, task=args.task), run_dir)[0]


def run_idea(args: argparse.Namespace, review: ReviewPolicy | None = None) -> IdeaResult:
    """The idea half of ``idea`` and ``pipeline``: returns where the problem was written."""
    from ..records import create_run_dir

    root = Path(args.root)
    run_dir = create_run_dir(Path(args.log_root), args.task)
    models = build_idea_models(args, run_dir)
    return generate_idea(args.paper, args.task, models, problems_dir=root / "problems",
                         workspaces_dir=root / "workspaces", run_dir=run_dir, ideas=args.ideas,
                         review=review or ReviewPolicy.for_terminal(yes=args.yes),
                         online=not getattr(args, "offline", False), force=args.force,
                         problem_name=getattr(args, "problem_name", None), prototype=_prototype_request(args))


def _prototype_request(args: argparse.Namespace):
    from .idea_prototype import PrototypeRequest

    repo, model = getattr(args, "prototype_repo", None), getattr(args, "prototype_model", None)
    if not (getattr(args, "prototype", False) or repo or model):
        return None
    return PrototypeRequest(repository=repo, hf_endpoint=getattr(args, "hf_endpoint", None), model=model)


def describe_result(result: IdeaResult) -> str:
    record = result.record
    best = record.best()
    lines = [f"Research problem written to {result.problem_path}",
             f"Structured idea: {result.idea_path}",
             f"Problem: {record.problem.research_problem}",
             f"Hypothesis (candidate {best.index + 1} of {len(record.candidates)}, "
             + (f"review {best.total_score}/25" if best.review else "not scored: " + best.review_error)
             + f"): {best.hypothesis.hypothesis}"]
    if record.related_work.papers:
        lines.append(f"Related work: {plural(len(record.related_work.papers), 'paper')} from {record.related_work.source}")
    elif record.related_work.notes:
        lines.append("Related work: none (" + "; ".join(record.related_work.notes) + ")")
    proto = record.prototype
    if proto.get("retrieved"):
        lines.append(f"Prototype code: {proto['retrieved']['repository']} in "
                     f"workspaces/{record.task}/{proto['retrieved']['path']}/ ({proto['retrieved']['files']} files)")
    elif proto:
        lines.append(f"Prototype code: skipped: {proto.get('skipped')}")
    lines.append(f"LLM calls: {result.llm_calls}, tokens: {result.usage.input_tokens} in / "
                 f"{result.usage.output_tokens} out")
    lines.append(f"Log: {result.log_path}")
    return "\n".join(lines)


def missing_workspace_warning(args: argparse.Namespace) -> str | None:
    """A warning when ``workspaces/<task>`` is missing: the problem could not be run yet."""
    ws = Path(args.root) / "workspaces" / args.task
    if ws.is_dir():
        return None
    return (f"Warning: the task {args.task!r} has no workspace ({ws} does not exist): "
            f"`mlr-copilot run {args.task}` needs the starter code and data there. Create it, "
            "or give --task the name of a task that has one (see `mlr-copilot tasks`).")


def idea_command(args: argparse.Namespace) -> int:
    """``mlr-copilot idea``: generate and print where the problem was written."""
    warning = missing_workspace_warning(args)
    if warning:
        print(warning, file=sys.stderr)
    result = run_idea(args)
    print(describe_result(result))
    if warning:
        print(warning)
    return 0
