"""Related-work retrieval against a fake Semantic Scholar / OpenAlex on 127.0.0.1."""
from __future__ import annotations

import socket

import pytest

from fakes.scholar_server import FakeScholar, openalex_work, s2_paper
from mlr_copilot.related_work import format_papers, openalex_abstract, search_related

S2 = [s2_paper("Shift augmentation for digit recognition", "We shift digits by one pixel.", 2023, ("Ann Lee",)),
      s2_paper("Ensembles of classical classifiers", "Soft voting of SVM and kNN.", 2022),
      s2_paper("Unrelated protein folding", "Proteins.", 2021)]
OA = [openalex_work("Data augmentation for small images", "Tiny images gain from flips and shifts.", 2024,
                    ("Bo Chen", "Di Wu"))]


@pytest.fixture
def server():
    s = FakeScholar(S2, OA)
    yield s
    s.close()


def test_semantic_scholar_results(server):
    r = search_related(["digit recognition", "ensemble classifiers"], s2_base_url=server.url,
                       openalex_base_url=server.url, since_year=2020)
    assert r.source == "semantic_scholar" and r.notes == []
    titles = [p.title for p in r.papers]
    assert titles == ["Shift augmentation for digit recognition", "Ensembles of classical classifiers"]
    first = r.papers[0]
    assert (first.year, first.authors, first.abstract) == (2023, ["Ann Lee"], "We shift digits by one pixel.")
    path, query = server.requests[0]
    assert path == "/graph/v1/paper/search" and query["year"] == "2020-" and "abstract" in query["fields"]
    assert "[1] Shift augmentation for digit recognition (2023)" in format_papers(r.papers)


def test_rate_limit_falls_back_to_openalex(server):
    server.s2_status = 429
    r = search_related(["small images augmentation"], s2_base_url=server.url, openalex_base_url=server.url)
    assert r.source == "openalex"
    assert [p.title for p in r.papers] == ["Data augmentation for small images"]
    assert r.papers[0].abstract == "Tiny images gain from flips and shifts."
    assert r.papers[0].authors == ["Bo Chen", "Di Wu"]
    assert any("HTTP 429" in n and "OpenAlex" in n for n in r.notes)
    assert server.paths() == ["/graph/v1/paper/search", "/works"]


def test_both_sources_failing_continues_with_notes(server):
    server.s2_status = 500
    server.openalex_status = 429
    r = search_related(["digits"], s2_base_url=server.url, openalex_base_url=server.url)
    assert r.papers == [] and r.source is None
    assert "HTTP 500" in r.notes[0] and "HTTP 429" in r.notes[1] and "continuing without" in r.notes[-1]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_servers_continue_with_a_note():
    url = _closed_port_url()
    r = search_related(["digits"], s2_base_url=url, openalex_base_url=url, timeout_s=5)
    assert r.papers == []
    assert any("Semantic Scholar unreachable" in n for n in r.notes)
    assert any("OpenAlex unreachable" in n for n in r.notes)


def test_offline_and_no_keywords_skip_the_network(server):
    r = search_related(["digits"], online=False, s2_base_url=server.url)
    assert r.notes == ["offline: related-work search skipped"] and server.requests == []
    assert search_related([" "], s2_base_url=server.url).notes == ["no keywords to search for"]


def test_duplicates_are_dropped_and_the_limit_holds(server):
    server.s2_papers = [s2_paper(f"Digit paper {i}") for i in range(5)] * 2
    r = search_related(["digit", "paper digit"], s2_base_url=server.url, per_keyword=10, limit=4)
    assert [p.title for p in r.papers] == [f"Digit paper {i}" for i in range(4)]


def test_openalex_abstract_reconstruction():
    assert openalex_abstract({"world": [1], "hello": [0, 2]}) == "hello world hello"
    assert openalex_abstract(None) == ""
