"""Anthropic-specific behaviour: message conversion, blank stops, billing errors."""
from __future__ import annotations

import pytest

from fakes.llm_servers import FakeLLMServer, anthropic_error
from fakes.wires import AnthropicWire
from mlr_copilot.errors import LLMAuthError
from mlr_copilot.llm.anthropic import to_anthropic_messages

WIRE = AnthropicWire()


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


def test_messages_conversion_merges_turns_and_drops_empty_ones():
    system, turns = to_anthropic_messages([
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "part one"},
        {"role": "user", "content": "part two"},
        {"role": "assistant", "content": ""},
        {"role": "system", "content": "more rules"},
        {"role": "assistant", "content": "Thought: "},
    ])
    assert system == "rules\n\nmore rules"
    assert turns == [{"role": "user", "content": "part one\n\npart two"},
                     {"role": "assistant", "content": "Thought:"}]


def test_system_only_prompt_is_sent_as_the_user_turn():
    system, turns = to_anthropic_messages([{"role": "system", "content": "Summarise this."}])
    assert system == "" and turns == [{"role": "user", "content": "Summarise this."}]


def test_blank_stop_sequences_are_applied_locally(server):
    server.queue(WIRE.ok("line one\n\nline two"))
    c = WIRE.backend(server).complete([{"role": "user", "content": "go"}], stop=["\n\n", "END"])
    assert server.requests[0].body["stop_sequences"] == ["END"]  # the API refuses blank ones
    assert c.text == "line one" and c.stop_reason == "stop_sequence"


def test_low_credit_balance_stops_the_run_with_a_clear_reason(server):
    server.queue(anthropic_error(400, "invalid_request_error", "Your credit balance is too low to "
                                 "access the Anthropic API."))
    with pytest.raises(LLMAuthError, match="billing"):
        WIRE.backend(server).complete([{"role": "user", "content": "go"}])


def test_permission_error_names_the_model(server):
    server.queue(anthropic_error(403, "permission_error", "Your API key does not have permission"))
    with pytest.raises(LLMAuthError, match="claude-sonnet-4-6"):
        WIRE.backend(server).complete([{"role": "user", "content": "go"}])
