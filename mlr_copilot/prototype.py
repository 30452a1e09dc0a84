"""Bring a paper's repository into a task workspace as read-only prototype code.

``retrieve_prototype`` asks the GitHub API for the default branch, its commit and the license,
downloads that commit's snapshot archive (no ``git`` needed; size-capped), unpacks it safely
(``safe_archive``) into ``prototype/<owner>-<repo>/`` and records where it came from in
``prototype/<owner>-<repo>.json``. Nothing from it is executed. The run's environment makes
``prototype/`` read-only to the agent (``READ_ONLY_PATTERN``); ``describe_prototype`` writes
the lines the problem text and the observation show: where it is, what it holds (a short
tree), its license and commit, and the README's first lines.

Endpoints: ``MLR_GITHUB_API`` (default https://api.github.com) and ``MLR_GITHUB_ARCHIVE``
(default https://codeload.github.com, archives at ``<base>/<owner>/<repo>/tar.gz/<ref>``),
so mirrors and tests work.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import PrototypeError
from .logs import utc_now
from .paper_links import RepoCandidate, hub_offline, human_size, parse_repo
from .safe_archive import ArchiveError, Limits, download, unpack

logger = logging.getLogger(__name__)

PROTOTYPE_DIR = "prototype"
READ_ONLY_PATTERN = PROTOTYPE_DIR  # a folder pattern covers everything below it (Sandbox.is_read_only)
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_GITHUB_ARCHIVE = "https://codeload.github.com"
DEFAULT_TIMEOUT_S = 60.0
TREE_ENTRIES = 25
README_LINES = 15
README_LINE_CHARS = 160
_LICENSE = re.compile(r"^(licen[cs]e|copying|unlicense)(\.[a-z]+)?$", re.IGNORECASE)
_README = re.compile(r"^readme(\.[a-z]+)?$", re.IGNORECASE)
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Sources:
    """Where code comes from, and the caps; ``from_env`` reads the documented variables."""

    github_api: str = DEFAULT_GITHUB_API
    github_archive: str = DEFAULT_GITHUB_ARCHIVE
    timeout_s: float = DEFAULT_TIMEOUT_S
    limits: Limits = field(default_factory=Limits)
    online: bool = True

    @classmethod
    def from_env(cls, *, online: bool = True, **kw: Any) -> "Sources":
        return cls(github_api=(os.environ.get("MLR_GITHUB_API") or DEFAULT_GITHUB_API).rstrip("/"),
                   github_archive=(os.environ.get("MLR_GITHUB_ARCHIVE") or DEFAULT_GITHUB_ARCHIVE).rstrip("/"),
                   online=online and not hub_offline(), **kw)


def folder_name(repo: RepoCandidate) -> str:
    return f"{repo.owner}-{repo.name}"


def retrieve_prototype(repo: RepoCandidate | str, workspace: Path, sources: Sources, *,
                       force: bool = False) -> dict[str, Any]:
    """Download ``repo`` into ``workspace/prototype/<owner>-<repo>/``; returns its record.

    A repository already there is kept (its record returned) unless ``force``.
    Raises ``PrototypeError`` when it cannot be retrieved (offline, not found, HTTP error, caps).
    """
    cand = parse_repo(repo) if isinstance(repo, str) else repo
    if cand is None:
        raise PrototypeError(f"{repo!r} is not a repository: give a GitHub URL or owner/name.")
    if cand.host != "github":
        raise PrototypeError(f"{cand.url}: only GitHub repositories can be retrieved; download it yourself "
                             f"into {PROTOTYPE_DIR}/{folder_name(cand)}/ before the run.")
    base = Path(workspace) / PROTOTYPE_DIR
    dest, record_path = base / folder_name(cand), base / f"{folder_name(cand)}.json"
    if dest.is_dir() and record_path.is_file() and not force:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["already_present"] = True
        return record
    if not sources.online:
        raise PrototypeError(f"{cand.url} was not retrieved: the network is off (offline mode).")
    meta, notes = _github_meta(cand, sources)
    ref = meta.get("commit") or meta.get("default_branch") or "HEAD"
    url = f"{sources.github_archive}/{cand.owner}/{cand.name}/tar.gz/{ref}"
    base.mkdir(parents=True, exist_ok=True)
    partial = base / f".partial-{folder_name(cand)}"
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="mlr-prototype-") as tmp:
        archive = Path(tmp) / "archive"
        try:
            size = download(url, archive, max_bytes=sources.limits.max_download_bytes, timeout_s=sources.timeout_s)
            result = unpack(archive, partial, sources.limits)
        except ArchiveError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise PrototypeError(f"{cand.url} was not retrieved: {exc}.") from None
    if not result.files:
        shutil.rmtree(partial, ignore_errors=True)
        raise PrototypeError(f"{cand.url} was not retrieved: its archive held no file that could be unpacked "
                             f"({result.refused_count} member(s) refused).")
    if dest.exists():
        shutil.rmtree(dest)
    partial.rename(dest)
    commit = meta.get("commit") or (result.comment if _SHA.match(result.comment) else None)
    root_files = [f for f in result.files if "/" not in f]
    record = {
        "repository": cand.url, "owner": cand.owner, "name": cand.name, "provenance": cand.provenance,
        "path": f"{PROTOTYPE_DIR}/{folder_name(cand)}", "ref": meta.get("default_branch") or "HEAD",
        "commit": commit, "license": meta.get("license"),
        "license_file": next((f for f in root_files if _LICENSE.match(f)), None),
        "archive_url": url, "archive_bytes": size, "files": len(result.files), "bytes": result.total_bytes,
        "refused": result.refused, "refused_count": result.refused_count, "executed": False,
        "retrieved_at": utc_now(), "notes": notes,
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("prototype %s (%s) unpacked into %s: %d files", cand.url, commit or ref, dest, len(result.files))
    return record


def _github_meta(cand: RepoCandidate, sources: Sources) -> tuple[dict[str, Any], list[str]]:
    """Default branch, its commit and the license from the GitHub API; notes for what failed."""
    import httpx

    api = f"{sources.github_api}/repos/{cand.owner}/{cand.name}"
    meta: dict[str, Any] = {}
    notes: list[str] = []
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "mlr-copilot (prototype code)"}
    try:
        with httpx.Client(timeout=min(sources.timeout_s, 20.0), headers=headers, follow_redirects=True) as client:
            r = client.get(api)
            if r.status_code == 404:
                raise PrototypeError(f"{cand.url} was not retrieved: the repository does not exist or is private "
                                     f"(GitHub API answered 404).")
            if r.status_code >= 400:
                notes.append(f"GitHub API answered HTTP {r.status_code} for {api}; the default branch's "
                             "archive was taken without a commit id.")
                return meta, notes
            info = r.json()
            meta["default_branch"] = info.get("default_branch") or None
            lic = info.get("license") or {}
            meta["license"] = lic.get("spdx_id") if isinstance(lic, dict) and lic.get("spdx_id") != "NOASSERTION" else None
            if meta["default_branch"]:
                c = client.get(f"{api}/commits/{meta['default_branch']}")
                sha = c.json().get("sha") if c.status_code == 200 else None
                if isinstance(sha, str) and _SHA.match(sha):
                    meta["commit"] = sha
                else:
                    notes.append(f"GitHub API gave no commit for {meta['default_branch']} (HTTP {c.status_code}).")
    except httpx.HTTPError as exc:
        notes.append(f"GitHub API {api} unreachable ({type(exc).__name__}); the archive was taken without "
                     "a commit id.")
    except ValueError:
        notes.append(f"GitHub API {api} did not answer JSON.")
    return meta, notes


def describe_prototype(workspace: Path, record: dict[str, Any]) -> str:
    """Where the prototype is and what it holds, for the problem text and the observation."""
    path = record["path"]
    root = Path(workspace) / path
    commit = (record.get("commit") or "")[:12] or f"{record.get('ref')} (commit unknown)"
    lic = record.get("license") or "not stated by GitHub"
    lines = [f"Prototype code: {record['repository']} (commit {commit}, license {lic}"
             + (f", see {path}/{record['license_file']}" if record.get("license_file") else "") + ") "
             f"is in {path}/, {record['files']} files, {human_size(record['bytes'])}. It is read-only: read it "
             "and copy what you need into your own scripts. It was downloaded, never run; check it before "
             f"running any of it. Details in {path}.json.",
             "Files:"]
    lines += [f"  {t}" for t in _tree(root, path)]
    if record.get("refused_count"):
        lines.append(f"  ({record['refused_count']} archive member(s) were refused; see {path}.json)")
    readme = next((p for p in sorted(root.iterdir()) if p.is_file() and _README.match(p.name)), None) \
        if root.is_dir() else None
    if readme is not None:
        head = _head(readme)
        if head:
            lines.append(f"First lines of {path}/{readme.name}:")
            lines += [f"  | {ln}" for ln in head]
    return "\n".join(lines)


def _tree(root: Path, shown_as: str) -> list[str]:
    """Top-level files, and each top-level folder with its file count (one level down)."""
    if not root.is_dir():
        return ["(missing)"]
    out = []
    for p in sorted(root.iterdir(), key=lambda p: (p.is_dir(), p.name.lower())):
        if len(out) >= TREE_ENTRIES:
            out.append("...")
            break
        if p.is_dir():
            n = sum(1 for q in p.rglob("*") if q.is_file())
            out.append(f"{shown_as}/{p.name}/ ({n} files)")
        else:
            out.append(f"{shown_as}/{p.name} ({human_size(p.stat().st_size)})")
    return out


def _head(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    return [ln if len(ln) <= README_LINE_CHARS else ln[:README_LINE_CHARS] + " …" for ln in lines[:README_LINES]]


def prototype_records(workspace: Path) -> list[dict[str, Any]]:
    """The records of the prototypes a workspace holds (empty when none)."""
    base = Path(workspace) / PROTOTYPE_DIR
    records = []
    for p in sorted(base.glob("*.json")) if base.is_dir() else []:
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get("path"), str) and \
                PurePosixPath(rec["path"]).parts[:1] == (PROTOTYPE_DIR,):
            records.append(rec)
    return records
