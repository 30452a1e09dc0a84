"""How a task's data get prepared: the context handed to ``prepare(ctx)`` and its helpers.

A task's ``prepare.py`` writes what the agent may see to ``ctx.data_dir`` (inside the
workspace) and the hidden answers to ``ctx.answers`` (outside it). Downloads go through
``download`` or ``hf_dataset_files``, which reuse a cached copy and, offline, raise
``DataUnavailable`` with a message saying what is missing and how to get it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import DataUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareResult:
    """Outcome of ``Task.prepare``: ``ready`` is False with a message saying what is missing."""

    ready: bool
    message: str
    skipped: bool = False  # already prepared, nothing done


def data_cache_dir() -> Path:
    """Where downloads are kept between prepares: ``$MLR_COPILOT_DATA`` or the user cache."""
    env = os.environ.get("MLR_COPILOT_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlr_copilot" / "data"


@dataclass
class PrepareContext:
    """What a task's ``prepare(ctx)`` receives. Visible data go to ``data_dir``, hidden to ``answers``."""

    task_name: str
    workspace: Path
    answers: Path
    cache: Path
    online: bool
    hf_cache: Path | None = None  # None: the Hugging Face default cache
    sources: list[Path] = field(default_factory=list)  # raw data used: hidden from scripts later

    def __post_init__(self) -> None:
        self.answers.mkdir(parents=True, exist_ok=True)

    @property
    def data_dir(self) -> Path:
        d = self.workspace / "data"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def require_online(self, what: str, how: str = "", *, where: str | None = None) -> None:
        """Raise DataUnavailable, saying what is missing and how to get it, unless online."""
        if not self.online:
            hint = f" {how}" if how else ""
            raise DataUnavailable(
                f"task '{self.task_name}' needs {what}, which is not in {where or f'the local cache ({self.cache})'} "
                f"and this prepare runs offline. Run `mlr-copilot prepare {self.task_name} --online` on a machine "
                f"with internet access.{hint}")

    def download(self, url: str, filename: str, md5: str | None = None) -> Path:
        """A file from ``url`` kept in the cache (downloaded once, checked against ``md5``)."""
        dest = self.cache / self.task_name / filename
        self.sources.append(dest)
        if dest.exists() and (md5 is None or _md5(dest) == md5):
            return dest
        self.require_online(f"{filename} from {url}",
                            f"Or place {filename} at {dest} yourself.")
        import urllib.request

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        log.info("downloading %s to %s", url, dest)
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out, length=1 << 20)
        except OSError as exc:
            raise DataUnavailable(f"could not download {url}: {exc}") from None
        if md5 is not None and _md5(tmp) != md5:
            tmp.unlink(missing_ok=True)
            raise DataUnavailable(f"{url} downloaded with a wrong checksum (expected md5 {md5})")
        os.replace(tmp, dest)
        return dest

    def hf_dataset_files(self, repo_id: str, allow_patterns: Sequence[str]) -> Path:
        """A local folder with the matching files of a Hugging Face dataset repository."""
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise DataUnavailable("preparing this task needs the package 'huggingface_hub' (pip install huggingface_hub)") from None
        kwargs = dict(repo_id=repo_id, repo_type="dataset", allow_patterns=list(allow_patterns),
                      cache_dir=str(self.hf_cache) if self.hf_cache else None)
        try:
            folder = Path(snapshot_download(local_files_only=True, **kwargs))
        except Exception:  # noqa: BLE001 - not cached: any hub error means "fetch it"
            self.require_online(f"the Hugging Face dataset '{repo_id}'",
                                where=f"the Hugging Face cache ({self.hf_cache or 'default location'})")
            try:
                folder = Path(snapshot_download(**kwargs))
            except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: all reported the same way
                raise DataUnavailable(f"could not fetch the Hugging Face dataset '{repo_id}': {exc}") from None
        # .../datasets--owner--name/snapshots/<commit>: the whole repository folder holds the labels
        self.sources.append(folder.parents[1] if folder.parent.name == "snapshots" else folder)
        return folder


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - checksum published by the dataset authors, not security
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
