"""GPT models and any OpenAI-compatible server, through the official ``openai`` SDK.

One backend serves api.openai.com and local or self-hosted servers speaking
``/v1/chat/completions`` (vLLM, Ollama, llama.cpp server, LM Studio): give ``base_url``.
Usage: ``prompt_tokens`` (cached included), ``completion_tokens`` and
``prompt_tokens_details.cached_tokens``. The API takes at most 4 stop sequences; the rest,
and any a server ignores, are applied to the text here. Reasoning models (o1/o3/o4,
gpt-5) take ``max_completion_tokens`` and no temperature or stop, so none are sent to
them. The SDK's own retries are off (``SDK_MAX_RETRIES``); ``LLMClient`` retries.
"""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Sequence

from ..errors import LLMBadResponseError, LLMError, MissingDependencyError
from .base import Completion, Message, ResponseSpec, Usage
from .sdk_common import (DEFAULT_TIMEOUT_S, SDK_MAX_RETRIES, CallInfo, classify_sdk_error,
                         truncate_at_stop)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_API_STOPS = 4
#: Key sent to a server that needs none (the SDK insists on one).
PLACEHOLDER_API_KEY = "no-key-needed"
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)", re.I)


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


class OpenAIBackend:
    """One chat model behind an OpenAI-compatible endpoint."""

    def __init__(self, model: str, *, api_key: str | None, base_url: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = SDK_MAX_RETRIES,
                 key_hint: str = "OPENAI_API_KEY"):
        try:
            import openai
        except ImportError as exc:
            raise MissingDependencyError("openai", "The OpenAI-compatible backend") from exc
        self._sdk = openai
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout_s = timeout_s
        official = base_url is None or "api.openai.com" in base_url
        self.provider = "OpenAI" if official else "OpenAI-compatible server"
        self._client = openai.OpenAI(api_key=api_key or PLACEHOLDER_API_KEY, base_url=self.base_url,
                                     timeout=timeout_s, max_retries=max_retries)
        self.identity = f"openai:{model}" + ("" if base_url is None else f"@{base_url}")
        self._info = CallInfo(self.provider, model, self.base_url, key_hint, timeout_s)

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 2000,
                 temperature: float = 0.0, stop: Sequence[str] = (),
                 response_spec: ResponseSpec | None = None, purpose: str = "agent") -> Completion:
        chat = [{"role": m.get("role", "user"), "content": m.get("content") or ""} for m in messages]
        kwargs: dict[str, Any] = {"model": self.model, "messages": chat}
        stops = [s for s in stop if s]
        if is_reasoning_model(self.model):
            kwargs["max_completion_tokens"] = max_tokens
        else:
            kwargs["max_tokens"] = max_tokens
            kwargs["temperature"] = temperature
            if stops:
                kwargs["stop"] = stops[:MAX_API_STOPS]
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(**kwargs)
        except self._sdk.OpenAIError as exc:
            raise (classify_sdk_error(exc, self._sdk, self._info)
                   or LLMError(f"{self.provider} ({self.model}): {exc}")) from exc
        except json.JSONDecodeError as exc:
            raise LLMBadResponseError(
                f"{self.provider} ({self.model} at {self.base_url}) answered with invalid JSON: {exc}") from exc
        return self._to_completion(response, stops, time.monotonic() - started)

    def _to_completion(self, response: Any, stop: Sequence[str], latency: float) -> Completion:
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise LLMBadResponseError(
                f"{self.provider} ({self.model} at {self.base_url}) answered without choices: "
                f"{str(response)[:200]!r}")
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None) or ""
        if not isinstance(text, str):
            raise LLMBadResponseError(f"{self.provider} ({self.model}): message content is not text")
        if not text and getattr(message, "refusal", None):
            log.warning("%s refused: %s", self.model, message.refusal)
        usage = getattr(response, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        text, hit = truncate_at_stop(text, stop)
        stop_reason = getattr(choice, "finish_reason", None)
        if hit is not None:
            stop_reason = "stop"
        return Completion(
            text=text, model=str(getattr(response, "model", None) or self.model),
            usage=Usage(input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                        cached_tokens=int(getattr(details, "cached_tokens", 0) or 0)),
            latency_s=latency, stop_reason=stop_reason)
