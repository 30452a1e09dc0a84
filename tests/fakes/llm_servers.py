"""Small fake LLM servers on 127.0.0.1 speaking the Anthropic and OpenAI wire protocols.

The real SDK clients talk to them over HTTP, so tests exercise the SDKs' request
building, response parsing and exception mapping exactly as against the real services.
Each server answers POSTs from a queue of ``Reply`` objects and records every request
(path, headers, JSON body). A reply body may be a function of the request, which is how
the success helpers apply stop sequences the way the real APIs do.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes → sent raw; callable(request) → one of those or a Reply
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any

    def api_key(self) -> str | None:
        """The key as sent, from whichever header the SDK version uses."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        return self.headers.get("x-api-key")


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    best = None
    for s in stops:
        i = text.find(s)
        if s and i >= 0 and (best is None or i < best[0]):
            best = (i, s)
    return (text, None) if best is None else (text[: best[0]], best[1])


# -- Anthropic /v1/messages ----------------------------------------------------------------

def anthropic_text(text: str, *, input_tokens: int = 10, output_tokens: int = 5,
                   cache_read: int = 0, model: str = "claude-test") -> Callable[[dict], dict]:
    """A successful Messages API answer; honours the request's ``stop_sequences``."""
    def body(request: dict) -> dict:
        out, hit = _cut_at_stop(text, list(request.get("stop_sequences") or []))
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": out}],
                "stop_reason": "stop_sequence" if hit else "end_turn", "stop_sequence": hit,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                          "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": 0}}
    return body


def anthropic_error(status: int, err_type: str, message: str, headers: dict | None = None) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": err_type, "message": message}},
                 headers or {})


# -- OpenAI /v1/chat/completions --------------------------------------------------------------

def openai_text(text: str, *, prompt_tokens: int = 10, completion_tokens: int = 5,
                cached_tokens: int = 0, model: str = "gpt-test") -> Callable[[dict], dict]:
    """A successful Chat Completions answer; honours the request's ``stop``."""
    def body(request: dict) -> dict:
        stops = request.get("stop") or []
        out, hit = _cut_at_stop(text, [stops] if isinstance(stops, str) else list(stops))
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": out}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens,
                          "prompt_tokens_details": {"cached_tokens": cached_tokens}}}
    return body


def openai_error(status: int, message: str, *, err_type: str = "invalid_request_error",
                 code: str | None = None, headers: dict | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": err_type, "param": None, "code": code}},
                 headers or {})


# -- the server ------------------------------------------------------------------------------

class FakeLLMServer:
    """A threaded HTTP server on 127.0.0.1:<free port>; use as a context manager.

    ``default``: the reply when the queue is empty (else a 500 saying none was queued).
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default
        self.replies: list[Reply] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(request)
                    reply = server.replies.pop(0) if server.replies else server.default or Reply(
                        500, {"error": {"message": "fake server: no reply queued"}})
                if reply.delay_s and server._closing.wait(reply.delay_s):
                    return
                payload = reply.body(body) if callable(reply.body) else reply.body
                if isinstance(payload, Reply):  # a body function chose the whole reply
                    reply, payload = payload, payload.body
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def queue(self, *replies: Reply | Callable[[dict], dict]) -> None:
        """Queue answers; a bare body function means a 200 with that body."""
        with self._lock:
            self.replies.extend(r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
