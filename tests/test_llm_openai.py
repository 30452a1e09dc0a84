"""OpenAI-specific behaviour: local servers without a key, stop limits, quota, reasoning models."""
from __future__ import annotations

import pytest

from fakes.llm_servers import FakeLLMServer, openai_error
from fakes.wires import OpenAIWire
from mlr_copilot.errors import LLMAuthError
from mlr_copilot.llm.client import LLMClient
from mlr_copilot.llm.openai import PLACEHOLDER_API_KEY

WIRE = OpenAIWire()
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


def test_local_server_without_key_gets_a_placeholder(server):
    server.queue(WIRE.ok("hello from vLLM"))
    backend = WIRE.backend(server, model="Qwen/Qwen2.5-7B-Instruct", api_key=None)
    assert backend.complete(MESSAGES).text == "hello from vLLM"
    assert server.requests[0].api_key() == PLACEHOLDER_API_KEY


def test_more_than_four_stops_all_honoured(server):
    server.queue(WIRE.ok("alpha beta gamma delta epsilon zeta"))
    stops = ["omega", "kappa", "chi", "rho", "epsilon"]
    c = WIRE.backend(server).complete(MESSAGES, stop=stops)
    assert server.requests[0].body["stop"] == stops[:4]  # the API takes at most four
    assert c.text == "alpha beta gamma delta "           # the fifth is applied here


def test_exhausted_quota_is_not_retried(server):
    server.queue(openai_error(429, "You exceeded your current quota, please check your plan and "
                              "billing details.", err_type="insufficient_quota", code="insufficient_quota"))
    waits: list[float] = []
    client = LLMClient(WIRE.backend(server), sleep=waits.append)
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY"):
        client.complete(MESSAGES)
    assert len(server.requests) == 1 and waits == []


def test_reasoning_model_gets_max_completion_tokens_only(server):
    server.queue(WIRE.ok("42. Final"))
    c = WIRE.backend(server, model="o3-mini").complete(MESSAGES, max_tokens=99, stop=["Final"])
    body = server.requests[0].body
    assert body["max_completion_tokens"] == 99
    assert "max_tokens" not in body and "temperature" not in body and "stop" not in body
    assert c.text == "42. "


def test_temperature_and_max_tokens_are_sent(server):
    server.queue(WIRE.ok("ok"))
    WIRE.backend(server).complete(MESSAGES, max_tokens=321, temperature=0.7)
    body = server.requests[0].body
    assert body["max_tokens"] == 321 and body["temperature"] == 0.7
