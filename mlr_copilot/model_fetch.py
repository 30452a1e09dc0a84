"""Fetch one model's files from the Hugging Face Hub into ``prototype/models/<org>-<name>/``.

Used before a run (``idea --prototype-model ID``) and by Retrieve Model at step time, where
it needs the run's network permission (``--allow-network``): a step never downloads weights
silently. The file list and sizes come from ``/api/models/<id>?blobs=true`` (what
``HfApi.model_info(files_metadata=True)`` asks), the files from ``/<id>/resolve/<sha>/<file>``,
so any Hub mirror (``HF_ENDPOINT``) works. The total is checked against a cap before any
download; every file name is checked like an archive member (no absolute paths, no ``..``).
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import ModelFetchError
from .logs import utc_now
from .paper_links import hub_offline, human_size
from .prototype import PROTOTYPE_DIR
from .safe_archive import ArchiveError, download, unsafe_reason

logger = logging.getLogger(__name__)

MODELS_DIR = f"{PROTOTYPE_DIR}/models"
DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3
DEFAULT_TIMEOUT_S = 300.0
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def fetch_model(model_id: str, workspace: Path, endpoint: str, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Download every file of ``model_id``; returns the record written next to the folder."""
    import httpx

    model_id = model_id.strip()
    if not _MODEL_ID.match(model_id) or ".." in model_id:
        raise ModelFetchError(f"{model_id!r} is not a Hub model id (organisation/name).")
    if hub_offline():
        raise ModelFetchError(f"Skipped: {model_id} was not downloaded because offline mode is on (HF_HUB_OFFLINE).")
    try:
        r = httpx.get(f"{endpoint}/api/models/{model_id}", params={"blobs": "true"}, timeout=30.0,
                      follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ModelFetchError(f"{model_id} was not downloaded: the Hub at {endpoint} is unreachable "
                              f"({type(exc).__name__}).") from None
    if r.status_code == 404:
        raise ModelFetchError(f"{model_id} was not downloaded: no such model on the Hub ({endpoint}).")
    if r.status_code >= 400:
        raise ModelFetchError(f"{model_id} was not downloaded: the Hub answered HTTP {r.status_code}.")
    try:
        info = r.json()
        siblings = [(s["rfilename"], int(s.get("size") or 0)) for s in info.get("siblings") or []]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ModelFetchError(f"{model_id} was not downloaded: the Hub's answer could not be read.") from None
    bad = [f"{name} ({why})" for name, _ in siblings if (why := unsafe_reason(name))]
    if bad:
        raise ModelFetchError(f"{model_id} was not downloaded: unsafe file names {', '.join(bad[:5])}.")
    total = sum(size for _, size in siblings)
    if total > max_bytes:
        raise ModelFetchError(f"{model_id} was not downloaded: its files total {human_size(total)}, over the "
                              f"{human_size(max_bytes)} cap.")
    folder = f"{model_id.replace('/', '-')}"
    dest = Path(workspace) / MODELS_DIR / folder
    partial = dest.with_name(f".partial-{folder}")
    shutil.rmtree(partial, ignore_errors=True)
    revision = info.get("sha") or "main"
    try:
        for name, size in siblings:
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{endpoint}/{model_id}/resolve/{quote(revision)}/{quote(name)}"
            download(url, target, max_bytes=size or max_bytes, timeout_s=timeout_s)
    except ArchiveError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelFetchError(f"{model_id} was not downloaded: {exc}.") from None
    if dest.exists():
        shutil.rmtree(dest)
    partial.rename(dest)
    card = info.get("cardData") if isinstance(info.get("cardData"), dict) else {}
    tags = [t for t in info.get("tags") or [] if isinstance(t, str)]
    record = {"model": model_id, "path": f"{MODELS_DIR}/{folder}", "revision": revision,
              "license": card.get("license") or next((t[8:] for t in tags if t.startswith("license:")), None),
              "files": len(siblings), "bytes": total, "endpoint": endpoint, "retrieved_at": utc_now()}
    dest.with_name(f"{folder}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("model %s fetched into %s (%d files)", model_id, dest, len(siblings))
    return record


def describe_model(record: dict[str, Any]) -> str:
    return (f"Model {record['model']} ({human_size(record['bytes'])}, {record['files']} files, license "
            f"{record.get('license') or 'not stated'}) is in {record['path']}/ (read-only). Load it from that "
            f"folder in your scripts, e.g. AutoModel.from_pretrained(\"{record['path']}\").")
