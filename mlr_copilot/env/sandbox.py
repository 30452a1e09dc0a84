"""Where the agent's code may act: path confinement, read-only rules and script isolation.

Every file action resolves its paths through :meth:`Sandbox.resolve`; Execute Script runs
through :meth:`Sandbox.run` (process handling lives in ``process``). What a script may see
is decided by allowlist in ``isolation`` (environment in every mode; filesystem under
``bwrap``), its process limit by ``proclimit``, and secret values are scrubbed from its
output by ``process`` (the secret rule is ``config``'s). ``--sandbox`` modes:

* ``bwrap``: bubblewrap with its own PID and network namespaces (network kept with
  ``--allow-network``), no capabilities, the filesystem allowlist; read-only task files are
  bound read-only.
* ``none`` (and ``auto`` without a working bubblewrap): the environment allowlist, the limits
  and the scrubbing only; the script can read and write whatever the user can. A
  convenience for trusted code, not isolation.

The README's "Sandbox modes" table says, threat by threat, what each mode blocks and what it
does not. Neither mode is a security boundary against a determined attacker: the kernel and
the GPU driver are shared.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from ..errors import ActionError, ConfigError, PathEscapeError, ReadOnlyError, SandboxStartError
from ..records import EnvLog
from ..run_config import SANDBOX_MODES
from . import isolation
from .context import EnvConfig
from .proclimit import PidsCgroup
from .proclimit import describe as describe_process_limit
from .process import ProcessResult, run_process

logger = logging.getLogger(__name__)

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_READ_ONLY_BINDS = 512  # beyond this, read-only files are only protected after the step

_probe_cache: dict[str, tuple[bool, str]] = {}
_warned_no_bwrap = False


class Sandbox:
    """Confines paths to one workspace and runs scripts in the configured isolation mode."""

    def __init__(self, workspace: Path, config: EnvConfig, env_log_dir: Path):
        self.config = config
        self.workspace = Path(os.path.realpath(workspace))
        if not self.workspace.is_dir():
            raise ConfigError(f"The workspace {workspace} does not exist or is not a directory")
        self.env_log_dir = Path(env_log_dir)
        self._read_only = [p for p in (_norm_pattern(p) for p in config.read_only) if p]
        self.mode = resolve_mode(config.sandbox)
        for name in isolation.check_pass_env(config.pass_env, config.pass_secret_env):
            if isolation.is_secret(name, os.environ.get(name)):
                logger.warning("--pass-secret-env: the secret variable %s is passed to every script", name)
        _warn_process_limit(config.max_processes)

    # ------------------------------------------------------------------ paths
    def resolve(self, path_str: str, *, for_write: bool = False) -> Path:
        """The real path of a workspace-relative name; refuse anything that leads out."""
        if not isinstance(path_str, str):
            raise ActionError(f"A path must be a string, got {type(path_str).__name__}")
        shown = path_str
        s = path_str.strip()
        if "\x00" in s:
            raise ActionError(f"The path {shown!r} contains a NUL byte, which no file name may hold.")
        if len(s.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
            raise ActionError(f"The path starting {s[:60]!r}... is too long (over {MAX_PATH_BYTES} bytes).")
        for part in s.split("/"):
            if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
                raise ActionError(f"The name {part[:60]!r}... in {s[:80]!r} is too long "
                                  f"(a file name may have at most {MAX_NAME_BYTES} bytes).")
        if os.path.isabs(s):
            raise PathEscapeError(self._absolute_message(s))
        norm = posixpath.normpath(s) if s else "."
        if norm == ".." or norm.startswith("../"):
            raise PathEscapeError(f"The path {shown!r} leads outside the workspace ('..'). "
                                  "Use a path relative to the workspace root, such as 'train.py'.")
        real = Path(os.path.realpath(self.workspace / norm))
        if real != self.workspace and not real.is_relative_to(self.workspace):
            raise PathEscapeError(f"The path {shown!r} goes through a symbolic link that leads outside "
                                  "the workspace; only files inside the workspace can be used.")
        if for_write:
            self.check_writable(norm, real)
        return real

    def rel(self, path: Path) -> str:
        """Workspace-relative POSIX name of a resolved path ('.' for the root)."""
        r = Path(path).relative_to(self.workspace).as_posix()
        return r or "."

    def is_read_only(self, rel: str) -> bool:
        """Whether a workspace-relative path, or a folder above it, matches a read-only glob."""
        if not self._read_only or rel in ("", "."):
            return False
        parts = rel.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatchcase(c, pat) for pat in self._read_only for c in candidates)

    def check_writable(self, norm: str, real: Path | None = None) -> None:
        names = {norm}
        if real is not None and real != self.workspace:
            names.add(self.rel(real))
        for name in names:
            if self.is_read_only(name):
                raise ReadOnlyError(f"The file {name!r} is read-only for this task; it cannot be "
                                    "written, overwritten, edited or undone. Write to another name instead.")

    def _absolute_message(self, s: str) -> str:
        msg = (f"Absolute paths are not allowed: {s!r}. Use a path relative to the workspace root, "
               "such as 'train.py'.")
        real = os.path.realpath(s)
        if real.startswith(str(self.workspace) + os.sep):
            msg += f" (That file is '{os.path.relpath(real, self.workspace)}' relative to the workspace.)"
        return msg

    # ------------------------------------------------------------- execution
    @property
    def home(self) -> Path:
        """The scripts' private HOME: a folder of the run, kept between steps."""
        home = EnvLog(self.env_log_dir).home
        home.mkdir(parents=True, exist_ok=True)
        return home

    def script_env(self) -> dict[str, str]:
        """The environment a script sees: the allowlist of ``isolation``, never a secret."""
        return isolation.script_env(home=self.home, device=self.config.device,
                                    pass_env=self.config.pass_env,
                                    pass_secret_env=self.config.pass_secret_env,
                                    set_env=self.config.set_env)

    def command(self, args: Sequence[str], env: dict[str, str]) -> list[str]:
        """The interpreter (config.python) as a path that works in the sandbox, then the arguments."""
        interp = list(self.config.python)
        if not interp:
            raise ConfigError("No interpreter configured for Execute Script")
        found = isolation.interpreter_path(interp[0], env.get("PATH", os.defpath))
        if found is None:
            raise ActionError(f"The interpreter {interp[0]!r} was not found on PATH; the script was not run.")
        return [found, *interp[1:], *args]

    def run(self, argv: Sequence[str], timeout_s: float, *, output_name: str = "script") -> ProcessResult:
        """Run ``argv`` (no shell) in the workspace, isolated per mode; never raises on failure
        of the script itself. Raises ``SandboxStartError`` (the run ends) when the interpreter
        cannot start inside bwrap, which no script change could fix."""
        env = self.script_env()
        prefix = self.bwrap_prefix(argv[0] if argv else None) if self.mode == "bwrap" else []
        out_dir = EnvLog(self.env_log_dir).outputs
        cgroup = PidsCgroup.create(self.config.max_processes) if self.config.max_processes else None
        try:
            result = run_process([*prefix, *argv], cwd=self.workspace, env=env, timeout_s=timeout_s,
                                 output_dir=out_dir, output_name=output_name,
                                 budget=self.config.observation_budget, limits=self._limits(),
                                 mode=self.mode, cgroup=cgroup)
        finally:
            if cgroup is not None:
                cgroup.remove()
        if prefix and not result.timed_out and result.exit_code and _looks_unstarted(result):
            why = isolation.startup_failure(prefix, argv, env, self.workspace)
            if why is not None:
                raise SandboxStartError(isolation.startup_message(argv[0], why))
        return result

    def _limits(self) -> dict[str, int]:
        mb = 1024 * 1024
        c = self.config
        out = {}
        if c.max_file_size_mb:
            out["RLIMIT_FSIZE"] = int(c.max_file_size_mb) * mb
        if c.max_processes:
            out["RLIMIT_NPROC"] = int(c.max_processes)
        if c.memory_limit_mb:
            out["RLIMIT_DATA"] = int(c.memory_limit_mb) * mb
        return out

    # ------------------------------------------------------------------ bwrap
    def bwrap_prefix(self, exe: str | None = None) -> list[str]:
        """bwrap arguments: the filesystem allowlist of ``isolation``, private /tmp and home."""
        if exe is None and self.config.python:
            exe = isolation.interpreter_path(self.config.python[0], os.environ.get("PATH", os.defpath))
        return isolation.bwrap_args(workspace=str(self.workspace), home=str(self.home), exe=exe,
                                    read_only=self._read_only_existing(),
                                    hidden=[str(p) for p in self.config.hidden_paths],
                                    allow_network=self.config.allow_network,
                                    lib_path=os.environ.get("LD_LIBRARY_PATH", ""))

    def _read_only_existing(self) -> list[str]:
        """Top-most existing workspace paths that are read-only (bound read-only in bwrap)."""
        if not self._read_only:
            return []
        out: list[str] = []
        for root, dirs, files in os.walk(self.workspace):
            rel_root = os.path.relpath(root, self.workspace)
            keep = []
            for name in sorted(dirs) + sorted(files):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if self.is_read_only(rel):
                    out.append(os.path.join(root, name))
                elif name in dirs:
                    keep.append(name)
            dirs[:] = [d for d in dirs if d in keep]
            if len(out) > MAX_READ_ONLY_BINDS:
                logger.warning("More than %d read-only paths; scripts' changes to the others are "
                               "undone after the step instead of being blocked", MAX_READ_ONLY_BINDS)
                return out[:MAX_READ_ONLY_BINDS]
        return out


def _norm_pattern(p: str) -> str:
    p = p.strip()
    while p.startswith("./"):
        p = p[2:]
    return p.rstrip("/")


_warned_process_limit = False


def _warn_process_limit(max_processes: int | None) -> None:
    global _warned_process_limit
    if max_processes and not _warned_process_limit and os.geteuid() == 0:
        what = describe_process_limit()
        if what.startswith("RLIMIT_NPROC"):
            _warned_process_limit = True
            logger.warning("Process limit for scripts: %s", what)


def _looks_unstarted(result: ProcessResult) -> bool:
    """Whether a failed run may never have reached the script (bwrap's own error, exit 126/127)."""
    head = result.head_tail_text.lstrip()[:200]
    return result.exit_code in (126, 127) or head.startswith("bwrap:")


def probe_bwrap() -> tuple[bool, str]:
    """Whether bubblewrap works here with the flags we use (cached); the reason if not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if exe in _probe_cache:
        return _probe_cache[exe]
    cmd = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
           "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run",
           "--unshare-pid", "--unshare-net", "--die-with-parent", "--cap-drop", "ALL", "--", "true"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        result = (r.returncode == 0, (r.stderr or "").strip() or f"bwrap exited with {r.returncode}")
    except (OSError, subprocess.TimeoutExpired) as e:
        result = (False, f"bwrap could not run: {e}")
    if result[0]:
        result = (True, "")
    _probe_cache[exe] = result
    return result


def resolve_mode(requested: str) -> str:
    """'bwrap' or 'none' for a requested mode; auto falls back to none with one warning."""
    global _warned_no_bwrap
    if requested not in SANDBOX_MODES:
        raise ConfigError(f"Unknown sandbox mode {requested!r}; use auto, bwrap or none")
    if requested == "none":
        return "none"
    ok, why = probe_bwrap()
    if ok:
        return "bwrap"
    if requested == "bwrap":
        raise ConfigError(f"--sandbox bwrap was requested but bubblewrap does not work here: {why}")
    if not _warned_no_bwrap:
        _warned_no_bwrap = True
        logger.warning("Scripts will run WITHOUT isolation (--sandbox none): %s. They can read your "
                       "files and use the network; only environment secrets are removed.", why)
    return "none"
