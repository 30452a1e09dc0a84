"""Fake GitHub (API + archive host) and Hugging Face Hub paper/artefact endpoints on 127.0.0.1.

One server, three base URLs: ``github_api`` (``/repos/<o>/<r>``, ``/repos/<o>/<r>/commits/<ref>``),
``github_archive`` (``/<o>/<r>/tar.gz/<ref>``, as codeload.github.com) and ``hf_endpoint``
(``/api/papers/<id>``; ``/api/models|datasets|spaces?filter=arxiv:<id>``; ``/api/models/<id>?blobs=true``;
``/<id>/resolve/<rev>/<file>``).
``fail`` maps a path prefix (after the base) to an HTTP status; every request is kept in ``requests``.
"""
from __future__ import annotations

import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Repo:
    archive: bytes
    default_branch: str = "main"
    sha: str = SHA
    license: str | None = "MIT"


@dataclass
class HubModel:
    id: str
    arxiv: str
    downloads: int = 0
    license: str | None = "apache-2.0"
    files: dict = field(default_factory=dict)  # name -> size in bytes


def tar_gz(files: dict[str, bytes | str], top: str = "repo-" + SHA[:7], comment: str | None = SHA) -> bytes:
    """A GitHub-like archive: every file under one top folder, the commit in the pax comment."""
    buf = io.BytesIO()
    headers = {"comment": comment} if comment else {}
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers=headers) as tf:
        d = tarfile.TarInfo(top)
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


class FakeCodeHosts:
    def __init__(self, repos: dict[str, Repo] | None = None, papers: dict[str, str] | None = None,
                 models: list[HubModel] = (), datasets: list[tuple[str, str]] = (), spaces: list[tuple[str, str]] = ()):
        self.repos = dict(repos or {})
        self.papers = dict(papers or {})  # arXiv id -> githubRepo URL ("" for a page without one)
        self.models = list(models)
        self.datasets = list(datasets)  # (id, arxiv)
        self.spaces = list(spaces)
        self.fail: dict[str, int] = {}
        self.requests: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                host._answer(self)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base(self) -> str:
        h, p = self._server.server_address[:2]
        return f"http://{h}:{p}"

    github_api = property(lambda self: self.base + "/gh")
    github_archive = property(lambda self: self.base + "/codeload")
    hf_endpoint = property(lambda self: self.base + "/hf")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        path, q = unquote(url.path), {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append(h.path)
        for prefix, status in self.fail.items():
            if path.startswith(prefix):
                return self._send(h, status, {"message": "fake failure"})
        parts = path.strip("/").split("/")
        if parts[0] == "gh" and parts[1:2] == ["repos"]:
            repo = self.repos.get("/".join(parts[2:4]))
            if repo is None:
                return self._send(h, 404, {"message": "Not Found"})
            if len(parts) == 4:
                return self._send(h, 200, {"full_name": "/".join(parts[2:4]), "default_branch": repo.default_branch,
                                           "license": {"spdx_id": repo.license} if repo.license else None})
            if parts[4:5] == ["commits"]:
                return self._send(h, 200, {"sha": repo.sha})
        if parts[0] == "codeload" and len(parts) == 5:
            repo = self.repos.get("/".join(parts[1:3]))
            if repo is None:
                return self._send(h, 404, {"message": "Not Found"})
            return self._send(h, 200, repo.archive, content_type="application/x-gzip")
        if parts[0] == "hf" and parts[1:2] == ["api"]:
            return self._hub(h, parts[2:], q)
        if parts[0] == "hf" and parts[3:4] == ["resolve"]:  # /hf/<org>/<name>/resolve/<rev>/<file>
            m = next((m for m in self.models if m.id == "/".join(parts[1:3])), None)
            name = "/".join(parts[5:])
            if m is None or name not in m.files:
                return self._send(h, 404, {"error": "Entry not found"})
            return self._send(h, 200, b"w" * m.files[name], content_type="application/octet-stream")
        return self._send(h, 404, {"message": "Not Found"})

    def _hub(self, h, parts: list[str], q: dict) -> None:
        if parts[:1] == ["papers"] and len(parts) == 2:
            if parts[1] not in self.papers:
                return self._send(h, 404, {"error": "Paper not found"})
            page = {"id": parts[1], "title": "A paper"}
            if self.papers[parts[1]]:
                page["githubRepo"] = self.papers[parts[1]]
            return self._send(h, 200, page)
        arxiv = q.get("filter", "").removeprefix("arxiv:")
        if parts == ["models"]:
            found = sorted((m for m in self.models if m.arxiv == arxiv), key=lambda m: -m.downloads)
            return self._send(h, 200, [{"id": m.id, "downloads": m.downloads, "likes": 0,
                                        "tags": [f"arxiv:{m.arxiv}"] + ([f"license:{m.license}"] if m.license else [])}
                                       for m in found][: int(q.get("limit", 100))])
        if parts[:1] == ["models"] and len(parts) == 3:
            m = next((m for m in self.models if m.id == "/".join(parts[1:])), None)
            if m is None:
                return self._send(h, 404, {"error": "Repository not found"})
            return self._send(h, 200, {"id": m.id, "tags": [f"arxiv:{m.arxiv}"], "sha": SHA,
                                       "cardData": {"license": m.license} if m.license else {},
                                       "siblings": [{"rfilename": n, "size": s} for n, s in m.files.items()]})
        if parts in (["datasets"], ["spaces"]):
            items = self.datasets if parts == ["datasets"] else self.spaces
            return self._send(h, 200, [{"id": i, "downloads": 1, "likes": 0, "tags": [f"arxiv:{a}"]}
                                       for i, a in items if a == arxiv])
        return self._send(h, 404, {"error": "Not Found"})

    @staticmethod
    def _send(h, status: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
