"""Chunking: every chunk within budget and well-formed, every kept text in exactly one chunk."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from lxml import html as lxml_html

import domprune
from domprune import BudgetTooSmallError, PruneSettings, count_tokens

SECTIONS = "".join(
    f"<section><h2>Section {s}</h2>"
    + "".join(f"<p>Section {s} paragraph {i}: plain words about topic {s}.</p>" for i in range(12))
    + "<ul>" + "".join(f"<li>item {s}.{i}</li>" for i in range(6)) + "</ul></section>"
    for s in range(10)
)  # fmt: skip
PAGE = f"""<html><head><title>Handbook</title></head><body>
<nav class="menu"><a href="/a">Home</a><a href="/b">Help</a></nav>
<main><h1>Handbook</h1>{SECTIONS}
<h2>Specifications</h2><table><tr><th>Part</th><th>Weight</th></tr>
<tr><td>Zephyr frame</td><td>412 g</td></tr><tr><td>Basic frame</td><td>650 g</td></tr></table>
<p>Some text with &lt;angle&gt; brackets &amp; an <img alt="diagram of the frame"> image.</p></main>
<footer>Contact us</footer></body></html>"""


def _text_of_html(fragment: str) -> str:
    return lxml_html.fragment_fromstring(fragment, create_parent="div").text_content()


def _squash(s: str) -> str:
    return "".join(s.split())


@pytest.mark.parametrize("fmt", ["html", "text"])
@pytest.mark.parametrize("budget", [40, 64, 200, 1000, 100_000])
def test_chunks_cover_the_filtered_page_exactly_once(
    budget: int, fmt: str, well_formed: Callable[[str], list[str]]
) -> None:
    settings = PruneSettings(format=fmt)
    chunks = domprune.chunk(PAGE, budget=budget, settings=settings)
    assert chunks
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.tokens == count_tokens(c.output) <= budget
        assert c.output.strip()
        if fmt == "html":
            assert well_formed(c.output) == [], c.output
        else:
            assert "<" not in c.output.replace("<angle>", "")
    full = domprune.prune(PAGE, budget=10**7, settings=PruneSettings(format=fmt, fit=False)).output
    if fmt == "html":
        joined = "".join(_text_of_html(c.output) for c in chunks)
        expected = _text_of_html(full)
    else:
        joined, expected = "".join(c.output for c in chunks), full
    assert _squash(joined) == _squash(expected)


def test_one_chunk_when_the_page_fits() -> None:
    chunks = domprune.chunk(PAGE, budget=100_000)
    assert len(chunks) == 1
    full = domprune.prune(PAGE, budget=100_000).output
    assert _squash(chunks[0].output) == _squash(full)


def test_more_budget_fewer_chunks() -> None:
    counts = [len(domprune.chunk(PAGE, budget=b)) for b in (64, 256, 1024)]
    assert counts[0] > counts[1] > counts[2]


OUTLINE = (
    "<body><h1>Guide</h1><section><h2>Alpha</h2>"
    + "".join(f"<p>alpha paragraph {i} with a few more words to fill it.</p>" for i in range(4))
    + "<h3>Subtopic</h3>"
    + "".join(f"<p>sub paragraph {i} with a few more words to fill it.</p>" for i in range(4))
    + "</section><section><h2>Beta</h2>"
    + "".join(f"<p>beta paragraph {i} with a few more words to fill it.</p>" for i in range(4))
    + "</section></body>"
)


def test_headings_are_the_trail_where_the_chunk_starts() -> None:
    chunks = domprune.chunk(OUTLINE, budget=30)

    def chunk_with(text: str) -> domprune.Chunk:
        found = [c for c in chunks if text in c.output]
        assert len(found) == 1, text
        return found[0]

    assert chunk_with("alpha paragraph 2").headings == ["Guide", "Alpha"]
    assert chunk_with("sub paragraph 3").headings == ["Guide", "Alpha", "Subtopic"]
    assert chunk_with("beta paragraph 1").headings == ["Guide", "Beta"]


def test_paths_name_the_enclosing_elements() -> None:
    chunks = domprune.chunk(OUTLINE, budget=30)
    beta = next(c for c in chunks if "beta paragraph 1" in c.output)
    assert beta.path == ["section", "p"]
    chunks = domprune.chunk(PAGE, budget=120)
    assert any(c.path and c.path[0] == "main" for c in chunks)
    assert all(isinstance(c.path, list) and isinstance(c.headings, list) for c in chunks)


def test_path_uses_role_and_label() -> None:
    page = (
        '<div role="main"><section aria-label="Reviews">'
        + "<p>good review text here</p>" * 10
        + "</section></div>"
    )
    chunks = domprune.chunk(page, budget=40)
    assert len(chunks) > 1
    assert chunks[0].path[:2] == ["div[role=main]", "section[aria-label=Reviews]"]


def test_scores_with_a_question() -> None:
    chunks = domprune.chunk(PAGE, budget=120, question="How heavy is the Zephyr frame?")
    assert all(isinstance(c.score, float) for c in chunks)
    best = max(chunks, key=lambda c: c.score or 0.0)
    assert "Zephyr frame" in best.output
    assert all(c.score is None for c in domprune.chunk(PAGE, budget=120))


def test_chunks_keep_attributes_by_the_policy() -> None:
    chunks = domprune.chunk(PAGE, budget=100_000)
    assert 'alt="diagram of the frame"' in chunks[0].output
    assert 'class="menu"' not in chunks[0].output


def test_a_text_larger_than_a_chunk_is_split_at_sentences_then_words() -> None:
    text = "This is one sentence of a long text. " * 30 + "word " * 50
    page = f"<div><p>Hello world</p><p>{text}</p></div>"
    chunks = domprune.chunk(page, budget=40)
    assert all(c.tokens == count_tokens(c.output) <= 40 for c in chunks)
    assert all(c.output.startswith("<p>") and c.output.endswith("</p>") for c in chunks)
    inner = [re.sub(r"</?p>", "", c.output) for c in chunks[1:]]
    assert " ".join("".join(inner).split()) == " ".join(text.split())  # every word once, in order
    assert all(piece.rstrip().endswith((".", "word")) for piece in inner)  # cut after a sentence or a word


def test_single_piece_over_budget_names_a_budget_that_works() -> None:
    page = "<div><p>Hello world</p><p>" + "word " * 30 + "</p></div>"
    with pytest.raises(BudgetTooSmallError) as info:
        domprune.chunk(page, budget=3)
    smallest = info.value.smallest_budget
    assert smallest is not None and smallest > 3 and str(smallest) in str(info.value)
    chunks = domprune.chunk(page, budget=smallest)
    assert all(c.tokens <= smallest for c in chunks)


def test_nothing_visible_gives_no_chunks() -> None:
    assert domprune.chunk('<div hidden><p>x</p></div><p style="display:none">y</p>', budget=10) == []


def test_mind2web_chunks_keep_backend_ids_on_request() -> None:
    page = (
        '<html backend_node_id="1"><body backend_node_id="2">'
        + "".join(f'<div backend_node_id="{10 + i}"><text backend_node_id="{100 + i}">row {i}</text></div>' for i in range(40))
        + "</body></html>"
    )  # fmt: skip
    settings = PruneSettings(attributes={"keep_backend_ids": True})  # type: ignore[arg-type]
    chunks = domprune.chunk(page, budget=60, settings=settings)
    assert len(chunks) > 1
    joined = "".join(c.output for c in chunks)
    for i in range(40):
        assert joined.count(f'backend_node_id="{100 + i}"') == 1


def test_bad_budget() -> None:
    with pytest.raises(domprune.SettingsError):
        domprune.chunk(PAGE, budget=0)


def test_smallest_chunk_budget_is_the_largest_piece() -> None:
    page = "<div><p>short</p><p>" + "word " * 30 + "</p></div>"
    with pytest.raises(BudgetTooSmallError) as info:
        domprune.chunk(page, budget=3)
    smallest = info.value.smallest_budget
    assert smallest is not None
    assert all(c.tokens <= smallest for c in domprune.chunk(page, budget=smallest))
