"""One adapter per wire protocol, so the same scenario runs against both SDK backends."""
from __future__ import annotations

from fakes.llm_servers import (FakeLLMServer, Reply, anthropic_error, anthropic_text,
                               openai_error, openai_text)

FAKE_ANTHROPIC_KEY = "sk-ant-fake-KEY-0123456789abcdefXYZ"
FAKE_OPENAI_KEY = "sk-proj-fake-KEY-0123456789abcdefXYZ"


class AnthropicWire:
    name = "anthropic"
    key = FAKE_ANTHROPIC_KEY
    key_var = "ANTHROPIC_API_KEY"
    model = "claude-sonnet-4-6"
    path = "/v1/messages"

    def backend(self, server: FakeLLMServer, *, timeout_s: float = 5.0, model: str | None = None):
        from mlr_copilot.llm.anthropic import AnthropicBackend
        return AnthropicBackend(model or self.model, api_key=self.key, base_url=server.url,
                                timeout_s=timeout_s)

    def ok(self, text: str, *, input_tokens: int = 10, output_tokens: int = 5, cached: int = 0):
        # Anthropic reports fresh and cache-read input tokens separately.
        return anthropic_text(text, input_tokens=input_tokens - cached, output_tokens=output_tokens,
                              cache_read=cached)

    def sent_stops(self, body: dict) -> list[str]:
        return list(body.get("stop_sequences") or [])

    def rate_limit(self, retry_after: str) -> Reply:
        return anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded "
                               "your per-minute rate limit", {"retry-after": retry_after})

    def server_error(self) -> Reply:
        return anthropic_error(500, "api_error", "Internal server error")

    def overloaded(self) -> Reply:
        return anthropic_error(529, "overloaded_error", "Overloaded")

    def auth_error(self) -> Reply:
        return anthropic_error(401, "authentication_error", "invalid x-api-key")

    def context_error(self) -> Reply:
        return anthropic_error(400, "invalid_request_error",
                               "prompt is too long: 250123 tokens > 200000 maximum")

    def other_bad_request(self) -> Reply:
        return anthropic_error(400, "invalid_request_error", "max_tokens: must be at least 1")


class OpenAIWire:
    name = "openai"
    key = FAKE_OPENAI_KEY
    key_var = "OPENAI_API_KEY"
    model = "gpt-4o"
    path = "/v1/chat/completions"

    def backend(self, server: FakeLLMServer, *, timeout_s: float = 5.0, model: str | None = None,
                api_key: str | None = FAKE_OPENAI_KEY):
        from mlr_copilot.llm.openai import OpenAIBackend
        return OpenAIBackend(model or self.model, api_key=api_key, base_url=server.url + "/v1",
                             timeout_s=timeout_s)

    def ok(self, text: str, *, input_tokens: int = 10, output_tokens: int = 5, cached: int = 0):
        return openai_text(text, prompt_tokens=input_tokens, completion_tokens=output_tokens,
                           cached_tokens=cached)

    def sent_stops(self, body: dict) -> list[str]:
        return list(body.get("stop") or [])

    def rate_limit(self, retry_after: str) -> Reply:
        return openai_error(429, "Rate limit reached for gpt-4o on tokens per min (TPM)",
                            err_type="requests", code="rate_limit_exceeded",
                            headers={"retry-after": retry_after})

    def server_error(self) -> Reply:
        return openai_error(500, "The server had an error while processing your request.",
                            err_type="server_error")

    def overloaded(self) -> Reply:
        return openai_error(503, "The engine is currently overloaded", err_type="server_error")

    def auth_error(self) -> Reply:
        return openai_error(401, "Incorrect API key provided: sk-proj-****XYZ. You can find your "
                            "API key at https://platform.openai.com/account/api-keys.",
                            code="invalid_api_key")

    def context_error(self) -> Reply:
        return openai_error(400, "This model's maximum context length is 128000 tokens. However, "
                            "your messages resulted in 130512 tokens.", code="context_length_exceeded")

    def other_bad_request(self) -> Reply:
        return openai_error(400, "Invalid value for 'max_tokens': must be at least 1",
                            code="invalid_value")


WIRES = [AnthropicWire(), OpenAIWire()]
