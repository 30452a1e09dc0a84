"""What the anthropic and openai backends share: defaults, stop handling, error mapping.

Errors: the SDK exceptions are turned into the project's error tree.

Both SDKs share one shape (``APIStatusError`` with ``status_code``, ``response`` and
``body``; ``APITimeoutError`` under ``APIConnectionError``; ``APIResponseValidationError``),
so one classifier serves both. It is given the SDK module, so it never imports one itself.
Classification is by HTTP status first, then by the provider's message where a status is
shared (a 400 may mean "context too long" or "credit balance too low").
"""
from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Sequence

from ..errors import (LLMAuthError, LLMBadResponseError, LLMConnectionError,
                      LLMContextTooLongError, LLMError, LLMRateLimitError, LLMServerError,
                      LLMTimeoutError)

MAX_DETAIL_CHARS = 500
#: Per-request timeout handed to the SDK (connect + read). Generous: a long completion at
#: a busy hour takes minutes; a hung connection is cut after this and retried by LLMClient.
DEFAULT_TIMEOUT_S = 300.0
#: The SDKs' own retry loop is switched off: ``LLMClient`` is the one place that retries
#: (see the llm/client.py docstring), so attempts are bounded, counted and logged once.
SDK_MAX_RETRIES = 0

# Wording used by Anthropic, OpenAI, vLLM, llama.cpp server, LM Studio, Ollama, TGI.
_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context (window|size|limit)|maximum context|prompt is too long|"
    r"too many tokens|exceeds? the (available )?context|input is too long|"
    r"reduce the length of the messages|exceed_context_size|input length .* exceed", re.I)
_BILLING_PATTERNS = re.compile(r"credit balance|insufficient_quota|exceeded your current quota", re.I)


@dataclass(frozen=True)
class CallInfo:
    """What a message about a failed call should name."""

    provider: str          # "Anthropic", "OpenAI-compatible server", ...
    model: str
    base_url: str
    key_hint: str          # e.g. "ANTHROPIC_API_KEY (or CLAUDE_API_KEY)"
    timeout_s: float


def _api_detail(exc: Any) -> tuple[str, str, str]:
    """(message, type, code) from an SDK status error's body, best effort."""
    body = getattr(exc, "body", None)
    message = err_type = code = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            err_type = str(err.get("type") or "")
            code = str(err.get("code") or "")
        elif isinstance(err, str):
            message = err
    elif isinstance(body, str):
        message = body
    if not message:
        message = str(getattr(exc, "message", "") or exc)
    return message[:MAX_DETAIL_CHARS], err_type, code


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_sdk_error(exc: BaseException, sdk: ModuleType, info: CallInfo) -> LLMError | None:
    """The project error for an SDK exception, or None if ``exc`` is not the SDK's."""
    where = f"{info.provider} ({info.model} at {info.base_url})"
    if isinstance(exc, sdk.APITimeoutError):
        return LLMTimeoutError(f"{where}: no answer within the {info.timeout_s:g}s timeout")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return LLMConnectionError(f"{where}: cannot connect ({reason})")
    if isinstance(exc, sdk.APIResponseValidationError):
        return LLMBadResponseError(f"{where}: the answer does not have the expected form ({exc})")
    if not isinstance(exc, sdk.APIStatusError):
        return None
    status = int(getattr(exc, "status_code", 0) or 0)
    message, err_type, code = _api_detail(exc)
    detail = f"{status} {err_type or code}".strip() + f": {message}"
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if status == 401:
        return LLMAuthError(f"{where} rejected the API key ({detail}). Check {info.key_hint} "
                            f"in your environment or .env file.")
    if status == 403:
        return LLMAuthError(f"{where} refused access ({detail}). Check that the key in "
                            f"{info.key_hint} may use model {info.model!r}.")
    if status == 402 or _BILLING_PATTERNS.search(f"{message} {code} {err_type}"):
        return LLMAuthError(f"{where}: the account behind {info.key_hint} cannot pay for this "
                            f"call ({detail}). Check its billing or quota.")
    if status == 429:
        return LLMRateLimitError(f"{where}: rate limited ({detail})", retry_after=parse_retry_after(headers))
    if status == 413 or (status in (400, 422) and _CONTEXT_PATTERNS.search(f"{message} {code}")):
        return LLMContextTooLongError(f"{where}: the prompt is too long for the model ({detail})")
    if status == 408:
        return LLMTimeoutError(f"{where}: the server timed out ({detail})")
    if status == 404:
        return LLMError(f"{where}: not found ({detail}). Check the model id {info.model!r} "
                        f"and the base URL.")
    if status == 409 or status >= 500:
        return LLMServerError(f"{where}: server error ({detail})")
    return LLMError(f"{where} rejected the request ({detail})")


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest stop sequence; return (text, the stop found or None).

    Servers that ignore some stops (OpenAI takes at most 4, Anthropic refuses blank ones,
    some OpenAI-compatible servers ignore them) still honour all of them this way.
    """
    best: int | None = None
    found: str | None = None
    for s in stop:
        if s:
            i = text.find(s)
            if i >= 0 and (best is None or i < best):
                best, found = i, s
    return (text if best is None else text[:best]), found
