"""A process limit that holds for root: one pids cgroup per script, where the system allows it.

``RLIMIT_NPROC`` (set by ``process`` as well) counts the processes of a user and is ignored
for root, so a script run as root could fork without bound; a user namespace does not help
(the kernel exempts real uid 0 whatever the mapping). A pids cgroup counts every process and
thread of the script, whoever runs it, and lets us kill them all at the end.

Which limit applies where (``describe()`` says it for ``doctor`` and the sandbox warning):

* the cgroup filesystem is writable (root on a host, or a container given its cgroup):
  a cgroup v2 child with ``pids.max`` when the ``pids`` controller can be enabled, else the
  cgroup v1 ``pids`` hierarchy; the limit holds for root, in both sandbox modes;
* otherwise ``RLIMIT_NPROC`` only: it holds for ordinary users (counting all their
  processes) but NOT for root, where only the script timeout stops a fork bomb.
"""
from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_PREFIX = "mlr-copilot-"
REMOVE_WAIT_S = 2.0  # killed processes must be reaped before their cgroup can be removed

_parent_cache: list[tuple[str, Path] | None] = []


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of each cgroup mount, from /proc/self/mountinfo."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            out.append((fields[4].replace("\\040", " "), rest[0], rest[2]))
    return out


def _own_paths() -> dict[str, str]:
    """Our cgroup path per hierarchy: '' for v2, 'pids' for the v1 pids controller."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                out[""] = path
            elif "pids" in controllers.split(","):
                out["pids"] = path
    except (OSError, ValueError):
        pass
    return out


def _writable_dir(p: Path) -> bool:
    return p.is_dir() and os.access(p, os.W_OK)


def _find_parent() -> tuple[str, Path] | None:
    """('v2' or 'v1', the folder under which script cgroups can be made), or None."""
    own = _own_paths()
    for mount, fstype, opts in _mounts():
        if fstype == "cgroup2" and "" in own:
            base = Path(mount) / own[""].lstrip("/")
            try:
                if "pids" not in (base / "cgroup.controllers").read_text().split():
                    continue
                if "pids" not in (base / "cgroup.subtree_control").read_text().split():
                    (base / "cgroup.subtree_control").write_text("+pids")
            except OSError:
                continue
            if _writable_dir(base):
                return "v2", base
    for mount, fstype, opts in _mounts():
        if fstype == "cgroup" and "pids" in opts.split(",") and "pids" in own:
            base = Path(mount) / own["pids"].lstrip("/")
            if _writable_dir(base):
                return "v1", base
    return None


def cgroup_parent() -> tuple[str, Path] | None:
    """The cached answer of ``_find_parent``."""
    if not _parent_cache:
        _parent_cache.append(_find_parent())
    return _parent_cache[0]


def describe() -> str:
    """Which process limit holds here, in words."""
    found = cgroup_parent()
    if found is not None:
        return f"pids cgroup ({'cgroup v2' if found[0] == 'v2' else 'cgroup v1'}): holds for root too"
    if os.geteuid() == 0:
        return ("RLIMIT_NPROC only, which root ignores: a fork bomb is stopped only by the script "
                "timeout (run as an ordinary user, or give the process a writable pids cgroup)")
    return "RLIMIT_NPROC (counts every process of this user)"


class PidsCgroup:
    """One script's cgroup: ``enter`` (in the child, before exec), ``kill_all``, ``remove``."""

    def __init__(self, kind: str, path: Path):
        self.kind = kind
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> "PidsCgroup | None":
        found = cgroup_parent()
        if found is None or not max_pids:
            return None
        kind, parent = found
        path = parent / f"{CGROUP_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(int(max_pids)))
        except OSError as exc:
            logger.warning("Could not create a pids cgroup under %s (%s); RLIMIT_NPROC applies", parent, exc)
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(kind, path)

    def enter(self) -> None:
        """Move the calling process into the cgroup (called in the child before exec)."""
        with open(self.path / "cgroup.procs", "w") as f:
            f.write("0")

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> int:
        """SIGKILL every process still in the cgroup; how many there were."""
        found = self.pids()
        kill_file = self.path / "cgroup.kill"
        if self.kind == "v2" and kill_file.exists():
            try:
                kill_file.write_text("1")
                return len(found)
            except OSError:
                pass
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return len(found)

    def remove(self) -> None:
        """Kill what is left and remove the cgroup (waits briefly for the kernel to reap)."""
        deadline = time.monotonic() + REMOVE_WAIT_S
        while True:
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if time.monotonic() >= deadline:
                    logger.warning("Could not remove the script's cgroup %s: %s", self.path, exc)
                    return
                time.sleep(0.02)
