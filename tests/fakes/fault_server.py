"""A faulty LLM server on 127.0.0.1 for the fault tests (issue 8): it speaks the OpenAI
(``/v1/chat/completions``) and Anthropic (``/v1/messages``) wire formats and can, per
request, drop the connection in the middle of a response, reset it, answer 429/5xx,
hang, return an empty completion or a malformed body.

Answers come from ``answer(request_body) -> str``; faults from ``faults``, a list consumed
one per request (``None`` or an exhausted list: answer normally). Every request is counted.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .llm_servers import anthropic_error, anthropic_text, openai_error, openai_text

FAULTS = ("drop", "reset", "429", "500", "502", "503", "529", "hang", "empty", "malformed")


class FaultServer:
    def __init__(self, answer: Callable[[dict], str], faults: list[str | None] | None = None,
                 hang_s: float = 5.0) -> None:
        self.answer = answer
        self.faults = list(faults or [])
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self.faults_served: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                anthropic = self.path.endswith("/messages")
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    fault = server.faults.pop(0) if server.faults else None
                    if fault:
                        server.faults_served.append(fault)
                server._respond(self, fault, body, anthropic)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    # ------------------------------------------------------------------ answers
    def _respond(self, h: BaseHTTPRequestHandler, fault: str | None, body: dict, anthropic: bool) -> None:
        try:
            if fault == "hang":
                self._closing.wait(self.hang_s)
                h.close_connection = True
                return
            if fault == "reset":
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                h.close_connection = True
                return
            if fault and fault.isdigit():
                status = int(fault)
                msg = f"fake server: {status}"
                reply = (anthropic_error(status, "overloaded_error" if status >= 500 else "rate_limit_error", msg)
                         if anthropic else openai_error(status, msg, err_type="server_error"))
                headers = {"retry-after": "0"} if status == 429 else {}
                return self._send(h, status, json.dumps(reply.body).encode(), headers)
            text = "" if fault == "empty" else self.answer(body)
            payload = (anthropic_text(text) if anthropic else openai_text(text, model=body.get("model", "m")))(body)
            data = json.dumps(payload).encode()
            if fault == "malformed":
                data = b'{"id": "x", "choices": [{"message": {"content": '  # cut: not JSON
                return self._send(h, 200, data)
            if fault == "drop":  # promise the whole body, send half, hang up
                h.send_response(200)
                h.send_header("content-type", "application/json")
                h.send_header("content-length", str(len(data)))
                h.end_headers()
                h.wfile.write(data[: len(data) // 2])
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(h, 200, data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up first

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
