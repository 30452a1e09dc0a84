"""A fake Semantic Scholar + OpenAlex (+ arXiv PDF) server on 127.0.0.1.

Speaks the wire formats the related-work search and the paper download use:

* ``GET /graph/v1/paper/search?query=&limit=&fields=&year=`` → ``{"total", "offset", "data": [...]}``
  (Semantic Scholar Academic Graph API paper search);
* ``GET /works?search=&per-page=&filter=`` → ``{"meta": {...}, "results": [...]}`` with
  abstracts as ``abstract_inverted_index`` (OpenAlex);
* ``GET /pdf/<arxiv id>`` → the bytes given in ``files`` (arXiv).

A search matches an item when any query word occurs in its title or abstract.
``s2_status`` / ``openalex_status`` force that HTTP status (429 comes with ``Retry-After``).
Every request is kept in ``requests`` as (path, query dict).
"""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def s2_paper(title: str, abstract: str = "", year: int = 2023, authors: tuple[str, ...] = ("A. Author",),
             venue: str = "") -> dict:
    pid = hashlib.sha1(title.encode()).hexdigest()
    return {"paperId": pid, "externalIds": {"CorpusId": 1}, "url": f"https://www.semanticscholar.org/paper/{pid}",
            "title": title, "abstract": abstract or None, "venue": venue, "year": year,
            "authors": [{"authorId": str(i), "name": n} for i, n in enumerate(authors)]}


def inverted_index(text: str) -> dict:
    index: dict[str, list[int]] = {}
    for pos, word in enumerate(text.split()):
        index.setdefault(word, []).append(pos)
    return index


def openalex_work(title: str, abstract: str = "", year: int = 2022, authors: tuple[str, ...] = ("B. Author",)) -> dict:
    wid = f"W{int(hashlib.sha1(title.encode()).hexdigest()[:8], 16)}"
    return {"id": f"https://openalex.org/{wid}", "doi": f"https://doi.org/10.0000/{wid.lower()}",
            "title": title, "display_name": title, "publication_year": year,
            "publication_date": f"{year}-01-01", "type": "article",
            "authorships": [{"author_position": "first", "author": {"id": f"https://openalex.org/A{i}", "display_name": n}}
                            for i, n in enumerate(authors)],
            "primary_location": {"source": {"display_name": "Journal of Tests"}},
            "abstract_inverted_index": inverted_index(abstract) if abstract else None,
            "cited_by_count": 3}


def _matches(item_text: str, query: str) -> bool:
    words = [w for w in query.lower().split() if len(w) > 2]
    return any(w in item_text.lower() for w in words)


class FakeScholar:
    def __init__(self, s2_papers=(), openalex_works=(), files: dict | None = None):
        self.s2_papers = list(s2_papers)
        self.openalex_works = list(openalex_works)
        self.files = dict(files or {})  # path -> (bytes, content type)
        self.s2_status: int | None = None
        self.openalex_status: int | None = None
        self.requests: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                fake._answer(self)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json",
              headers: dict | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _error(self, h, status: int) -> None:
        headers = {"Retry-After": "30"} if status == 429 else {}
        msg = "Too Many Requests. Please wait and try again or apply for a key" if status == 429 else "error"
        self._send(h, status, json.dumps({"message": msg, "code": str(status)}).encode(), headers=headers)

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((parts.path, query))
        if parts.path == "/graph/v1/paper/search":
            if self.s2_status:
                return self._error(h, self.s2_status)
            q, limit = query.get("query", ""), int(query.get("limit", 10))
            hits = [p for p in self.s2_papers if _matches(p["title"] + " " + (p["abstract"] or ""), q)]
            body = {"total": len(hits), "offset": 0, "data": hits[:limit]}
            if len(hits) > limit:
                body["next"] = limit
            return self._send(h, 200, json.dumps(body).encode())
        if parts.path == "/works":
            if self.openalex_status:
                return self._error(h, self.openalex_status)
            q, per_page = query.get("search", ""), int(query.get("per-page", 25))
            hits = [w for w in self.openalex_works
                    if _matches(w["title"] + " " + " ".join((w["abstract_inverted_index"] or {}).keys()), q)]
            body = {"meta": {"count": len(hits), "db_response_time_ms": 5, "page": 1, "per_page": per_page},
                    "results": hits[:per_page], "group_by": []}
            return self._send(h, 200, json.dumps(body).encode())
        if parts.path in self.files:
            data, ctype = self.files[parts.path]
            return self._send(h, 200, data, ctype)
        self._send(h, 404, b'{"error": "not found"}')

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
