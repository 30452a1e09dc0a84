"""Where the agent's code may act: path confinement, read-only rules and script isolation.

Every file action resolves its paths through :meth:`Sandbox.resolve`; Execute Script runs
through :meth:`Sandbox.run` (process handling lives in ``runner``). What each
``--sandbox`` mode protects against, when a script the LLM wrote is run:

=================================  =========================  =============================
Threat                             ``bwrap``                  ``none`` (and ``auto`` without
                                                              a working bubblewrap)
=================================  =========================  =============================
File actions leaving the           refused in both modes: absolute paths, ``..`` and
workspace                          symbolic links leading out never pass ``resolve``
API keys in the environment        removed in both modes: ``*_API_KEY``, ``*_TOKEN``,
                                   ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``, every
                                   name defined in a ``.env`` file, ``secret_names``
Writing outside the workspace      blocked: system read-only, NOT blocked: anything the
                                   private /tmp and /dev/shm  user may write
Reading secret files (``.env``,    masked (empty file or      NOT blocked
``~/.ssh``, ``~/.aws``, HF and     empty folder)
cloud tokens, shell history)
Reading other files of the user    NOT blocked (read-only)    NOT blocked
Seeing or signalling the agent     blocked (own PID           NOT blocked (same user: it can
(``/proc/<agent>/environ``, kill)  namespace)                 read the agent's environment)
Network                            none (own network          NOT blocked
                                   namespace) unless
                                   ``--allow-network``
Local sockets (docker, dbus,       ``/run`` masked; abstract  NOT blocked
ssh-agent)                         sockets cut with the net
Changing read-only task files      blocked (read-only bind    refused to file actions; files
                                   mounts)                    a script changed or deleted
                                                              are restored after the step
Processes outliving the script     all killed (the PID        process group killed, then any
                                   namespace dies)            process carrying the script's
                                                              marker variable (one that
                                                              rewrites its environment and
                                                              calls setsid can escape)
Endless scripts, huge output       both: timeout (never beyond the run's time left);
                                   output streamed to a file, bounded memory
File size, process count, memory   both: RLIMIT_FSIZE, RLIMIT_NPROC, optional RLIMIT_DATA
                                   (which spares the address space CUDA reserves)
Kernel or GPU-driver exploits      NOT blocked                NOT blocked
=================================  =========================  =============================

``none`` is a convenience for trusted code, not isolation. ``bwrap`` guards well against
mistakes and casual misuse, but it is not a security boundary against a determined attacker:
the kernel and the GPU driver are shared, and everything readable by the user outside the
masked paths stays readable.
"""
from __future__ import annotations

import fnmatch
import glob
import logging
import os
import posixpath
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ActionError, ConfigError, PathEscapeError, ReadOnlyError
from .context import EnvConfig
from .runner import RunResult, run_process

logger = logging.getLogger(__name__)

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_READ_ONLY_BINDS = 512  # beyond this, read-only files are only protected after the step

SECRET_NAME_PATTERNS = ("*_API_KEY", "API_KEY", "*_TOKEN", "*SECRET*", "*PASSWORD*",
                        "*PASSWD*", "*CREDENTIAL*")
"""Environment variables matching these (case-insensitive) never reach a script."""

SECRET_HOME_PATHS = (
    ".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".netrc", ".git-credentials",
    ".pypirc", ".kaggle", ".anthropic", ".config/openai", ".config/gcloud", ".config/gh",
    ".cache/huggingface/token", ".cache/huggingface/stored_tokens", ".huggingface/token",
    ".bash_history", ".zsh_history", ".python_history", ".env",
)
"""Files and folders under $HOME masked inside bwrap (they hold keys or typed commands)."""

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
    def script_env(self) -> dict[str, str]:
        """The environment a script sees: ours minus every secret, plus the device choice."""
        extra = {n.upper() for n in self.config.secret_names}
        extra |= {n.upper() for n in dotenv_names(self._dotenv_files())}
        env = {}
        for name, value in os.environ.items():
            up = name.upper()
            if up in extra or any(fnmatch.fnmatchcase(up, p) for p in SECRET_NAME_PATTERNS):
                continue
            env[name] = value
        if self.config.device is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.config.device)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, args: Sequence[str], env: dict[str, str]) -> list[str]:
        """The interpreter (config.python) resolved to a full path, then the arguments."""
        interp = list(self.config.python)
        if not interp:
            raise ConfigError("No interpreter configured for Execute Script")
        found = shutil.which(interp[0], path=env.get("PATH", os.defpath))
        if found is None and interp[0] in ("python", "python3"):
            found = sys.executable
        if found is None:
            raise ActionError(f"The interpreter {interp[0]!r} was not found on PATH; the script was not run.")
        return [found, *interp[1:], *args]

    def run(self, argv: Sequence[str], timeout_s: float, *, output_name: str = "script") -> RunResult:
        """Run ``argv`` (no shell) in the workspace, isolated per mode; never raises on failure
        of the script itself, only when it cannot be started."""
        env = self.script_env()
        prefix = self.bwrap_prefix() if self.mode == "bwrap" else []
        out_dir = self.env_log_dir / "outputs"
        return run_process([*prefix, *argv], cwd=self.workspace, env=env, timeout_s=timeout_s,
                           output_dir=out_dir, output_name=output_name,
                           budget=self.config.observation_budget, limits=self._limits(), mode=self.mode)

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
    def bwrap_prefix(self) -> list[str]:
        """bwrap arguments: read-only system, writable workspace, private /tmp, GPUs kept."""
        ws = str(self.workspace)
        a = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev"]
        for dev in sorted(glob.glob("/dev/nvidia*")) + [d for d in ("/dev/dxg",) if os.path.exists(d)]:
            a += ["--dev-bind", dev, dev]
        a += ["--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc",
              "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run"]
        keep_run = ["/run/nvidia-persistenced"]
        if self.config.allow_network:
            keep_run += ["/run/systemd/resolve", "/run/resolvconf"]
        for p in keep_run:
            if os.path.exists(p):
                a += ["--ro-bind", p, p]
        for p in self._interpreter_dirs():  # a venv under /tmp must survive the private /tmp
            a += ["--ro-bind", p, p]
        for p in self._hidden_paths():
            a += (["--tmpfs", p, "--remount-ro", p] if os.path.isdir(p) else ["--ro-bind", "/dev/null", p])
        a += ["--bind", ws, ws]
        for p in self._read_only_existing():
            a += ["--ro-bind", p, p]
        a += ["--chdir", ws, "--unshare-pid", "--die-with-parent", "--cap-drop", "ALL"]
        if not self.config.allow_network:
            a.append("--unshare-net")
        return [*a, "--"]

    def _interpreter_dirs(self) -> list[str]:
        """Python installations under /tmp or /run, which the private tmpfs would hide."""
        found = shutil.which(self.config.python[0]) if self.config.python else None
        cands = {sys.prefix, sys.base_prefix}
        if found:  # a venv's python is a link: keep both the venv and what it points to
            cands.add(os.path.dirname(os.path.dirname(os.path.abspath(found))))
            cands.add(os.path.dirname(os.path.dirname(os.path.realpath(found))))
        out = []
        for c in sorted(cands):
            real = os.path.realpath(c)
            if any(real == m or real.startswith(m + "/") for m in ("/tmp", "/run")) and os.path.isdir(real):
                out.append(real)
        return out

    def _dotenv_files(self) -> list[Path]:
        found = [Path.cwd() / ".env", Path.home() / ".env"]
        found += [p / ".env" for p in self.workspace.parents]
        seen, out = set(), []
        for f in found:
            if f not in seen and f.is_file():
                seen.add(f)
                out.append(f)
        return out

    def _hidden_paths(self) -> list[str]:
        home = Path.home()
        cands = [home / p for p in SECRET_HOME_PATHS] + self._dotenv_files()
        cands += [Path(p).expanduser() for p in self.config.hidden_paths]
        out: list[str] = []
        for c in cands:
            if not os.path.lexists(c):
                continue
            real = os.path.realpath(c)
            ws = str(self.workspace)
            if real == ws or ws.startswith(real + os.sep) or real.startswith(ws + os.sep):
                continue  # never mask the workspace or a folder holding it
            if os.path.exists(real) and real not in out:
                out.append(real)
        return out

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


def dotenv_names(files: Iterable[Path]) -> set[str]:
    """Variable names defined in .env files (their values are never read into the script)."""
    names: set[str] = set()
    for f in files:
        try:
            from dotenv import dotenv_values
            names |= {k for k in dotenv_values(f) if k}
        except ImportError:  # python-dotenv is a dependency, but degrade to a simple parse
            for line in f.read_text(errors="replace").splitlines():
                line = line.strip().removeprefix("export ").strip()
                if line and not line.startswith("#") and "=" in line:
                    names.add(line.split("=", 1)[0].strip())
        except OSError:
            continue
    return names


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
    if requested not in ("auto", "bwrap", "none"):
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
