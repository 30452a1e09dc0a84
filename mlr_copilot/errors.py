"""The project's error tree.

Two tiers (see ARCHITECTURE.md): errors the model can fix become observations
(``ActionError`` and its children); errors it cannot fix end the run with a typed
status (``RunStopped`` and the LLM errors that are not retryable). Exceptions carry
their message; they never log themselves.
"""
from __future__ import annotations


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


class BudgetExceededError(RunStopped):
    def __init__(self, message: str):
        super().__init__("budget", message)
