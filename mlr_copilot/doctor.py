"""``mlr-copilot doctor``: what works on this machine, and the command that fixes what does not.

Key values are never printed: only whether each key is set.
"""
from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .view.result import plural

PACKAGES = ("anthropic", "openai", "huggingface_hub", "python-dotenv", "pypdf", "rich", "tenacity",
            "llama_cpp_python", "transformers", "torch", "scikit-learn", "pandas", "pytest")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    optional: bool = False


def package_checks() -> list[Check]:
    checks = [Check("python", sys.version_info >= (3, 10), sys.version.split()[0],
                    None if sys.version_info >= (3, 10) else "install Python 3.10 or newer")]
    for name in PACKAGES:
        try:
            checks.append(Check(name, True, md.version(name)))
        except md.PackageNotFoundError:
            optional = name in ("transformers", "torch", "pytest")
            checks.append(Check(name, False, "not installed", f"pip install {name.replace('_', '-')}",
                                optional=optional))
    return checks


def backend_checks(env: dict | None = None) -> list[Check]:
    from .llm.registry import describe_backends

    out = []
    for row in describe_backends(env if env is not None else dict(os.environ)):
        fix = row.get("fix")
        if not fix and not row["usable"] and row.get("key_var") and not row.get("key_present"):
            fix = f"put {row['key_var']}=... in .env (see .env.example) or export it"
        usable, detail = bool(row["usable"]), row["detail"]
        if row["name"] == "llama" and not gpu_names():  # 8B parameters: hours per step on a CPU
            usable, detail = False, detail + "; no NVIDIA GPU visible (Llama 3.1 8B needs one, about 16 GB)"
            fix = fix or "run on a machine with an NVIDIA GPU, or use --llm local on the CPU"
        out.append(Check(f"llm {row['name']}", usable, detail, fix, optional=True))
    return out


def gpu_names() -> list[str]:
    """The NVIDIA GPUs ``nvidia-smi -L`` lists (empty without a driver or a GPU)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        r = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return r.stdout.strip().splitlines() if r.returncode == 0 else []


def model_check() -> Check:
    from .llm.local_model import embedded_model_status

    st = embedded_model_status()
    return Check("embedded model", bool(st.get("ok")), st.get("detail", ""), st.get("fix"))


def sandbox_check() -> Check:
    from .env.sandbox import probe_bwrap

    path = shutil.which("bwrap")
    if not path:
        return Check("bubblewrap", False, "not found: scripts run with reduced isolation (--sandbox none)",
                     "sudo apt-get install bubblewrap")
    ok, why = probe_bwrap()
    if not ok:
        return Check("bubblewrap", False, f"installed but cannot create a sandbox: {why[:200]}",
                     "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), "
                     "or in Docker run with --security-opt seccomp=unconfined")
    return Check("bubblewrap", True, path)


def process_limit_check() -> Check:
    from .env.proclimit import describe

    what = describe()
    weak = what.startswith("RLIMIT_NPROC only")
    return Check("process limit", not weak, what,
                 "run as an ordinary user, or give mlr-copilot a writable pids cgroup" if weak else None,
                 optional=True)


def secrets_check(env: dict | None = None) -> Check:
    """Which variables and .env files the secret rule covers (names and paths, never values)."""
    from .config import env_files, secret_names

    names = secret_names(dict(os.environ) if env is None else env)
    files = env_files()
    detail = (f"{len(names)} secret variable(s) set ({', '.join(names[:6])}{' ...' if len(names) > 6 else ''}); "
              f".env files: {', '.join(str(f) for f in files) or 'none'}. Scripts receive none of them "
              f"(environment allowlist); their values are scrubbed from logs and LLM requests.")
    return Check("secrets", True, detail)


def gpu_check() -> Check:
    names = gpu_names()
    if names:
        return Check("gpus", True, "; ".join(names), optional=True)
    return Check("gpus", False, "no NVIDIA GPU visible: scripts and the llama backend run on the CPU",
                 "install the NVIDIA driver and a CUDA build of torch to use a GPU", optional=True)


def disk_check(log_root: Path) -> Check:
    probe = log_root if log_root.exists() else Path(".")
    free_gb = shutil.disk_usage(probe).free / 1e9
    ok = free_gb >= 5
    return Check("disk", ok, f"{free_gb:.1f} GB free under {probe.resolve()}",
                 None if ok else "free disk space or use --log-root on a larger disk")


def _safe(fn: Callable[[], Check | list[Check]], name: str) -> list[Check]:
    try:
        result = fn()
    except Exception as exc:  # a broken part must not hide the report of the others
        return [Check(name, False, f"check failed: {type(exc).__name__}: {exc}")]
    return result if isinstance(result, list) else [result]


def collect(log_root: Path, env: dict | None = None) -> list[Check]:
    checks: list[Check] = []
    checks += _safe(package_checks, "packages")
    checks += _safe(lambda: backend_checks(env), "llm backends")
    checks += _safe(model_check, "embedded model")
    checks += _safe(sandbox_check, "bubblewrap")
    checks += _safe(process_limit_check, "process limit")
    checks += _safe(lambda: secrets_check(env), "secrets")
    checks += _safe(gpu_check, "gpus")
    checks += _safe(lambda: disk_check(log_root), "disk")
    return checks


def run_doctor(log_root: Path = Path("logs"), env: dict | None = None, console=None) -> int:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    checks = collect(log_root, env)
    table = Table(title="mlr-copilot doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[yellow]optional[/]" if c.optional else "[red]problem[/]")
        table.add_row(c.name, status, c.detail, c.fix or "")
    console.print(table)
    problems = [c for c in checks if not c.ok and not c.optional]
    console.print(f"{plural(len(problems), 'problem')} found." if problems else "Everything needed is in place.")
    return 1 if problems else 0
