"""Chunking: every chunk within budget and well-formed, every kept text in exactly one chunk."""

from __future__ import annotations

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
@pytest.mark.parametrize("budget", [24, 64, 200, 1000, 100_000])
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


def test_paths_and_headings() -> None:
    chunks = domprune.chunk(PAGE, budget=120)
    zephyr = [c for c in chunks if "Zephyr frame" in c.output]
    assert len(zephyr) == 1
    assert zephyr[0].headings == ["Handbook", "Specifications"]
    assert "main" in zephyr[0].path
    in_sections = [c for c in chunks if "Section 3 paragraph 5" in c.output]
    assert len(in_sections) == 1
    assert in_sections[0].headings[0] == "Handbook"
    assert in_sections[0].headings[-1] in ("Section 3", "Handbook")
    assert any(c.path and c.path[0] == "main" for c in chunks)
    assert all(isinstance(c.path, list) and isinstance(c.headings, list) for c in chunks)


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


def test_single_piece_over_budget_names_a_budget_that_works() -> None:
    page = "<div><p>Hello world</p><p>" + "word " * 30 + "</p></div>"
    with pytest.raises(BudgetTooSmallError) as info:
        domprune.chunk(page, budget=8)
    smallest = info.value.smallest_budget
    assert smallest is not None and smallest > 8 and str(smallest) in str(info.value)
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
