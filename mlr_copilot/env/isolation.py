"""What a script may see: its environment and, under bubblewrap, its filesystem, by allowlist.

Environment (every sandbox mode): only the variables named in ``ALLOWED_NAMES`` or starting
with one of ``ALLOWED_PREFIXES``, minus any the secret rule (``config.is_secret``) matches;
``HOME`` is a private folder of the run (``env_log/home``); then what ``--device`` sets and
the variables the user names with ``--pass-env`` (a secret one only with ``--pass-secret-env``).

Filesystem under ``bwrap``: the system's read-only folders (``SYSTEM_DIRS``; ``/etc`` minus
``ETC_SECRETS``), the interpreter's prefix and site-packages, the folders of
``LD_LIBRARY_PATH``, ``/dev`` with the GPU devices, ``/sys`` and a new ``/proc`` (read-only),
a private ``/tmp`` and ``/dev/shm``, the private home, and the workspace (read-write, with the
task's read-only globs bound read-only). Nothing else exists inside: not ``/home``, ``/root``,
``/srv``, ``/mnt``, ``/opt``, other checkouts, ``tasks/`` or the rest of the run directory.
Paths reached through symbolic links (a venv linked into a checkout, an interpreter or CUDA
libraries behind links) are bound at their real location and run through it.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..config import env_files, is_secret
from ..errors import ConfigError

logger = logging.getLogger(__name__)

ALLOWED_NAMES = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "USER", "LOGNAME", "NO_COLOR",
    "FORCE_COLOR", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM",
    "MPLBACKEND", "SOURCE_DATE_EPOCH",
})
"""Variables a script receives when they are set (and not secret by the rule)."""
ALLOWED_PREFIXES = ("LC_", "PYTHON", "CUDA_", "NVIDIA_", "OMP_", "MKL_", "OPENBLAS_", "NUMEXPR_",
                    "CUBLAS_", "CUDNN_", "NCCL_", "TORCH_", "PYTORCH_", "XLA_")
"""Variables starting with these are received too (locale, Python, CUDA and thread settings)."""

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
"""Read-only inside bwrap (top-level links such as /lib -> usr/lib are recreated as links)."""
ETC_SECRETS = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh",
               "ssl/private", "pki/tls/private", "security/opasswd", "docker", "netrc",
               "environment", "NetworkManager/system-connections", "wpa_supplicant")
"""Under /etc, masked inside bwrap (keys, password hashes, stored credentials)."""
SECRET_HOME_PATHS = (
    ".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".netrc", ".git-credentials",
    ".pypirc", ".kaggle", ".anthropic", ".config/openai", ".config/gcloud", ".config/gh",
    ".cache/huggingface", ".huggingface", ".pgpass", ".npmrc", ".cargo/credentials.toml",
    ".vault-token", ".s3cfg", ".boto", ".config/rclone", ".m2/settings.xml", ".claude", ".my.cnf",
    ".bash_history", ".zsh_history", ".python_history", ".env",
)
"""Under $HOME: never visible inside bwrap (the home is not bound at all); also masked should
the interpreter or a library folder live inside the home."""
PROBE_TIMEOUT_S = 30.0


# ------------------------------------------------------------------------- environment
def check_pass_env(names: Iterable[str], allow_secret: bool) -> list[str]:
    """Validate ``--pass-env`` names; a secret one needs ``--pass-secret-env``. Returns them."""
    out = []
    for name in names:
        if not name or "=" in name or not name.replace("_", "").isalnum():
            raise ConfigError(f"--pass-env {name!r}: give a variable name (letters, digits, '_'), no value")
        if is_secret(name, os.environ.get(name)) and not allow_secret:
            raise ConfigError(f"--pass-env {name}: this variable is a secret by the secret rule (its name "
                              f"or a password in its value); scripts the LLM writes would see it. Add "
                              f"--pass-secret-env to pass it anyway.")
        out.append(name)
    return out


def script_env(*, home: Path, device: str | None = None, pass_env: Sequence[str] = (),
               pass_secret_env: bool = False, set_env: Iterable[tuple[str, str]] = (),
               source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a script receives (see the module docstring)."""
    source = os.environ if source is None else source
    env = {}
    for name, value in source.items():
        if (name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)) and not is_secret(name, value):
            env[name] = value
    env.setdefault("PATH", os.defpath)
    env["HOME"] = str(home)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(device)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(dict(set_env))
    for name in check_pass_env(pass_env, pass_secret_env):
        if name in source:
            env[name] = source[name]
    return env


# ------------------------------------------------------------------------- interpreter
def interpreter_path(name: str, path_var: str) -> str | None:
    """The interpreter to run, as a path that works inside the sandbox: the folder holding it
    is resolved (a venv linked into a checkout becomes its real folder), the file itself is
    kept (a venv's ``python`` link must be run as the venv's, not as its target)."""
    found = shutil.which(name, path=path_var)
    if found is None and name in ("python", "python3"):
        found = sys.executable
    if found is None:
        return None
    found = os.path.abspath(found)
    return os.path.join(os.path.realpath(os.path.dirname(found)), os.path.basename(found))


def interpreter_dirs(exe: str) -> list[str]:
    """Real folders the interpreter needs: its own prefix (a venv), the prefix of the file it
    links to, and this process's prefixes (sys.prefix, sys.base_prefix)."""
    cands = {os.path.dirname(os.path.dirname(exe)), os.path.dirname(os.path.dirname(os.path.realpath(exe)))}
    venv_cfg = Path(os.path.dirname(os.path.dirname(exe))) / "pyvenv.cfg"
    try:  # a venv's base interpreter (home = .../bin)
        for line in venv_cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                cands.add(os.path.dirname(os.path.realpath(value.strip())))
    except OSError:
        pass
    cands |= {sys.prefix, sys.base_prefix}
    return sorted({os.path.realpath(c) for c in cands if c and os.path.isdir(c)})


# ------------------------------------------------------------------------- bwrap
def _under(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _system_args() -> tuple[list[str], list[str]]:
    """bwrap arguments for the system folders, and the real folders they expose."""
    args, exposed = [], []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
            exposed.append(d)
    return args, exposed


def _masks(exposed: Sequence[str], extra_hidden: Sequence[str]) -> list[str]:
    """Arguments masking secret files that lie inside an exposed folder."""
    home = Path.home()
    cands = [f"/etc/{p}" for p in ETC_SECRETS] + [str(home / p) for p in SECRET_HOME_PATHS]
    cands += [str(p) for p in env_files()] + [str(Path(p).expanduser()) for p in extra_hidden]
    args, done = [], set()
    for c in cands:
        if not os.path.lexists(c):
            continue
        real = os.path.realpath(c)
        if real in done or not os.path.exists(real) or not _under(real, exposed):
            continue
        done.add(real)
        args += (["--tmpfs", real, "--remount-ro", real] if os.path.isdir(real)
                 else ["--ro-bind", "/dev/null", real])
    return args


def bwrap_args(*, workspace: str, home: str, exe: str | None, read_only: Sequence[str] = (),
               hidden: Sequence[str] = (), allow_network: bool = False,
               lib_path: str = "") -> list[str]:
    """The bwrap command line up to ``--`` (see the module docstring)."""
    a, exposed = _system_args()
    a += ["--ro-bind-try", "/sys", "/sys", "--dev", "/dev"]
    for dev in sorted(glob.glob("/dev/nvidia*")) + [d for d in ("/dev/dxg",) if os.path.exists(d)]:
        a += ["--dev-bind", dev, dev]
    a += ["--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc",
          "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    keep_run = ["/run/nvidia-persistenced"]
    if allow_network:
        keep_run += ["/run/systemd/resolve", "/run/resolvconf"]
    for p in keep_run:
        if os.path.exists(p):
            a += ["--ro-bind", p, p]
    # after the private /tmp and /run, so that an interpreter living there stays visible
    extra = interpreter_dirs(exe) if exe else []
    for d in lib_path.split(os.pathsep):
        if d and os.path.isdir(d):
            extra.append(os.path.realpath(d))
    for d in sorted(set(extra)):
        if not _under(d, exposed) and d != "/":
            a += ["--ro-bind", d, d]
            exposed.append(d)
    a += _masks(exposed, hidden)
    a += ["--bind", home, home, "--bind", workspace, workspace]
    for p in read_only:
        a += ["--ro-bind", p, p]
    # the root bwrap builds (with the mount points of the binds above) is read-only too
    a += ["--remount-ro", "/", "--chdir", workspace, "--unshare-pid", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if not allow_network:
        a.append("--unshare-net")
    return ["bwrap", *a, "--"]


def startup_failure(prefix: Sequence[str], command: Sequence[str], env: Mapping[str, str],
                    cwd: Path) -> str | None:
    """Why the interpreter cannot start inside the sandbox (its error), or None if it can."""
    probe = [*prefix, command[0], "-c", "pass"]
    try:
        r = subprocess.run(probe, cwd=cwd, env=dict(env), capture_output=True, text=True,
                           timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if r.returncode == 0:
        return None
    return (r.stderr or r.stdout or f"exit status {r.returncode}").strip()[-800:]


def startup_message(exe: str, why: str) -> str:
    return (f"Execute Script cannot start the interpreter {exe} inside the bwrap sandbox: {why}. "
            "The sandbox shows only the system folders, the interpreter's own prefix, the workspace "
            "and a private home and /tmp. Fix: give --python an interpreter installed in a system "
            "folder or in a venv/conda prefix of its own (not one reached only through a hidden "
            "folder such as /home or another checkout), or use --sandbox none for trusted code. "
            "`mlr-copilot doctor` checks the sandbox.")
