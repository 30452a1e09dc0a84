"""The Environment: the only way an agent acts on the world.

It offers a set of actions, validates each Action Input against the action's declaration,
runs it with a sandboxed context, turns the errors the model can fix (``ActionError``) into
observations, records every action in ``env_log/trace.jsonl`` and snapshots the workspace
once per agent step, as the step ends (:meth:`Environment.end_step`). Our own bugs propagate:
the agent loop ends the run with status ``error``.

Steps are numbered from 1; the snapshot of step 0 is the workspace as the run began.
Bookkeeping actions run through :meth:`Environment.execute_internal`: traced, but they
consume no step and take no snapshot. The agent's research log is stored in the workspace
(``research_log``: the file, guarded against scripts); the agent writes it, not an action.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ActionError, ConfigError, RunStopped
from ..llm.base import Models
from ..logs import JsonlWriter, utc_now
from ..measurements import record_observation
from ..records import SCHEMA_VERSION, ActionRecord, EnvLog, RunStatus
from ..records.schema import TRACE_START
from . import research_log
from .actions import REGISTRY, ActionInfo, ActionResult, choose_offered
from .context import ActionContext, EnvConfig, HumanChannel
from .research_log import RESEARCH_LOG_NAME, ResearchLogFile
from .sandbox import Sandbox
from .snapshots import SnapshotError, SnapshotStore, diff_manifests, list_steps

logger = logging.getLogger(__name__)

ERROR_PREFIX = "EnvError: "  # as MLAgentBench marks observations that report a failed action


@dataclass
class Observation:
    """What one action produced, as the agent sees it and as the trace records it."""

    text: str
    action: str
    args: dict[str, Any]
    ok: bool = True
    is_final: bool = False
    exit_code: int | None = None
    duration_s: float = 0.0
    full_text_path: str | None = None  # the full output of a script, when there was one
    step: int = 0
    start_time: str = ""
    internal: bool = False
    timed_out: bool = False  # Execute Script: the script was stopped at its time limit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Timer:
    wall: str = field(default_factory=utc_now)
    t0: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)


class Environment:
    """Dispatches actions inside one workspace; see the module docstring."""

    def __init__(self, config: EnvConfig, *, workspace: Path, env_log_dir: Path,
                 models: Models | None = None, human: HumanChannel | None = None,
                 research_problem: str = "", offered: Sequence[str] | None = None,
                 deadline: float | None = None):
        self.config = config
        self.workspace = Path(workspace)
        self.env_log_dir = Path(env_log_dir)
        self.env_log_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox = Sandbox(self.workspace, config, self.env_log_dir)
        self.snapshots = SnapshotStore(self.env_log_dir, self.workspace)
        if deadline is None and config.max_time_s is not None:
            deadline = time.monotonic() + float(config.max_time_s)
        self.deadline = deadline
        self.ctx = ActionContext(workspace=self.sandbox.workspace, env_log_dir=self.env_log_dir,
                                 config=config, sandbox=self.sandbox, models=models, human=human,
                                 deadline=deadline, research_problem=research_problem)
        self.research_log = ResearchLogFile(self.ctx)
        self._offered = choose_offered(offered, human=human is not None, has_models=models is not None)
        trace_path = EnvLog(self.env_log_dir).trace
        fresh = not trace_path.exists() or trace_path.stat().st_size == 0
        self.trace = JsonlWriter(trace_path)
        if fresh:
            self.trace.write({"type": TRACE_START, "schema_version": SCHEMA_VERSION, "step": 0,
                              "timestamp": utc_now(), "workspace": str(self.sandbox.workspace),
                              "sandbox": self.sandbox.mode, "offered": self._offered})
        if not list_steps(self.env_log_dir):
            self.end_step(0)

    @property
    def action_infos(self) -> list[ActionInfo]:
        """The offered actions, in registry order (the order the prompt lists them)."""
        chosen = set(self._offered)
        return [info for info in REGISTRY.all() if info.name in chosen]

    @property
    def offered_names(self) -> list[str]:
        return [info.name for info in self.action_infos]

    # ------------------------------------------------------------ limits
    def time_left(self) -> float | None:
        """Seconds until the run's wall-clock limit; None when there is none."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check_time(self) -> None:
        """Raise RunStopped('time_limit') once the run's wall-clock limit has passed."""
        left = self.time_left()
        if left is not None and left <= 0:
            raise RunStopped(RunStatus.TIME_LIMIT, f"The run's time limit of {self.config.max_time_s} s is reached")

    # ----------------------------------------------------------- executing
    def execute(self, name: str, args: Mapping[str, Any] | None, *, step: int,
                end_step: bool = True, script_limit_s: float | None = None) -> Observation:
        """Run one agent action as step ``step`` (>= 1) and trace it. With ``end_step`` the step
        ends here (its snapshot is taken); a caller that writes into the workspace after the
        action (the loop's research-log entry) passes False and calls :meth:`end_step`.
        ``script_limit_s`` shortens the script time limit for this action (the tree's node limit)."""
        if step < 1:
            raise ValueError(f"agent steps are numbered from 1 (got {step})")
        self.check_time()
        info = REGISTRY.lookup(name)
        if info is None or info.name not in self._offered:
            timer = _Timer()
            obs = Observation(text=self._not_offered(name), action=name, args=dict(args or {}),
                              ok=False, step=step, start_time=timer.wall)
        else:
            self.ctx.script_limit_s = script_limit_s
            try:
                obs = self._run(info, args, step)
            finally:
                self.ctx.script_limit_s = None
            if info.name == "Execute Script":
                self._undo_read_only_changes(obs)
                record_observation(self.env_log_dir, obs)  # the measurements ledger
        note = research_log.repair(self.ctx)  # a script may have replaced it with a FIFO, a link...
        if note:
            obs.text += "\n\n" + note
        if end_step:
            note = self.end_step(step)
            if note:
                obs.text += "\n\n" + note
        self._record(obs)
        return obs

    def execute_internal(self, name: str, args: Mapping[str, Any] | None, *, step: int,
                         script_limit_s: float | None = None) -> Observation:
        """Run a bookkeeping action (any registered one): traced, no step used, no snapshot."""
        info = REGISTRY.lookup(name)
        if info is None:
            raise ConfigError(f"Unknown action {name!r}")
        self.ctx.script_limit_s = script_limit_s
        try:
            obs = self._run(info, args, step, internal=True)
        finally:
            self.ctx.script_limit_s = None
        self._record(obs)
        return obs

    def _record(self, obs: Observation) -> None:
        """One trace line per action, flushed and fsynced before the step goes on."""
        self.trace.write(ActionRecord(step=obs.step, timestamp=obs.start_time, action=obs.action, args=obs.args,
                                      observation=obs.text, ok=obs.ok, is_final=obs.is_final,
                                      internal=obs.internal, duration_s=obs.duration_s, exit_code=obs.exit_code,
                                      full_text_path=obs.full_text_path).to_dict())

    def _run(self, info: ActionInfo, args: Mapping[str, Any] | None, step: int,
             internal: bool = False) -> Observation:
        timer = _Timer()
        ctx = self.ctx
        ctx.step = step
        raw = dict(args) if isinstance(args, Mapping) else args
        ok = True
        try:
            valid = info.validate(args)
            result = ActionResult.of(info.function(ctx, **valid), info.name)
        except ActionError as e:
            ok, result = False, ActionResult(ERROR_PREFIX + str(e))
        return Observation(text=result.observation, action=info.name,
                           args=raw if isinstance(raw, dict) else {"_raw": raw},
                           ok=ok, is_final=ok and info.name == "Final Answer",
                           exit_code=result.exit_code, duration_s=timer.elapsed(),
                           full_text_path=result.output_path, step=step,
                           start_time=timer.wall, internal=internal, timed_out=result.timed_out)

    def _not_offered(self, name: str) -> str:
        return (f"{ERROR_PREFIX}Invalid action: {name!r} is not one of the available actions. "
                f"The available actions are: {', '.join(self.offered_names)}.")

    def _undo_read_only_changes(self, obs: Observation) -> None:
        """Put back read-only files a script changed or removed (mode none cannot block it)."""
        if not self.config.read_only:
            return
        steps = list_steps(self.env_log_dir)
        if not steps:
            return
        before = self.snapshots.manifest(steps[-1])
        now = self.snapshots.take_scan()
        d = diff_manifests(before, now)
        hit = [p for p in d["changed"] + d["removed"] if self.sandbox.is_read_only(p)]
        if not hit:
            return
        for rel in hit:
            info = before["files"].get(rel)
            if info is not None:
                self.snapshots.restore_file(rel, info)
        obs.text += (f"\n\nNote: the script changed read-only file(s) {', '.join(hit[:10])}"
                     f"{' and more' if len(hit) > 10 else ''}; they were restored.")

    # ----------------------------------------------------------- snapshots
    def end_step(self, step: int) -> str:
        """End step ``step``: take its snapshot, the only one (``execute`` calls this unless
        told not to). Returns a note on paths the snapshot had to leave out, said once when
        they appear ('' when none)."""
        skipped = self.snapshots.take(step).get("new_skipped") or {}
        if not skipped:
            return ""
        listed = "; ".join(f"{p} ({why})" for p, why in list(skipped.items())[:10])
        return (f"Note: the workspace snapshot left out {len(skipped)} path(s): {listed}"
                f"{' and more' if len(skipped) > 10 else ''}. They stay in the workspace but "
                "cannot be restored from the run's history.")

    def restore_to(self, step: int) -> dict[str, list[str]]:
        """Make the workspace what it was after ``step`` (for resume); returns what changed."""
        return self.snapshots.sync_workspace(step)

    def workspace_digest(self, step: int) -> str | None:
        """A digest of the workspace's files as snapshotted after ``step`` (the research log
        left out), to tell whether anything changed between two steps; None when unknown."""
        try:
            files = self.snapshots.manifest(step).get("files", {})
        except SnapshotError:
            return None
        items = sorted((path, info.get("sha256"), info.get("size")) for path, info in files.items()
                       if path != RESEARCH_LOG_NAME)
        return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()

    def last_snapshot_step(self) -> int | None:
        steps = list_steps(self.env_log_dir)
        return steps[-1] if steps else None
