"""Snapshot manifests on disk: full ones and incremental ones (deltas).

A manifest describes the whole workspace at one step (``files``, ``dirs``, ``symlinks``,
``skipped``). Written whole every step, a workspace of 100,000 files would cost some 14 MB
and a large part of a second per step; so most steps store only what changed since a
*base* step::

    {"step": 7, "base": 6, "delta": {"files": {"set": {path: entry}, "removed": [path]},
                                     "dirs": {...}, "symlinks": {...}, "skipped": {...}}, ...}

A full manifest (no ``base``) is written for a process's first snapshot, when the chain
since the last full one reaches ``FULL_EVERY`` steps, and when a delta would be more than
half the size of a full one. ``load_manifest`` always returns the full picture.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ManifestError, RunRecordError
from ..logs import scrubbed_json
from ..records import EnvLog, check_schema

SECTIONS = ("files", "dirs", "symlinks", "skipped")
FULL_EVERY = 100  # longest chain of deltas before a full manifest is written again
MAX_CHAIN = 10_000  # a chain longer than this in a damaged log is refused, not followed


def manifest_path(env_log: Path, step: int) -> Path:
    return EnvLog(env_log).manifest(step)


def _read(env_log: Path, step: int) -> dict[str, Any]:
    p = manifest_path(env_log, step)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"the manifest of step {step} is missing") from None
    except (OSError, ValueError) as e:
        raise ManifestError(f"the manifest {p} is damaged: {e}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"the manifest {p} is damaged: not a JSON object")
    try:
        check_schema(data, p)
    except RunRecordError as e:
        raise ManifestError(str(e)) from None
    return data


def read_full(env_log: Path, step: int) -> dict[str, Any]:
    """The complete manifest of ``step``, deltas applied on their full base."""
    chain = [_read(env_log, step)]
    while "base" in chain[-1]:
        base = chain[-1]["base"]
        if not isinstance(base, int) or base >= chain[-1].get("step", step) or len(chain) > MAX_CHAIN:
            raise ManifestError(f"the manifest of step {chain[-1].get('step')} names a bad base {base!r}")
        try:
            chain.append(_read(env_log, base))
        except ManifestError as e:
            raise ManifestError(f"step {step} is stored as changes since step {base}, and {e}") from None
    full = chain.pop()
    out = {**full, **{s: dict(full.get(s) or {}) for s in SECTIONS}}
    for m in reversed(chain):
        delta = m.get("delta") or {}
        for s in SECTIONS:
            d = delta.get(s) or {}
            for rel in d.get("removed", ()):
                out[s].pop(rel, None)
            out[s].update(d.get("set") or {})
        out.update({k: v for k, v in m.items() if k not in ("delta", "base")})
    out.pop("base", None)
    out.pop("delta", None)
    return out


def delta(before: dict[str, Any], after: dict[str, Any], *,
          files_touched: set[str] | None = None) -> tuple[dict[str, Any], int]:
    """What changed from ``before`` to ``after`` per section, and how many entries changed.

    ``files_touched``, when given, holds every file path that may differ: only those are
    compared, so a step's delta costs what changed, not the size of the workspace."""
    out, n = {}, 0
    for s in SECTIONS:
        a, b = before.get(s) or {}, after.get(s) or {}
        if s == "files" and files_touched is not None:
            changed = {k: b[k] for k in sorted(files_touched) if k in b and a.get(k) != b[k]}
            removed = sorted(k for k in files_touched if k in a and k not in b)
        else:
            changed = {k: v for k, v in b.items() if (old := a.get(k)) is not v and old != v}
            removed = [k for k in a if k not in b]
        if changed or removed:
            out[s] = {"set": changed, "removed": removed}
            n += len(changed) + len(removed)
    return out, n


def write(env_log: Path, step: int, manifest: dict[str, Any], tmp: Path) -> int:
    """Write one manifest atomically (temp + rename, not fsynced); returns its size in bytes.

    A killed process never leaves half a manifest; after a power loss,
    ``last_complete_step`` finds the newest intact one.
    """
    # scrubbed: a file name holding a secret value never reaches the snapshot metadata
    data = scrubbed_json(manifest, separators=(",", ":")).encode("utf-8")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, manifest_path(env_log, step))
    return len(data)


def diff_manifests(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    """Files and symbolic links added, removed and changed (content, mode or kind) from a to b."""
    def entries(m: dict) -> dict[str, tuple]:
        out = {p: ("file", i["sha256"], i["mode"]) for p, i in m.get("files", {}).items()}
        out.update({p: ("link", i["target"], 0) for p, i in m.get("symlinks", {}).items()})
        return out

    ea, eb = entries(a), entries(b)
    return {"added": sorted(set(eb) - set(ea)), "removed": sorted(set(ea) - set(eb)),
            "changed": sorted(p for p in set(ea) & set(eb) if ea[p] != eb[p])}
