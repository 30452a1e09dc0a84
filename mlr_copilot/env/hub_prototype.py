"""Retrieve Prototype Code: bring the paper's repository (or a named one) into ``prototype/``.

Declared in the action registry like Retrieve Model / Retrieve Dataset. It is offered when
the research problem names a repository or an arXiv paper, or the task workspace already
holds prototype code (``prototype_offer``); the run makes ``prototype/`` read-only.
No model is used and nothing retrieved is executed.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from ..errors import ActionError
from ..model_fetch import DEFAULT_TIMEOUT_S as MODEL_TIMEOUT_S, describe_model, fetch_model
from ..paper_links import PaperArtefacts, describe_artefacts, hub_artefacts, repos_in_text
from ..prototype import (DEFAULT_TIMEOUT_S, PrototypeError, Sources, describe_prototype, prototype_records,
                         retrieve_prototype)
from .actions import Arg, action
from .context import ActionContext
from .hub_search import hub_endpoint

logger = logging.getLogger(__name__)

ACTION_NAME = "Retrieve Prototype Code"
_ARXIV = re.compile(r"arXiv:(\d{4}\.\d{4,5})", re.IGNORECASE)


@action(ACTION_NAME,
        "Download the source code of a paper's repository into prototype/<owner>-<repo>/ of the "
        "workspace, read-only, to read and copy from (nothing in it is run). With no repository "
        "given, the one named in the research problem (or linked to its arXiv paper) is used. "
        "Also lists the models that cite the paper on the Hugging Face Hub.",
        [Arg("repository", "a GitHub URL or owner/name; empty for the paper's own repository", required=False)],
        "Where the code was put, its commit and license, a short file tree and the README's first "
        "lines; or a message saying why nothing was retrieved.")
def retrieve_prototype_code(ctx: ActionContext, repository: str = "") -> str:
    arxiv = _ARXIV.search(ctx.research_problem or "")
    found = PaperArtefacts(arxiv_id=arxiv.group(1) if arxiv else None)
    target = repository.strip()
    if not target:
        named = sorted(repos_in_text([("research problem", ctx.research_problem or "")]), key=lambda c: -c.score)
        target = named[0].url if named else ""
    sources = Sources.from_env(timeout_s=_timeout(ctx))
    if not sources.online:
        raise PrototypeError(f"Skipped: {target or 'the paper repository'} was not retrieved because offline mode "
                             "is on (HF_HUB_OFFLINE or MLR_OFFLINE); continue with the code in the workspace.")
    if found.arxiv_id:
        hub_artefacts(found.arxiv_id, hub_endpoint(ctx.config.hf_endpoint), found)
        if not target and found.repos:
            target = found.repos[0].url
    if not target:
        raise PrototypeError("No repository was given, and the research problem names none"
                             + (f" (nor does the Hub's page for arXiv:{found.arxiv_id})" if found.arxiv_id else "")
                             + ": give a GitHub URL or owner/name as repository.")
    record = retrieve_prototype(target, ctx.workspace, sources)
    text = describe_prototype(ctx.workspace, record)
    if record.get("already_present"):
        text = "This repository was already retrieved.\n" + text
    found.repos = []  # the code is in; the listing is about linked models, datasets and Spaces
    linked = describe_artefacts(found) if (found.models or found.datasets or found.spaces) else ""
    if linked:
        text += ("\n\n" + linked + "\nA linked model can be loaded in a script by its id when the run allows "
                 "network access (--allow-network), or fetched before the run.")
    return text


def download_model_step(ctx: ActionContext, model_id: str) -> str:
    """Retrieve Model's "download <id>": only when the run allows network access."""
    if not ctx.config.allow_network:
        raise ActionError(f"Skipped: {model_id} was not downloaded. Downloading model weights during a step "
                          "needs a run with network access (--allow-network); without it, fetch the model "
                          f"before the run (mlr-copilot idea ... --prototype-model {model_id}) or work without it.")
    record = fetch_model(model_id, ctx.workspace, hub_endpoint(ctx.config.hf_endpoint),
                         timeout_s=_timeout(ctx, MODEL_TIMEOUT_S))
    return describe_model(record)


def _timeout(ctx: ActionContext, default: float = DEFAULT_TIMEOUT_S) -> float:
    if ctx.deadline is None:
        return default
    return max(5.0, min(default, ctx.deadline - time.monotonic()))


def prototype_offer(problem: str, task_workspace: Path) -> tuple[str, ...]:
    """``(ACTION_NAME,)`` when a paper is known or a repository is named, else ``()``."""
    if repos_in_text([("problem", problem)]) or _ARXIV.search(problem) or prototype_records(task_workspace):
        return (ACTION_NAME,)
    return ()

