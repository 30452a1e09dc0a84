"""A fake Hugging Face Hub on 127.0.0.1 answering ``/api/models`` and ``/api/datasets``.

It speaks the wire format ``huggingface_hub.HfApi.list_models`` / ``list_datasets`` use:
query parameters ``search`` (case-insensitive substring of the id), ``sort`` (a field such
as ``downloads`` or ``likes``), ``direction`` (``-1`` descending, the Hub's default for
counts), ``limit``; the answer is a JSON list of objects with ``_id``, ``id``, ``downloads``,
``likes``, ``tags``, ``pipeline_tag`` (models), ``description`` (datasets) and friends.

``status`` makes every answer that HTTP status; ``hang`` makes it never answer (until
``close``). Every request is kept in ``requests`` as (path, query dict).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def model(id: str, downloads: int, likes: int = 0, pipeline_tag: str | None = None,
          tags: tuple[str, ...] = ()) -> dict:
    return {"_id": f"id-{id}", "id": id, "modelId": id, "likes": likes, "trendingScore": 0,
            "private": False, "downloads": downloads, "tags": list(tags),
            "pipeline_tag": pipeline_tag, "library_name": "transformers",
            "createdAt": "2022-03-02T23:29:04.000Z"}


def dataset(id: str, downloads: int, likes: int = 0, tags: tuple[str, ...] = (),
            description: str | None = None) -> dict:
    return {"_id": f"id-{id}", "id": id, "author": id.split("/")[0] if "/" in id else None,
            "disabled": False, "gated": False, "lastModified": "2024-01-10T12:00:00.000Z",
            "likes": likes, "trendingScore": 0, "private": False, "sha": "0" * 40,
            "description": description, "downloads": downloads, "tags": list(tags),
            "createdAt": "2022-03-02T23:29:22.000Z", "key": ""}


class FakeHub:
    def __init__(self, models: list[dict] = (), datasets: list[dict] = ()):
        self.items = {"models": list(models), "datasets": list(datasets)}
        self.requests: list[tuple[str, dict]] = []
        self.status: int | None = None
        self.hang = False
        self._release = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                hub._answer(self)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append((url.path, query))
        if self.hang:
            self._release.wait()
            return
        kind = url.path.rstrip("/").rsplit("/", 1)[-1]
        if self.status is not None:
            return self._send(handler, self.status, {"error": "fake hub failure"})
        if not url.path.startswith("/api/") or kind not in self.items:
            return self._send(handler, 404, {"error": "Not Found"})
        found = list(self.items[kind])
        search = query.get("search", "").lower()
        if search:
            found = [it for it in found if search in it["id"].lower()]
        sort = query.get("sort")
        if sort:
            descending = query.get("direction", "-1") == "-1"
            found.sort(key=lambda it: it.get(sort) or 0, reverse=descending)
        if "limit" in query:
            found = found[: int(query["limit"])]
        self._send(handler, 200, found)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
