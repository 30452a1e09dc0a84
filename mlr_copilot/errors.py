"""The project's error tree.

Every exception the project raises on purpose is defined here, save those private to one
module and ``local_model.EmbeddedModelMissingError`` (its message is built from the model's
description); all derive from ``MLRError``, so the command line reports them in one place.
Two tiers: errors the model can fix become observations (``ActionError`` and its children);
errors it cannot fix end the run with a typed status (``RunStopped`` and the LLM errors that
are not retryable). Exceptions carry their message; they never log themselves.
"""
from __future__ import annotations

from typing import Sequence


class MLRError(Exception):
    """Base of every error raised on purpose by mlr_copilot."""


class ConfigError(MLRError):
    """Bad command-line option, unknown LLM or task name, missing optional package."""


class MissingDependencyError(ConfigError):
    """An optional package is needed; the message names what to install."""

    def __init__(self, package: str, purpose: str, extra: str | None = None):
        hint = f"pip install {package}" if not extra else f"pip install 'mlr-copilot[{extra}]' (or: pip install {package})"
        super().__init__(f"{purpose} needs the package '{package}', which is not installed. Install it with: {hint}")
        self.package = package


class PaperError(ConfigError):
    """The paper cannot be loaded; the message says why and what to do instead."""


class RunRecordError(ConfigError):
    """A run's record (run.json, a log) is missing, unreadable or of a newer schema;
    ``reason`` is the short form, without the path."""

    def __init__(self, path: object, reason: str):
        super().__init__(f"{reason} ({path})")
        self.reason = reason


class NewerSchemaError(RunRecordError):
    """A record written by a newer mlr-copilot (a schema_version this one does not know)."""


# --- environment: errors the model can fix (become observations) ----------------

class ActionError(MLRError):
    """An action failed in a way the agent can react to; the message is the observation."""


class ActionInputError(ActionError):
    """The Action Input does not fit the action's declared arguments."""


class HubUnavailableError(ActionError):
    """The Hub could not be searched (unreachable, timed out, server error, odd answer)."""


class ModelFetchError(ActionError):
    """The model could not be fetched; the message says why."""


class PrototypeError(ActionError):
    """The repository could not be brought in; the message says why (an observation at step time)."""


class PathEscapeError(ActionError):
    """A path leads outside the workspace (absolute, '..', or a symlink out)."""


class ReadOnlyError(ActionError):
    """The task declares this file read-only."""


class FormatError(MLRError):
    """The model's response does not follow the response format (missing entry, unknown
    action, Action Input that is not JSON). The message names the problem so that a
    corrective message can be sent; ``kind`` classifies it, ``action`` is the action
    meant when it was recognised."""

    def __init__(self, message: str, *, kind: str = "format", action: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.action = action


class PreviewUnavailable(MLRError):
    """The file is not a table ``data_preview`` can read; Understand File reads it as text."""


class ArchiveError(MLRError):
    """An archive (a repository, a model) could not be downloaded or read; the message says why."""


# --- snapshots --------------------------------------------------------------------

class SnapshotError(MLRError):
    """A snapshot is missing, damaged, or cannot be restored where asked."""


class ManifestError(SnapshotError):
    """A manifest is missing or unreadable (``snapshots.load_manifest`` names the step)."""


# --- tasks ------------------------------------------------------------------------

class TaskError(MLRError):
    """A task's data cannot be prepared or its submission cannot be graded."""


class DataUnavailable(TaskError):
    """Raised by a task's prepare step when data cannot be had; the message says what to do."""


class InvalidSubmission(TaskError):
    """The submission cannot be scored; the message is the reason shown to the user."""


# --- LLM layer --------------------------------------------------------------------

class LLMError(MLRError):
    """A model call failed. ``retryable`` says whether trying again may help."""

    retryable: bool = False


class LLMAuthError(LLMError):
    """Authentication or permission failure: the run stops at once."""


class LLMContextTooLongError(LLMError):
    """The prompt does not fit the model's context; the caller should shorten it."""


class LLMRateLimitError(LLMError):
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class LLMServerError(LLMError):
    retryable = True


class LLMTimeoutError(LLMError):
    retryable = True


class LLMConnectionError(LLMError):
    retryable = True


class LLMEmptyResponseError(LLMError):
    retryable = True


class LLMBadResponseError(LLMError):
    """The server answered with something that is not a valid completion."""

    retryable = True


class ReplayDivergedError(LLMError):
    """A replayed run asked for something the recording does not hold."""


# --- run outcomes -------------------------------------------------------------------

class RunStopped(MLRError):
    """Ends a run cleanly with a status recorded in run.json.

    ``status`` is a ``records.RunStatus`` value (a str: this module sits below records).
    """

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class SandboxStartError(RunStopped):
    """Execute Script cannot start the interpreter inside the sandbox: no script change can fix
    it, so the run ends at once (status ``error``) with the cause and the fix."""

    def __init__(self, message: str):
        super().__init__("error", message)


class IdeaFormatError(RunStopped):
    """A stage of the idea agent kept missing fields after every corrective retry."""

    def __init__(self, stage: str, problems: Sequence[str], attempts: int):
        super().__init__("format_error", f"the {stage} stage gave no usable answer after {attempts} attempts: "
                                         + "; ".join(problems))
        self.stage = stage


class ReviewQuit(RunStopped):
    """The reviewer chose to quit: idea generation ends with nothing written to problems/."""

    def __init__(self, stage: str, reason: str = "the reviewer chose to quit"):
        super().__init__("interrupted", f"idea generation stopped at the {stage} stage: {reason}; "
                                        "nothing was written to problems/")
        self.stage = stage


class BudgetExceededError(RunStopped):
    def __init__(self, message: str):
        super().__init__("budget", message)
