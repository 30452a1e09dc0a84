"""Loading a paper from PDF, text, arXiv id or URL, and condensing one that is too long."""
from __future__ import annotations

import pytest

from fakes.minipdf import make_pdf
from fakes.scholar_server import FakeScholar
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.paper import PaperError, arxiv_id, digest_paper, load_paper, parse_paper

PDF_LINES = [
    "Shift Augmentation for Tiny Digits",
    "A. Writer, B. Writer",
    "arXiv:2101.00001v1 [cs.LG] 1 Jan 2021",
    "Abstract",
    "We add one-pixel shifted copies of 8x8 digit images to the training set",
    "and average the predictions of small classical models.",
    "1 Introduction",
    "Handwritten digits vary by small translations. Pixel models ignore this.",
    "2 Related Work",
    "Virtual support vectors add transformed examples to kernel machines.",
    "3 Method",
    "Each image is shifted up, down, left and right by one pixel.",
    "References",
    "[1] Someone. A paper. 1998.",
]


@pytest.fixture
def pdf_path(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(make_pdf(PDF_LINES))
    return path


def test_pdf_title_abstract_intro_related_work(pdf_path):
    paper = load_paper(str(pdf_path))
    assert paper.kind == "pdf"
    assert paper.title == "Shift Augmentation for Tiny Digits"
    assert paper.abstract.startswith("We add one-pixel shifted copies")
    assert "small translations" in paper.introduction
    assert "Virtual support vectors" in paper.related_work
    text = paper.render()
    assert "arXiv:2101.00001v1" not in text  # the margin stamp is not content
    assert "Someone. A paper" not in text  # references are left out of prompts


def test_pdf_metadata_title_wins(tmp_path):
    path = tmp_path / "p.pdf"
    path.write_bytes(make_pdf(["Running header", "Abstract", "Body text here for the abstract."],
                              title="Real Title"))
    assert load_paper(str(path)).title == "Real Title"


def test_markdown_and_plain_text(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("# My Title\n\n## Abstract\nShort abstract.\n\n## 1. Introduction\nIntro text.\n", encoding="utf-8")
    paper = load_paper(str(md))
    assert (paper.title, paper.abstract, paper.introduction) == ("My Title", "Short abstract.", "Intro text.")
    txt = tmp_path / "p.txt"
    txt.write_text("A Title Line\n\nFirst paragraph acts as the abstract.\n\nSecond paragraph.\n", encoding="utf-8")
    paper = load_paper(str(txt))
    assert paper.title == "A Title Line"
    assert paper.abstract == "First paragraph acts as the abstract."
    assert "Second paragraph." in paper.render()


def test_inline_abstract_and_unlabelled_abstract():
    p = parse_paper("Title X\nAbstract—We study things.\nI. INTRODUCTION\nIntro.", "s")
    assert p.abstract == "We study things." and p.introduction == "Intro."
    p = parse_paper("Title Y\nJ. Doe\n\nThis long paragraph is the abstract of the paper, unlabelled.\n\n"
                    "1 Introduction\nIntro.", "s")
    assert p.abstract.startswith("This long paragraph")


def test_bad_inputs_give_clear_messages(tmp_path):
    with pytest.raises(PaperError, match="not found"):
        load_paper(str(tmp_path / "missing.pdf"))
    with pytest.raises(PaperError, match="directory"):
        load_paper(str(tmp_path))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(PaperError, match="could not be read|no text"):
        load_paper(str(broken))
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(PaperError, match="neither a PDF nor text"):
        load_paper(str(binary))


def test_arxiv_ids_and_urls_are_recognised():
    assert arxiv_id("2310.00001") == "2310.00001"
    assert arxiv_id("arXiv:2310.00001v2") == "2310.00001v2"
    assert arxiv_id("https://arxiv.org/abs/2310.00001") == "2310.00001"
    assert arxiv_id("https://arxiv.org/pdf/2310.00001v3.pdf") == "2310.00001v3"
    assert arxiv_id("hep-th/9901001") == "hep-th/9901001"
    assert arxiv_id("paper.pdf") is None


def test_offline_download_is_refused_with_advice():
    with pytest.raises(PaperError, match="offline.*pass the file's path"):
        load_paper("2310.00001", online=False)


def test_arxiv_download_from_a_server(tmp_path):
    server = FakeScholar(files={"/pdf/2101.00001": (make_pdf(PDF_LINES), "application/pdf"),
                                "/paper.txt": (b"Plain Title\n\nAn abstract.\n", "text/plain"),
                                "/page.html": (b"<html><body><h1>Web Title</h1><h2>Abstract</h2><p>Web abstract."
                                               b"</p><script>x()</script></body></html>", "text/html")})
    try:
        paper = load_paper("arxiv:2101.00001", arxiv_base_url=server.url)
        assert paper.title == "Shift Augmentation for Tiny Digits" and paper.kind == "pdf"
        assert load_paper(f"{server.url}/paper.txt").abstract == "An abstract."
        page = load_paper(f"{server.url}/page.html")
        assert (page.title, page.abstract) == ("Web Title", "Web abstract.")
        with pytest.raises(PaperError, match="HTTP 404"):
            load_paper(f"{server.url}/nothing.pdf")
    finally:
        server.close()


def _long_paper():
    body = "\n\n".join(f"## {i} Section {i}\n" + " ".join(f"Sentence {i}.{k} about the method." for k in range(120))
                       for i in range(1, 5))
    return parse_paper(f"# Long Paper\n\n## Abstract\nThe abstract stays verbatim.\n\n{body}", "long.md")


def test_short_paper_is_not_condensed():
    paper = parse_paper("# T\n\n## Abstract\nA.\n\n## 1 Introduction\nI.", "s")
    llm = ScriptedLLM([])
    digest = digest_paper(paper, llm, 10_000)
    assert not digest.condensed and llm.calls == []


def test_long_paper_is_condensed_section_by_section():
    paper = _long_paper()
    assert len(paper.render()) > 12_000
    calls = []
    llm = ScriptedLLM([lambda m, i=i: f"Summary of part {i}." for i in range(20)])
    digest = digest_paper(paper, llm, 4_000, chunk_chars=3_500, on_call=calls.append)
    assert digest.condensed and len(digest.text) <= 4_000
    assert "The abstract stays verbatim." in digest.text and "Title: Long Paper" in digest.text
    # each section (about 4,600 characters) is too big for one call: split in parts, every part summarised
    assert len(llm.calls) == len(calls) >= 4
    headings = [c["section"] for c in calls]
    assert all(any(f"Section {i}" in h for h in headings) for i in range(1, 5))
    assert "Summary of part 0." in digest.text
    assert all(c["purpose"] == "idea_condense" for c in llm.calls)


def test_condensing_cuts_only_what_the_model_left_too_long():
    paper = _long_paper()
    llm = ScriptedLLM(["word " * 2000], repeat_last=True)
    digest = digest_paper(paper, llm, 4_000, chunk_chars=20_000)
    assert digest.truncated_sections and digest.text.count("[…]") == len(digest.truncated_sections)
