"""Run one command to completion: own process group, timeout, leftovers killed, output kept.

The output (stdout and stderr, interleaved as written) goes through a pipe to a file, so
memory stays bounded whatever the script prints; the caller gets the head and the tail
within a character budget and how much was cut between them. Secret values are scrubbed
from both (``redact``) before anything is written or returned.
"""
from __future__ import annotations

import os
import re
import resource
import selectors
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .. import progress
from ..errors import ActionError
from ..redact import StreamScrubber, active_secrets, scrub_text
from ..records.layout import OUTPUT_SUFFIX

KILL_GRACE_S = 3.0  # between SIGTERM and SIGKILL on timeout: lets a script save its state
DRAIN_S = 2.0  # how long to wait for the pipe to close once every process is gone
MAX_SAVED_OUTPUT_BYTES = 256 * 1024 * 1024  # beyond this the saved file keeps only the tail
FILE_TAIL_BYTES = 1024 * 1024
MARKER_VAR = "MLR_COPILOT_RUN_MARKER"
_CHUNK = 1 << 16


@dataclass
class ProcessResult:
    """What one command did (the agent run's outcome is ``agents.session.RunResult``)."""

    exit_code: int | None  # negative: killed by that signal (mode none)
    timed_out: bool
    output_path: Path
    head_tail_text: str  # the output as the agent sees it, within the budget
    output_bytes: int
    cut_bytes: int  # bytes left out of head_tail_text
    duration_s: float
    leftovers_killed: int = 0  # processes the script started that were still running at its end
    mode: str = "none"

    @property
    def signal_name(self) -> str | None:
        if self.exit_code is not None and self.exit_code < 0:
            try:
                return signal.Signals(-self.exit_code).name
            except ValueError:
                return f"signal {-self.exit_code}"
        return None


class _Output:
    """Saves the stream to a file and keeps only the head and a bounded tail in memory."""

    def __init__(self, path: Path, budget: int, secrets: Sequence[str] = ()):
        self.path = path
        self.secrets = list(secrets)
        self.scrubber = StreamScrubber(self.secrets)
        self.file = open(path, "xb")
        self.head_max = max(budget // 2, 1)
        self.tail_max = max(budget - self.head_max, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.saved = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.head) < self.head_max:
            self.head += chunk[: self.head_max - len(self.head)]
        if self.saved < MAX_SAVED_OUTPUT_BYTES:
            part = chunk[: MAX_SAVED_OUTPUT_BYTES - self.saved]
            self.file.write(self.scrubber.feed(part))
            self.saved += len(part)
        self.tail += chunk
        keep = max(self.tail_max, FILE_TAIL_BYTES)
        if len(self.tail) > 2 * keep:
            del self.tail[:-keep]

    def last_line(self) -> str:
        """The last non-empty output line so far (for progress display), secret values scrubbed."""
        lines = bytes(self.tail[-2000:]).decode("utf-8", "replace").replace("\r", "\n").splitlines()
        return scrub_text(next((line.strip() for line in reversed(lines) if line.strip()), ""), self.secrets)

    def close(self) -> None:
        self.file.write(self.scrubber.flush())
        if self.saved < self.total:
            dropped = self.total - self.saved
            tail = bytes(self.tail[-min(FILE_TAIL_BYTES, dropped):])
            self.file.write(f"\n[... {dropped - len(tail):,} bytes not saved ...]\n".encode())
            self.file.write(scrub_text(tail.decode("utf-8", "surrogateescape"),
                                       self.secrets).encode("utf-8", "surrogateescape"))
        self.file.close()

    def text(self) -> tuple[str, int]:
        """(head + marker + tail, bytes cut) within the budget, cut at line ends if possible;
        secret values scrubbed."""
        text, cut = self._text()
        return scrub_text(text, self.secrets), cut

    def _text(self) -> tuple[str, int]:
        if self.total <= self.head_max + self.tail_max:
            data = bytes(self.head) if self.total <= len(self.head) else bytes(self.tail[-self.total:])
            return _screen(data.decode("utf-8", "replace")), 0
        head = bytes(self.head)
        nl = head.rfind(b"\n")
        if nl >= len(head) // 2:
            head = head[: nl + 1]
        tail = bytes(self.tail[-self.tail_max:])
        nl = tail.find(b"\n")
        if 0 <= nl < len(tail) // 2:
            tail = tail[nl + 1:]
        cut = self.total - len(head) - len(tail)
        marker = f"\n[... {cut:,} bytes of output cut here ...]\n"
        return _screen(head.decode("utf-8", "replace")) + marker + _screen(tail.decode("utf-8", "replace")), cut


_CR_LINE = re.compile(r"[^\n]*\r[^\n]*")


def _screen(text: str) -> str:
    """What a terminal would show: progress bars rewritten with '\\r' keep their last state."""
    text = text.replace("\r\n", "\n")
    if "\r" not in text:
        return text

    def last(m: re.Match) -> str:
        parts = [p for p in m.group(0).split("\r") if p]
        return parts[-1] if parts else ""

    return _CR_LINE.sub(last, text)


def _new_output_file(output_dir: Path, name: str) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "output"
    for i in range(10_000):
        p = output_dir / (f"{safe}{OUTPUT_SUFFIX}" if i == 0 else f"{safe}-{i}{OUTPUT_SUFFIX}")
        if not p.exists():
            return p
    raise ActionError(f"Too many output files named {safe!r}")


def _preexec(limits: Mapping[str, int], cgroup=None):
    items = [(getattr(resource, k), v) for k, v in limits.items()]

    def apply() -> None:
        if cgroup is not None:
            cgroup.enter()
        for res, value in items:
            soft, hard = resource.getrlimit(res)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(res, (value, value))

    return apply


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc: subprocess.Popen, seconds: float) -> None:
    try:
        proc.wait(timeout=max(seconds, 0.001))
    except subprocess.TimeoutExpired:
        pass


def _kill_all(proc: subprocess.Popen, marker: str, cgroup=None) -> list[int]:
    """SIGKILL the script's process group, every process carrying its marker and, with a
    cgroup, every process in it (even one that left the group and rewrote its environment)."""
    survivors = marked_processes(marker)
    if cgroup is not None:
        survivors += [p for p in cgroup.pids() if p not in survivors]
    _kill_group(proc.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return survivors


def marked_processes(marker: str) -> list[int]:
    """Pids of processes whose environment carries ``marker``: everything a script started,
    even what left its process group with setsid (unless it rewrote its environment)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    me = os.getpid()
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    found.append(pid)
        except OSError:
            continue
    return found


PROGRESS_EVERY_S = 1.0  # how often a running script's elapsed time and last line are reported


def run_process(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                output_dir: Path, output_name: str, budget: int, limits: Mapping[str, int],
                mode: str = "none", kill_grace_s: float = KILL_GRACE_S, cgroup=None) -> ProcessResult:
    """Run ``argv`` in its own session; kill it and every child on timeout or at its end.

    ``cgroup`` (a ``proclimit.PidsCgroup``): the script runs inside it (its process limit)."""
    marker = uuid.uuid4().hex
    env = {**env, MARKER_VAR: marker}
    out = _Output(_new_output_file(output_dir, output_name), budget, active_secrets())
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True,
                                preexec_fn=_preexec(limits, cgroup) if limits or cgroup else None)
    except OSError as e:
        out.close()
        raise ActionError(f"The script could not be started: {e}") from e
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = start + max(timeout_s, 0.0)
    timed_out = False

    shown = [start]

    def pump(until: float, stop_on_exit: bool) -> bool:
        """Copy output until EOF (True), ``until``, or the script's end if asked (False)."""
        while True:
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_EVERY_S:
                shown[0] = now
                progress.report("script", elapsed_s=now - start, last_line=out.last_line())
            if stop_on_exit and proc.poll() is not None:
                return False
            left = until - time.monotonic()
            if left <= 0:
                return False
            if sel.select(timeout=min(left, 0.05)):
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    return True
                out.add(chunk)

    leftovers = 0
    try:
        eof = pump(deadline, stop_on_exit=True)
        if eof:  # output closed; the script itself may still be running
            _wait(proc, deadline - time.monotonic())
        if proc.poll() is None and time.monotonic() >= deadline:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            if eof:
                _wait(proc, kill_grace_s)
            else:
                eof = pump(time.monotonic() + kill_grace_s, stop_on_exit=True)
        # The script has ended (or is being killed): nothing of it may outlive this call.
        leftovers = len([p for p in _kill_all(proc, marker, cgroup) if p != proc.pid])
        if not eof:
            pump(time.monotonic() + DRAIN_S, stop_on_exit=False)
        proc.wait()
    except BaseException:  # Ctrl-C or a failing log disk: never leave the script running
        _kill_all(proc, marker, cgroup)
        proc.wait()
        raise
    finally:
        sel.close()
        proc.stdout.close()
        out.close()
    text, cut = out.text()
    return ProcessResult(exit_code=proc.returncode, timed_out=timed_out, output_path=out.path,
                     head_tail_text=text, output_bytes=out.total, cut_bytes=cut,
                     duration_s=time.monotonic() - start, leftovers_killed=leftovers, mode=mode)
