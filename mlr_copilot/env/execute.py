"""Execute Script: run a workspace script through the sandbox and report what it printed."""
from __future__ import annotations

import shlex
import time

from ..errors import ActionError
from ..records import EnvLog
from .actions import ActionResult, Arg, action
from .context import ActionContext

MIN_SCRIPT_TIME_S = 1.0  # below this much run time left, a script is not started at all


def script_timeout(ctx: ActionContext) -> tuple[float, str]:
    """(seconds the script may run, what sets that limit: "run" for the run's remaining time,
    "node" for the caller's tighter limit, "script" for --script-timeout)."""
    limit, why = float(ctx.config.script_timeout_s), "script"
    if ctx.script_limit_s is not None and ctx.script_limit_s < limit:
        limit, why = float(ctx.script_limit_s), "node"
    if ctx.deadline is not None:
        left = ctx.deadline - time.monotonic()
        if left < limit:
            return left, "run"
    return limit, why


LIMIT_NAMES = {"run": "the run's remaining time", "node": "the time limit for one node's script",
               "script": "the time limit for one script"}


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


@action("Execute Script", "Use this to run a python script of the workspace. The script must already exist.",
        [Arg("script_name", "a python script name, relative to the workspace root (e.g. \"train.py\")"),
         Arg("arguments", "optional: command-line arguments for the script as one string, e.g. "
             "\"--epochs 3 --lr 0.01\"", required=False)],
        "The observation will be what the script printed (standard output and errors) and its exit code.")
def execute_script(ctx: ActionContext, script_name: str, arguments: str = "") -> ActionResult:
    if not script_name.strip():
        raise ActionError("No script name was given.")
    path = ctx.sandbox.resolve(script_name)
    if not path.exists():
        raise ActionError(f"The script {script_name!r} does not exist.")
    if not path.is_file():
        raise ActionError(f"{script_name!r} is not a file.")
    try:
        extra = shlex.split(arguments or "")
    except ValueError as e:
        raise ActionError(f"The arguments {arguments!r} cannot be split into words: {e}.") from e
    timeout, limited_by = script_timeout(ctx)
    if limited_by == "run" and timeout < MIN_SCRIPT_TIME_S:
        raise ActionError("The run's time limit is reached; the script was not started.")
    rel = ctx.sandbox.rel(path)
    if rel.startswith("-"):
        rel = "./" + rel  # never read as an interpreter option
    env = ctx.sandbox.script_env()
    argv = ctx.sandbox.command([rel, *extra], env)
    result = ctx.sandbox.run(argv, timeout, output_name=EnvLog.output_name(ctx.step, rel))
    output = result.head_tail_text if result.output_bytes else "(the script printed nothing)\n"
    # Paths in tracebacks are shown relative to the workspace: the agent works with relative
    # paths, host paths stay away from the provider, and replays do not depend on the run dir.
    output = output.replace(f"{ctx.workspace}/", "")
    if not output.endswith("\n"):
        output += "\n"
    if result.timed_out:
        text = (f"The script was stopped after {_seconds(timeout)} ({LIMIT_NAMES[limited_by]}); it and every "
                f"process it started were killed. Here is the output so far:\n{output}")
        return ActionResult(text, exit_code=result.exit_code, output_path=str(result.output_path), timed_out=True)
    status = f"Exit code: {result.exit_code}"
    if result.signal_name:
        status += f" (killed by {result.signal_name})"
    elif result.exit_code:
        status += " (the script failed)"
    status += f", after {_seconds(result.duration_s)}."
    if result.leftovers_killed and result.mode == "none":
        status += " Processes it left running were stopped."
    return ActionResult(f"The script has been executed. Here is the output:\n{output}\n{status}",
                        exit_code=result.exit_code, output_path=str(result.output_path))
