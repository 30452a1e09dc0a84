"""The private copy of the task's workspace that a run works in.

A run never touches ``workspaces/<task>``: it works on a copy in its run directory, or in a
work directory the user names. (Run directories themselves are made by ``records``.)
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from ..errors import ConfigError
from ..records import RunDir
from .snapshot_io import copy_sparse

logger = logging.getLogger(__name__)


def copy_workspace(src: Path, dst: Path) -> list[str]:
    """Copy a task workspace to ``dst`` (new or empty); return the paths left out, with why.

    Symbolic links that stay inside ``src`` are kept (made relative, so they point into the
    copy, never back into the source); links leading outside, sockets and other special
    files are left out, each logged.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise ConfigError(f"The task workspace {src} does not exist or is not a directory")
    real_src = Path(os.path.realpath(src))
    real_dst = Path(os.path.realpath(dst))
    if real_dst == real_src or real_dst.is_relative_to(real_src) or real_src.is_relative_to(real_dst):
        raise ConfigError(f"Cannot copy the workspace {src} into {dst}: one contains the other")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ConfigError(f"{dst} already exists and is not empty")
    dst.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    dirs: list[tuple[Path, Path]] = [(real_src, dst)]
    for root, dirnames, filenames in os.walk(real_src):
        rel_root = Path(root).relative_to(real_src)
        for name in sorted(dirnames + filenames):
            s = Path(root) / name
            d = dst / rel_root / name
            rel = (rel_root / name).as_posix()
            st = s.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = Path(os.path.realpath(s))
                if target == real_src or not target.is_relative_to(real_src):
                    skipped.append(f"{rel} (symbolic link leading outside the workspace)")
                    continue
                os.symlink(os.path.relpath(target, s.parent.resolve()), d)
            elif stat.S_ISDIR(st.st_mode):
                d.mkdir()
                dirs.append((s, d))
            elif stat.S_ISREG(st.st_mode):
                if st.st_blocks * 512 < st.st_size:  # sparse: keep the holes (a plain copy fills them)
                    with open(s, "rb") as fin, open(d, "wb") as fout:
                        copy_sparse(fin, fout)
                    shutil.copystat(s, d, follow_symlinks=False)
                else:
                    shutil.copy2(s, d, follow_symlinks=False)
            else:
                skipped.append(f"{rel} (not a regular file)")
        dirnames[:] = [n for n in dirnames if not (Path(root) / n).is_symlink()]
    for s, d in reversed(dirs):
        shutil.copystat(s, d, follow_symlinks=False)
    for item in skipped:
        logger.warning("Workspace copy left out %s", item)
    return skipped


def prepare_workspace(task_workspace: Path, run_dir: Path, work_dir: Path | None = None) -> Path:
    """The workspace a run works in: ``run_dir/workspace`` (a fresh copy) or ``work_dir``.

    A ``work_dir`` that is missing or empty receives a copy of the task workspace; one with
    content is used as it is (to continue earlier work). The task workspace itself is never
    used directly.
    """
    if work_dir is None:
        dest = RunDir(run_dir).own_workspace
        copy_workspace(task_workspace, dest)
        return dest
    work_dir = Path(work_dir)
    if os.path.realpath(work_dir) == os.path.realpath(task_workspace):
        raise ConfigError(f"--work-dir {work_dir} is the task workspace itself, which runs never "
                          "modify; name another directory")
    if work_dir.exists() and not work_dir.is_dir():
        raise ConfigError(f"--work-dir {work_dir} exists and is not a directory")
    if not work_dir.exists() or not any(work_dir.iterdir()):
        copy_workspace(task_workspace, work_dir)
    else:
        logger.info("Using the existing content of %s as the workspace", work_dir)
    return work_dir
