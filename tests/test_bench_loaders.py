"""Bench inputs: every input format, the four corpus layouts in miniature, bad input, synthetic questions."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from domprune.bench.corpora import detect_layout, load_corpus
from domprune.bench.loaders import BenchInputError, load_input
from domprune.bench.questions import (
    label_value_pairs,
    paraphrase_for,
    paraphrased_questions,
    synthetic_questions,
)
from domprune.bench.records import PageReadError

PAGE = "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>By {author}</p></body></html>"


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---- input formats -------------------------------------------------------------------------------


def test_html_folder(tmp_path: Path) -> None:
    _write(tmp_path / "a.html", PAGE.format(title="A", author="X"))
    _write(tmp_path / "sub" / "b.htm", PAGE.format(title="B", author="Y"))
    _write(tmp_path / "notes.txt", "not a page")
    loaded = load_input(str(tmp_path))
    assert sorted(p.id for p in loaded.pages) == ["a.html", "sub/b.htm"]
    assert all(p.questions == [] for p in loaded.pages)
    assert [(Path(s.source).name, s.reason) for s in loaded.skipped] == [
        ("notes.txt", "not an HTML file (suffix '.txt')")
    ]
    assert "<h1>B</h1>" in next(p for p in loaded.pages if p.id == "sub/b.htm").read_html()


def test_unreadable_pages_raise_with_reason(tmp_path: Path) -> None:
    _write(tmp_path / "bin.html", b"\x00\x01\x02PNG\x00" * 20)
    _write(tmp_path / "plain.html", "just words, no markup at all")
    _write(tmp_path / "latin1.html", ('<meta charset="iso-8859-1"><p>Gr\xfc\xdfe</p>').encode("latin-1"))
    pages = {p.id: p for p in load_input(str(tmp_path)).pages}
    with pytest.raises(PageReadError, match="binary"):
        pages["bin.html"].read_html()
    with pytest.raises(PageReadError, match="not HTML"):
        pages["plain.html"].read_html()
    assert "Grüße" in pages["latin1.html"].read_html()
    (tmp_path / "latin1.html").unlink()
    with pytest.raises(PageReadError, match="cannot read"):
        pages["latin1.html"].read_html()


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    _write(tmp_path / "pages" / "p1.html", PAGE.format(title="One", author="Ann"))
    lines = [
        json.dumps({"html": PAGE.format(title="Inline", author="Bo"), "question": "Who?", "answer": "Bo"}),
        json.dumps({"html_path": "pages/p1.html", "question": "Title?", "answers": ["One", "1"]}),
        json.dumps({"html_path": "pages/p1.html", "question": "Who wrote it?", "answer": "Ann"}),
        '{"html": "<p>x</p>", "question": ',  # malformed JSON
        json.dumps({"html": "<p>x</p>", "question": "No answer?"}),
        json.dumps({"html": "<p>x</p>", "question": "Empty?", "answer": "  "}),
        json.dumps({"question": "Where is the page?", "answer": "nowhere"}),
        json.dumps(["not", "an", "object"]),
        "",
    ]
    src = _write(tmp_path / "qa.jsonl", "\n".join(lines) + "\n")
    loaded = load_input(str(src))
    assert len(loaded.pages) == 2
    inline, shared = loaded.pages
    assert inline.html is not None and [q.answers for q in inline.questions] == [("Bo",)]
    assert shared.path == tmp_path / "pages" / "p1.html"
    assert [q.text for q in shared.questions] == ["Title?", "Who wrote it?"]
    assert shared.questions[0].answers == ("One", "1")
    reasons = {s.line: s.reason for s in loaded.skipped}
    assert set(reasons) == {4, 5, 6, 7, 8}
    assert reasons[4].startswith("malformed JSON")
    assert "no 'answer'" in reasons[5]
    assert reasons[6] == "the answer is empty"
    assert "html_path" in reasons[7]
    assert reasons[8] == "record is a list, not an object"


def test_conversations_json(tmp_path: Path) -> None:
    def conv(user: str, answer: str | None) -> dict:
        turns = [{"role": "user", "content": user}]
        if answer is not None:
            turns.append({"role": "assistant", "content": answer})
        return {"conversations": turns, "split": "train"}

    data = [
        conv("Read the page.\n<dom><p>Price: $5</p></dom>\nQuestion: What is the price?\n\nBe brief.", "$5"),
        conv("No page here. Question: What?", "x"),
        conv("<dom><p>a</p></dom> Question: What is a?", None),
        conv("<dom><p>a</p></dom> no question marker", "a"),
    ]
    src = _write(tmp_path / "train.json", json.dumps(data))
    loaded = load_input(str(src))
    assert len(loaded.pages) == 1
    page = loaded.pages[0]
    assert page.html == "<p>Price: $5</p>"
    assert [(q.text, q.answers) for q in page.questions] == [("What is the price?", ("$5",))]
    assert [(s.line, s.reason) for s in loaded.skipped] == [
        (2, "no user turn contains a <dom>...</dom> block"),
        (3, "no assistant turn with a non-empty answer"),
        (4, "the user turn has no 'Question:' outside the <dom> block"),
    ]


def test_hf_dataset_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {"html": PAGE.format(title="T", author="Ann"), "question": "Who?", "answer": "Ann"},
        {"html": "<p>x</p>", "question": "Q?", "answer": ""},
    ]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    loaded = load_input(str(tmp_path / "ds"))
    assert [q.answers for p in loaded.pages for q in p.questions] == [("Ann",)]
    assert [(s.line, s.reason) for s in loaded.skipped] == [(2, "the answer is empty")]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows[:1])}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_input(str(tmp_path / "dd"), hf_split="test").pages) == 1
    with pytest.raises(BenchInputError, match="--hf-split"):
        load_input(str(tmp_path / "dd"), hf_split="train")


def test_hf_name_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(BenchInputError, match="save_to_disk"):
        load_input("hf:no-such-owner/no-such-dataset-for-domprune-tests")


def test_missing_input_path(tmp_path: Path) -> None:
    with pytest.raises(BenchInputError, match="does not exist"):
        load_input(str(tmp_path / "missing.jsonl"))


# ---- corpus layouts ------------------------------------------------------------------------------


def _readability(root: Path) -> Path:
    folder = root / "mozilla-readability"
    _write(folder / "pages" / "001" / "source.html", PAGE.format(title="Fox News", author="Ann Lee"))
    _write(
        folder / "pages" / "001" / "expected-metadata.json",
        json.dumps({"title": "Fox News", "byline": "Ann Lee", "siteName": None, "lang": "en"}),
    )
    _write(folder / "pages" / "002" / "source.html", "<p>no metadata</p>")
    return folder


def _postlight(root: Path) -> Path:
    folder = root / "postlight-parser-fixtures"
    _write(folder / "fixtures" / "a.com.html", PAGE.format(title="Headline", author="Bo Chan"))
    labels = [
        {
            "fixture": "fixtures/a.com.html",
            "title": "Headline",
            "author": "Bo Chan",
            "dek": "Sub",
            "verbatim_in_html": {"title": True, "author": True, "dek": False},
        },
        {"fixture": "fixtures/missing.html", "title": "X", "verbatim_in_html": {"title": True}},
    ]
    _write(folder / "labels.json", json.dumps(labels))
    return folder


def _swde(root: Path) -> Path:
    folder = root / "swde-book"
    _write(folder / "pages" / "0000.htm", "<html><body><p>ISBN-13: 9780316125581</p></body></html>")
    _write(
        folder / "groundtruth" / "book-shop-isbn_13.txt",
        "\ufeffbook\tshop\tisbn_13\r\n3\t3\t3\t3\r\n0000\t1\t: 9780316125581\r\n0001\t1\t: 9781420106879\r\n"
        "0002\t1\t<NULL>\r\nbroken\r\n",
    )
    _write(
        folder / "groundtruth" / "book-shop-author.txt", "book\tshop\tauthor\n3\t3\t3\t3\n0000\t2\tAnn\tBo\n"
    )
    return folder


def _trafilatura(root: Path) -> Path:
    folder = root / "trafilatura-eval"
    _write(folder / "eval" / "x.de.html", PAGE.format(title="Titel", author="Eva"))
    _write(folder / "cache" / "y.de.html", PAGE.format(title="Zwei", author=""))
    data = {
        "https://x.de/1": {
            "file": "x.de.html",
            "title": "Titel",
            "author": "Eva",
            "with": ["a"],
            "without": [],
        },
        "https://y.de/2": {"file": "y.de.html", "title": "Zwei", "author": "", "with": [], "without": []},
        "https://z.de/3": {"file": "z.de.html", "title": "Gone", "with": [], "without": []},
    }
    _write(folder / "evaldata.json", json.dumps(data))
    return folder


def test_readability_layout(tmp_path: Path) -> None:
    folder = _readability(tmp_path)
    assert detect_layout(folder) == "mozilla-readability"
    loaded = load_corpus(folder)
    assert [(p.id, [(q.field, q.answers) for q in p.questions]) for p in loaded.pages] == [
        ("001", [("title", ("Fox News",)), ("byline", ("Ann Lee",))])
    ]
    assert loaded.pages[0].questions[1].text == "Who wrote this article?"
    assert [s.reason for s in loaded.skipped] == ["no source.html or expected-metadata.json"]


def test_postlight_layout_uses_only_verbatim_fields(tmp_path: Path) -> None:
    loaded = load_corpus(_postlight(tmp_path))
    assert [(q.field, q.answers) for q in loaded.pages[0].questions] == [
        ("title", ("Headline",)),
        ("author", ("Bo Chan",)),
    ]
    assert [(s.line, s.reason) for s in loaded.skipped] == [(2, "fixture 'fixtures/missing.html' missing")]


def test_swde_layout(tmp_path: Path) -> None:
    loaded = load_corpus(_swde(tmp_path))
    assert [p.id for p in loaded.pages] == ["0000"]  # 0001 has ground truth but no page in this copy
    questions = {q.field: q for q in loaded.pages[0].questions}
    assert questions["isbn_13"].answers == ("9780316125581",)
    assert questions["isbn_13"].text == "What is the ISBN-13 of the book?"
    assert questions["author"].answers == ("Ann", "Bo")
    assert [(s.line, s.reason) for s in loaded.skipped] == [(6, "line has no page id and value count")]


def test_questions_jsonl_layout(tmp_path: Path) -> None:
    # any labelled set: questions.jsonl beside its pages, named after the folder, fields kept
    folder = tmp_path / "fundus"
    (folder / "pages").mkdir(parents=True)
    (folder / "pages" / "a.html").write_text(PAGE.format(title="Rain", author="Ann Lee"), encoding="utf-8")
    rows = [
        {
            "html_path": "pages/a.html",
            "question": "What is the title?",
            "answers": ["Rain"],
            "field": "title",
        },
        {"html_path": "pages/a.html", "question": "Who wrote it?", "answers": ["Ann Lee"]},
        {"question": "no page"},
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert detect_layout(folder) == "questions.jsonl"
    loaded = load_corpus(tmp_path)
    assert [(p.id, p.corpus) for p in loaded.pages] == [("a.html", "fundus")]
    assert [(q.field, q.answers) for q in loaded.pages[0].questions] == [
        ("title", ("Rain",)),
        ("question", ("Ann Lee",)),
    ]
    assert [s.line for s in loaded.skipped] == [3]


def test_trafilatura_layout(tmp_path: Path) -> None:
    loaded = load_corpus(_trafilatura(tmp_path))
    assert {p.id: [q.field for q in p.questions] for p in loaded.pages} == {
        "x.de.html": ["title", "author"],
        "y.de.html": ["title"],
    }
    assert len(loaded.skipped) == 1 and "'z.de.html'" in loaded.skipped[0].reason


def test_corpora_root_loads_every_layout(tmp_path: Path) -> None:
    for make in (_readability, _postlight, _swde, _trafilatura):
        make(tmp_path)
    _write(tmp_path / "README.md", "corpora")
    loaded = load_corpus(tmp_path)
    assert sorted({p.corpus for p in loaded.pages}) == [
        "mozilla-readability",
        "postlight-parser-fixtures",
        "swde-book",
        "trafilatura-eval",
    ]
    assert len(loaded.pages) == 5


def test_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchInputError, match="not a folder"):
        load_corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchInputError, match="no known corpus layout"):
        load_corpus(tmp_path / "empty")


# ---- synthetic questions -------------------------------------------------------------------------

STRUCTURED = """<html><body>
<table><tr><th>Price</th><td>$129.00</td></tr><tr><td>Weight:</td><td>1.2 kg</td></tr>
<tr><th>Notes</th><td>{long}</td></tr><tr><td>a</td><td>b</td><td>c</td></tr></table>
<dl><dt>Colour</dt><dd>Dark blue</dd><dt>Size</dt><dd>M</dd></dl>
<form><label for="q">Search</label><input id="q" value="hiking boots">
<label for="pw">Password</label><input id="pw" type="password" value="secret"></form>
<ul><li>SKU: AB-1234</li><li>Size: L</li></ul>
<p>Posted in: <a href="/news">News</a></p>
<h2>Review: a heading is not a field</h2>
<script>var x = "Key: value";</script>
</body></html>"""


def test_label_value_pairs() -> None:
    pairs = label_value_pairs(STRUCTURED.format(long="word " * 40))
    assert pairs == [
        ("table", "Price", "$129.00"),
        ("table", "Weight", "1.2 kg"),
        ("dl", "Colour", "Dark blue"),
        ("form", "Search", "hiking boots"),
        ("text", "SKU", "AB-1234"),
        ("text", "Posted in", "News"),
    ]  # Notes: value too long; Size: two values (M, L); password and script ignored; heading ignored


def test_synthetic_questions_are_seeded_and_marked() -> None:
    html = STRUCTURED.format(long="x")
    first = synthetic_questions(html, 3, random.Random(7))
    assert first == synthetic_questions(html, 3, random.Random(7))
    assert len(first) == 3 and all(q.kind == "synthetic" for q in first)
    assert all(q.text.startswith('What is the value of "') for q in first)
    assert synthetic_questions(html, 0, random.Random(7)) == []
    assert synthetic_questions("<p>nothing structured</p>", 2, random.Random(0)) == []


def test_paraphrased_questions_avoid_the_labels_words() -> None:
    html = (
        "<table><tr><th>Publisher</th><td>Plume Books</td></tr><tr><th>Item weight</th><td>4.1 kg</td></tr>"
        "<tr><th>Page Count</th><td>391</td></tr><tr><th>Favourite snack</th><td>crisps</td></tr></table>"
    )
    qs = paraphrased_questions(html, 5, random.Random(3))
    assert {q.answers[0] for q in qs} == {"Plume Books", "4.1 kg", "391"}  # no wording for the snack
    for q in qs:
        label = q.field.split(":", 1)[1]
        assert q.kind == "paraphrased"
        assert not {w[:4] for w in label.lower().split()} & {w[:4] for w in q.text.lower().split()}
    assert paraphrase_for("Pages", random.Random(0)) in (
        "How long is the book?",
        "How thick is this volume, counted in sheets?",
    )
    assert paraphrase_for("Favourite snack", random.Random(0)) is None


def test_paraphrased_wordings_asked_twice_on_a_page_are_dropped() -> None:
    html = "<dl><dt>Online price</dt><dd>$9.54</dd><dt>Club price</dt><dd>$8.00</dd><dt>Publisher</dt><dd>X</dd></dl>"
    texts = [q.text for q in paraphrased_questions(html, 5, random.Random(1))]
    assert len(texts) == len(set(texts))
    assert all(q.answers[0] == "X" for q in paraphrased_questions(html, 5, random.Random(1)))


def test_label_value_pairs_are_the_text_a_browser_shows() -> None:
    html = """<html><body><table>
<tr><th>Founded</th><td>February 28, 1998<span class="noprint">; 18 years ago</span><span
 style="display:none">&#160;(<span class="bday">1998-02-28</span>)</span></td></tr>
<tr><th>Motto<span hidden> (Latin)</span></th><td>Ad astra</td></tr>
<tr><th>Secret</th><td style="visibility: hidden">never shown</td></tr>
</table>
<dl><dt>Max (Paperback) Club Price: $6.86 Save 14%</dt><dd><a href="/cart">Add to Cart</a></dd></dl>
</body></html>"""
    assert label_value_pairs(html) == [
        ("table", "Founded", "February 28, 1998; 18 years ago"),
        ("table", "Motto", "Ad astra"),
        ("text", "Max (Paperback) Club Price", "$6.86 Save 14%"),
    ]  # Secret: its value is hidden (empty); the <dt> holds a "Label: value" of its own, so it is not
    # the label of "Add to Cart" (it is a pair itself)
