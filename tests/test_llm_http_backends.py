"""The real anthropic and openai SDKs against fake servers on 127.0.0.1, through LLMClient.

Each scenario runs once per wire protocol. Sleeping is injected (``waits`` records what
the client would have slept), so retries with backoff cost no wall time.
"""
from __future__ import annotations

import time

import pytest

from fakes.llm_servers import FakeLLMServer, Reply
from fakes.wires import WIRES
from mlr_copilot.errors import (LLMAuthError, LLMBadResponseError, LLMContextTooLongError,
                                LLMEmptyResponseError, LLMError, LLMRateLimitError,
                                LLMServerError, LLMTimeoutError)
from mlr_copilot.llm.client import Budget, LLMClient
from mlr_copilot.logs import JsonlWriter, read_jsonl

MESSAGES = [{"role": "system", "content": "You are a careful ML research agent."},
            {"role": "user", "content": "List the files."}]


@pytest.fixture(params=WIRES, ids=lambda w: w.name)
def wire(request):
    return request.param


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


class Harness:
    def __init__(self, wire, server, tmp_path, *, max_attempts=3, timeout_s=5.0, **backend_kw):
        self.waits: list[float] = []
        self.log_path = tmp_path / "agent_log" / "llm_calls.jsonl"
        self.budget = Budget()
        self.client = LLMClient(wire.backend(server, timeout_s=timeout_s, **backend_kw),
                                call_log=JsonlWriter(self.log_path, fsync=False), budget=self.budget,
                                max_attempts=max_attempts, secrets=[wire.key], sleep=self.waits.append)

    def records(self):
        return read_jsonl(self.log_path)


def test_success_returns_text_usage_cost_and_sends_key(wire, server, tmp_path):
    server.queue(wire.ok("Reflection: nothing yet", input_tokens=1200, output_tokens=30, cached=1000))
    h = Harness(wire, server, tmp_path)
    c = h.client.complete(MESSAGES, max_tokens=64)

    assert c.text == "Reflection: nothing yet"
    assert (c.usage.input_tokens, c.usage.output_tokens, c.usage.cached_tokens) == (1200, 30, 1000)
    assert c.latency_s > 0 and not c.cached
    assert c.cost_usd == pytest.approx(h.client.price.cost(c.usage)) and c.cost_usd > 0
    assert h.budget.cost_usd == pytest.approx(c.cost_usd) and h.budget.calls == 1
    (req,) = server.requests
    assert req.path == wire.path
    assert req.api_key() == wire.key
    assert req.body["model"] == wire.model and wire.sent_stops(req.body) == []
    if wire.name == "anthropic":  # system messages travel in the system parameter
        assert req.body["system"] == MESSAGES[0]["content"]
        assert req.body["messages"] == [{"role": "user", "content": "List the files."}]
    else:
        assert req.body["messages"] == MESSAGES and req.body["max_tokens"] == 64


def test_stop_sequences_are_sent_and_honoured(wire, server, tmp_path):
    server.queue(wire.ok("Action: List Files\nObservation: invented by the model"))
    h = Harness(wire, server, tmp_path)
    c = h.client.complete(MESSAGES, stop=["Observation:"])
    assert c.text == "Action: List Files\n"
    assert wire.sent_stops(server.requests[0].body) == ["Observation:"]
    assert c.stop_reason in ("stop_sequence", "stop")


def test_rate_limit_waits_retry_after_then_succeeds(wire, server, tmp_path):
    server.queue(wire.rate_limit("7"), wire.ok("done"))
    h = Harness(wire, server, tmp_path)
    assert h.client.complete(MESSAGES).text == "done"
    assert h.waits == [7.0]                # the server's retry-after, not a guess
    assert len(server.requests) == 2       # the SDK did not retry on its own as well
    (rec,) = h.records()
    assert rec["attempts"] == 2 and rec["error"] is None


def test_overloaded_server_is_retried(wire, server, tmp_path):
    server.queue(wire.overloaded(), wire.ok("fine now"))
    h = Harness(wire, server, tmp_path)
    assert h.client.complete(MESSAGES).text == "fine now"
    assert len(h.waits) == 1 and 0 < h.waits[0] <= 2.0  # first exponential backoff step


def test_repeated_server_errors_stop_after_bounded_attempts(wire, server, tmp_path):
    server.queue(*[wire.server_error() for _ in range(10)])
    h = Harness(wire, server, tmp_path, max_attempts=3)
    with pytest.raises(LLMServerError, match="gave up after 3 attempts") as info:
        h.client.complete(MESSAGES)
    assert "500" in str(info.value)
    assert len(server.requests) == 3 and len(h.waits) == 2
    (rec,) = h.records()
    assert rec["error_type"] == "LLMServerError" and rec["attempts"] == 3 and rec["completion"] is None


def test_timeout_is_reported_after_bounded_attempts(wire, server, tmp_path):
    server.queue(*[Reply(body=wire.ok("too late"), delay_s=5.0) for _ in range(2)])
    h = Harness(wire, server, tmp_path, max_attempts=2, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match="timeout"):
        h.client.complete(MESSAGES)
    assert time.monotonic() - started < 8.0  # two 0.3 s timeouts, not two 5 s replies
    assert len(server.requests) == 2


def test_auth_error_stops_at_once_naming_the_key(wire, server, tmp_path):
    server.queue(wire.auth_error(), wire.ok("never reached"))
    h = Harness(wire, server, tmp_path)
    with pytest.raises(LLMAuthError) as info:
        h.client.complete(MESSAGES)
    assert wire.key_var in str(info.value) and ".env" in str(info.value)
    assert len(server.requests) == 1 and h.waits == []


def test_context_too_long_is_typed_and_not_retried(wire, server, tmp_path):
    server.queue(wire.context_error(), wire.ok("never reached"))
    h = Harness(wire, server, tmp_path)
    with pytest.raises(LLMContextTooLongError, match="too long"):
        h.client.complete(MESSAGES)
    assert len(server.requests) == 1


def test_other_bad_request_is_not_retried_and_not_called_context(wire, server, tmp_path):
    server.queue(wire.other_bad_request())
    h = Harness(wire, server, tmp_path)
    with pytest.raises(LLMError) as info:
        h.client.complete(MESSAGES)
    assert type(info.value) is LLMError and "400" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("reply", [
    Reply(body="{this is not json", content_type="application/json"),
    Reply(body="<html>Bad gateway page</html>", content_type="text/html"),
    Reply(body={"unexpected": "shape"}),
], ids=["broken-json", "html", "wrong-shape"])
def test_malformed_body_is_a_bad_response(wire, server, tmp_path, reply):
    server.queue(reply, reply)
    h = Harness(wire, server, tmp_path, max_attempts=2)
    with pytest.raises(LLMBadResponseError):
        h.client.complete(MESSAGES)
    assert len(server.requests) == 2


def test_empty_completion_is_retried_then_reported(wire, server, tmp_path):
    server.queue(wire.ok(""), wire.ok("   "), wire.ok(""))
    h = Harness(wire, server, tmp_path, max_attempts=3)
    with pytest.raises(LLMEmptyResponseError, match="empty completion"):
        h.client.complete(MESSAGES)
    assert len(server.requests) == 3


def test_connection_refused_is_a_connection_error(wire, tmp_path):
    with FakeLLMServer() as gone:
        pass  # closed: nothing listens on its port any more
    h = Harness(wire, gone, tmp_path, max_attempts=2)
    with pytest.raises(LLMError) as info:
        h.client.complete(MESSAGES)
    assert info.value.retryable and "cannot connect" in str(info.value)


def test_no_key_in_call_log(wire, server, tmp_path):
    server.queue(wire.ok("first"), wire.auth_error())
    h = Harness(wire, server, tmp_path)
    h.client.complete(MESSAGES)
    with pytest.raises(LLMAuthError):
        h.client.complete(MESSAGES + [{"role": "user", "content": f"my key is {wire.key}"}])
    text = h.log_path.read_text()
    assert wire.key not in text and "[REDACTED]" in text
    assert [r["error_type"] for r in h.records()] == [None, "LLMAuthError"]


def test_rate_limit_error_carries_retry_after_when_exhausted(wire, server, tmp_path):
    server.queue(wire.rate_limit("2"), wire.rate_limit("2"))
    h = Harness(wire, server, tmp_path, max_attempts=2)
    with pytest.raises(LLMRateLimitError) as info:
        h.client.complete(MESSAGES)
    assert info.value.retry_after == 2.0 and h.waits == [2.0]
