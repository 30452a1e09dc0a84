"""``idea --prototype``: find the paper's code and artefacts, bring the code into the task workspace.

Runs once the paper is loaded, before the plan stage, so the plan can name the prototype's
files. Every part that cannot be done (offline, nothing found, HTTP error, caps) is recorded
as skipped with its reason, and idea generation goes on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paper_links import SCORE_TEXT_BODY, describe_artefacts, find_artefacts, parse_repo
from ..prototype import PrototypeError, Sources, describe_prototype, retrieve_prototype

logger = logging.getLogger(__name__)


@dataclass
class PrototypeRequest:
    """What ``--prototype`` / ``--prototype-repo`` ask for."""

    repository: str | None = None  # named by the user: used instead of the best candidate found
    hf_endpoint: str | None = None
    sources: Sources | None = None  # None: from the environment (MLR_GITHUB_API, MLR_GITHUB_ARCHIVE)
    model: str | None = None  # a Hub model to fetch into prototype/models/ before the run


@dataclass
class PrototypeOutcome:
    record: dict[str, Any] = field(default_factory=dict)  # kept in idea.json under "prototype"
    brief: str = ""  # the problem text's section, and the plan stage's view


def gather_prototype(request: PrototypeRequest, paper, task_workspace: Path, *, online: bool) -> PrototypeOutcome:
    """Find what comes with ``paper`` and retrieve its best repository into ``task_workspace``."""
    found = find_artefacts(paper, online=online, endpoint=request.hf_endpoint)
    record: dict[str, Any] = {"artefacts": found.to_dict(), "retrieved": None, "skipped": None}
    target = None
    if request.repository:
        target = parse_repo(request.repository)
        if target is None:
            record["skipped"] = f"--prototype-repo {request.repository!r} is not a GitHub URL or owner/name."
        else:
            target.provenance = ["named with --prototype-repo"]
    else:
        # a repository cited only in the references is most likely someone else's work
        usable = [c for c in found.repos if c.score >= SCORE_TEXT_BODY and c.host == "github"]
        target = usable[0] if usable else None
        if target is None:
            record["skipped"] = ("no GitHub repository of the paper was found "
                                 + ("(only other hosts or references)" if found.repos else "in its text or on the Hub")
                                 + "; name one with --prototype-repo.")
    if target is not None:
        sources = request.sources or Sources.from_env(online=online)
        sources.online = sources.online and online
        try:
            rec = retrieve_prototype(target, task_workspace, sources, force=True)
            record["retrieved"] = rec
        except PrototypeError as exc:
            record["skipped"] = str(exc)
    model_line = _fetch_model(request, task_workspace, online, record) if request.model else ""
    lines = ["Prototype code and linked artefacts (found for the paper):"]
    listing = describe_artefacts(found)
    if listing:
        lines.append(listing)
    if record["retrieved"]:
        lines.append(describe_prototype(task_workspace, record["retrieved"]))
    else:
        lines.append(f"Prototype code: skipped: {record['skipped']}")
        logger.info("prototype skipped: %s", record["skipped"])
    if model_line:
        lines.append(model_line)
    return PrototypeOutcome(record=record, brief="\n".join(lines))


def _fetch_model(request: PrototypeRequest, task_workspace: Path, online: bool, record: dict) -> str:
    from ..config import hub_endpoint
    from ..model_fetch import ModelFetchError, describe_model, fetch_model

    if not online:
        record["model_skipped"] = f"{request.model} was not downloaded: the network is off (offline mode)."
        return f"Model: skipped: {record['model_skipped']}"
    try:
        record["model"] = fetch_model(request.model, task_workspace, hub_endpoint(request.hf_endpoint))
    except ModelFetchError as exc:
        record["model_skipped"] = str(exc)
        return f"Model: skipped: {exc}"
    return describe_model(record["model"])
