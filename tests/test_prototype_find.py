"""Finding a paper's code and artefacts: URLs in a PDF and a text paper, the Hub's paper page,
models/datasets/Spaces citing ``arxiv:<id>``, ranking with provenance, offline and HTTP errors.
"""
from __future__ import annotations

from fakes.code_hosts import FakeCodeHosts, HubModel
from fakes.minipdf import make_pdf
from mlr_copilot.paper import load_paper
from mlr_copilot.paper_links import describe_artefacts, find_artefacts, parse_repo

PDF_LINES = [
    "arXiv:2401.01234v2 [cs.LG]",
    "Shift Augmentation for Tiny Images",
    "Abstract",
    "We show one-pixel shifts help. Our code is available at https://github.com/acme/shiftaug.",
    "1 Introduction",
    "Tiny images suffer from translation. We build on scikit-learn (github.com/scikit-learn/",
    "scikit-learn) for the classifiers.",
    "References",
    "[1] Someone. Other work. https://github.com/other/baseline-repo",
]


def test_urls_in_a_generated_pdf_are_found_and_ranked(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(make_pdf(PDF_LINES))
    found = find_artefacts(load_paper(str(path)), online=False)
    assert [c.slug for c in found.repos] == ["acme/shiftaug", "scikit-learn/scikit-learn", "other/baseline-repo"]
    best, body, ref = found.repos
    assert best.score == 0.9 and "abstract, next to words about code" in best.provenance[0]
    assert body.score == 0.6 and ref.score == 0.2 and ref.provenance == ["paper text (references)"]
    assert found.arxiv_id == "2401.01234"  # from the arXiv stamp, which the paper text drops
    assert any("network is off" in n for n in found.notes)


def test_urls_in_a_text_paper(tmp_path):
    path = tmp_path / "paper.md"
    path.write_text("# Tiny Shifts\n\n## Abstract\nWe study shifts.\n\n## Method\n"
                    "See the implementation at <https://gitlab.com/lab/tiny-shifts.git>, and the data loader in "
                    "https://www.github.com/acme/loader/tree/main/src.\n")
    found = find_artefacts(load_paper(str(path)), online=False)
    assert {(c.host, c.slug) for c in found.repos} == {("gitlab", "lab/tiny-shifts"), ("github", "acme/loader")}
    assert all(c.score == 0.9 for c in found.repos)
    assert "arXiv id is unknown" in found.notes[0]


def test_parse_repo_forms():
    assert parse_repo("acme/shiftaug").url == "https://github.com/acme/shiftaug"
    assert parse_repo("https://github.com/acme/shiftaug.git").name == "shiftaug"
    assert parse_repo("https://github.com/orgs/acme") is None
    assert parse_repo("not a repo") is None


def hub() -> FakeCodeHosts:
    return FakeCodeHosts(
        papers={"2401.01234": "https://github.com/acme/shiftaug", "2402.00002": ""},
        models=[HubModel("acme/shift-svm", "2401.01234", downloads=50, license="mit",
                         files={"model.safetensors": 3_000_000, "config.json": 500}),
                HubModel("fan/shift-big", "2401.01234", downloads=900, license=None, files={"w.bin": 2 * 1024 ** 3}),
                HubModel("else/unrelated", "9999.00001", downloads=10**6)],
        datasets=[("acme/shift-digits", "2401.01234")], spaces=[("acme/demo", "2401.01234")])


def test_papers_api_repo_and_arxiv_model_search(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(make_pdf(PDF_LINES))
    with hub() as server:
        found = find_artefacts(load_paper(str(path)), endpoint=server.hf_endpoint)
        assert any(r.startswith("/hf/api/models?") and "filter=arxiv%3A2401.01234" in r for r in server.requests)
    best = found.repos[0]
    assert best.slug == "acme/shiftaug" and round(best.score, 2) == 1.0  # text and paper page agree
    assert best.provenance[1].startswith("Hugging Face paper page")
    assert [m.id for m in found.models] == ["fan/shift-big", "acme/shift-svm"]
    svm = found.models[1]
    assert svm.size_bytes == 3_000_500 and svm.license == "mit"
    assert found.datasets[0].id == "acme/shift-digits" and found.spaces[0].id == "acme/demo"
    text = describe_artefacts(found)
    assert "- fan/shift-big (2.0 GB, 900 downloads, license not stated)" in text
    assert "- acme/shift-svm (2.9 MB, 50 downloads, license mit)" in text
    assert "https://github.com/acme/shiftaug (score 1.00; from paper text" in text


def test_arxiv_id_source_uses_the_paper_page_only(tmp_path):
    with hub() as server:
        paper = load_paper(str(_text_paper(tmp_path, "arXiv:2402.00002 [cs.CL]\n")))
        found = find_artefacts(paper, endpoint=server.hf_endpoint)
    assert found.repos == [] and found.models == [] and found.arxiv_id == "2402.00002"


def _text_paper(tmp_path, stamp=""):
    p = tmp_path / "p.txt"
    p.write_text(f"{stamp}Plain Title\n\nAbstract\nNothing about code here at all.\n")
    return p


def test_hub_http_error_and_offline_are_notes_not_crashes(tmp_path, monkeypatch):
    paper = load_paper(str(_text_paper(tmp_path, "arXiv:2401.01234v1 [cs.LG]\n")))
    with hub() as server:
        server.fail["/hf/api/papers"] = 503
        found = find_artefacts(paper, endpoint=server.hf_endpoint)
        assert "answered HTTP 503" in found.notes[0] and found.models == []
        server.fail = {"/hf/api/models": 500}
        found = find_artefacts(paper, endpoint=server.hf_endpoint)
        assert found.repos[0].slug == "acme/shiftaug" and any("model search skipped" in n for n in found.notes)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        count = len(server.requests)
        found = find_artefacts(paper, endpoint=server.hf_endpoint)
        assert len(server.requests) == count and "HF_HUB_OFFLINE" in found.notes[0]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    found = find_artefacts(paper, endpoint="http://127.0.0.1:9")
    assert "unreachable" in found.notes[0]
