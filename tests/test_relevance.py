"""Relevance when the page's words are not the question's: fields, morphology, value kinds, facets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sample_pages import PAGES, QUESTIONS

import domprune
from domprune.answers import answer_in
from domprune.bench.baselines import head_tokens
from domprune.steps import ranking
from domprune.steps.fields import fields_of, labels_asked, restricted_labels, same_root
from domprune.steps.relevance import Query

CASES = [(name, q, a) for name, qs in QUESTIONS.items() for q, a in qs]


@pytest.mark.parametrize(("name", "question", "answer"), CASES, ids=[f"{n}:{q}" for n, q, _ in CASES])
@pytest.mark.parametrize("budget", [1000, 500])
def test_answer_kept_at_small_budgets(name: str, question: str, answer: str, budget: int) -> None:
    page = PAGES[name]()
    r = domprune.prune(page, budget=budget, question=question)
    assert r.tokens_after <= budget
    assert answer_in([answer], r.output), f"{answer!r} lost at {budget}"


@pytest.mark.parametrize("budget", [1000, 500, 300])
def test_never_worse_than_head_truncation_on_the_sample_pages(budget: int, qwen) -> None:  # type: ignore[no-untyped-def]
    lost = []
    for name, question, answer in CASES:
        page = PAGES[name]()
        head = head_tokens(page, budget, qwen)
        if answer_in([answer], head) and not answer_in(
            [answer], domprune.prune(page, budget=budget, question=question).output
        ):
            lost.append((name, question))
    assert not lost


def test_questions_find_the_fields_they_ask_for() -> None:
    assert [f.name for f in fields_of("Who makes the blender?")] == ["maker"]
    assert "date" in [f.name for f in fields_of("When did it come out?")]
    assert [f.name for f in fields_of("How heavy is it?")] == ["weight"]
    assert "author" in [f.name for f in fields_of("Wer hat den Artikel geschrieben?")]
    assert fields_of("Tell me something nice") == ()


def test_restricted_labels_holds_in_its_own_thread_only() -> None:
    # the bench's leave-one-out vocabulary: a block in one thread leaves another thread's fields alone
    import threading

    inside, outside = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def restricted() -> None:
        with restricted_labels({"publisher"}):
            seen["restricted, inside"] = "imprint" in labels_asked("Who published the book?")
            inside.set()
            outside.wait(10)
        seen["restricted, after"] = "imprint" in labels_asked("Who published the book?")

    worker = threading.Thread(target=restricted)
    worker.start()
    inside.wait(10)
    seen["other thread, meanwhile"] = "imprint" in labels_asked("Who published the book?")
    outside.set()
    worker.join(10)
    assert seen == {"restricted, inside": False, "other thread, meanwhile": True, "restricted, after": True}


def test_restricted_labels_blocks_with_the_same_words_share_the_question_cache() -> None:
    # the leave-one-out bench opens a block per page: a question's fields are found once per vocabulary
    from domprune.steps.fields import _fields_in

    question = "Which imprint published the atlas?"
    with restricted_labels({"publisher", "imprint"}):
        first = fields_of(question)
    hits = _fields_in.cache_info().hits
    with restricted_labels(["imprint", "publisher"]):
        assert fields_of(question) == first
    assert _fields_in.cache_info().hits == hits + 1


def test_morphology_beyond_stemming() -> None:
    assert same_root("publish", "publication") and same_root("produce", "production")
    assert same_root("manufacturer", "manufactured")
    assert not same_root("artikel", "artikelnummer")  # a compound is another word
    assert not same_root("general", "generous")


def test_question_words_give_the_kind_of_value() -> None:
    assert Query.from_question("When did it come out?").answer_kinds == ("date",)
    assert Query.from_question("How much does it cost?").answer_kinds[0] == "money"
    assert Query.from_question("How much does the boot weigh?").answer_kinds[0] == "quantity"
    assert "name" in Query.from_question("Who makes it?").answer_kinds
    assert "place" in Query.from_question("Where is the concert?").answer_kinds
    # a date question does not look for the publisher's name
    assert "verlag" not in Query.from_question("When was the book published?").terms
    assert "verlag" in Query.from_question("Who published the book?").terms


def test_a_label_and_its_value_rank_together() -> None:
    page = PAGES["headphones_shop"]()
    prepared = domprune.prepare(page, question="Who makes these headphones?")
    units, rk, doc = prepared.units.units, prepared.ranking, prepared.document
    text = {units.text_of(doc, u).strip(): u for u in range(len(units))}
    value, label = text["Sonaro Audio"], text["Manufacturer"]
    assert rk.rel[value] >= rk.rel[label] > 0


def test_facets_that_name_a_field_do_not_outrank_its_value() -> None:
    page = PAGES["headphones_shop"]()
    prepared = domprune.prepare(page, question="Who makes these headphones?")
    units, rk, doc = prepared.units.units, prepared.ranking, prepared.document
    by_text = {units.text_of(doc, u).strip(): u for u in range(len(units))}
    value = by_text["Sonaro Audio"]
    for facet in ("Brand", "Brand A-Z"):
        assert rk.prio[by_text[facet]] < rk.prio[value]


def _ranked(page: str, question: str | None):  # type: ignore[no-untyped-def]
    prepared = domprune.prepare(page, question=question)
    units, doc = prepared.units.units, prepared.document
    by_text = {units.text_of(doc, u).strip(): u for u in range(len(units))}
    return prepared.ranking, by_text


def test_a_body_class_that_names_navigation_does_not_make_the_page_boilerplate() -> None:
    # <body class="has_nav">: a navigation word in the class of the element that wraps the page
    rk, by_text = _ranked(PAGES["book_shop_bold_labels"](), "Who published the book?")
    assert not rk.boilerplate[by_text["Tender Fields"]]
    assert not rk.boilerplate[by_text["Larchmont Press"]]
    assert rk.boilerplate[by_text["Category 3"]]  # the real navigation still is


def test_each_pair_of_a_run_of_bold_labels_is_its_own_fact() -> None:
    # <b>Number of Pages:</b> 304<br><b>Vendor:</b> ...: the value after the label the question names
    # ranks above the other values of the same cell, which are numbers too
    rk, by_text = _ranked(PAGES["book_shop_bold_labels"](), "How many pages does the book have?")
    pages = rk.rel[by_text["304"]]
    assert pages > rk.rel[by_text["9780764201950"]]
    assert pages > rk.rel[by_text["8.38 X 5.50 (inches)"]]
    rk, by_text = _ranked(PAGES["book_shop_bold_labels"](), "When was the book published?")
    assert rk.rel[by_text["2007"]] > rk.rel[by_text["Paperback"]]


def test_a_layout_column_beside_the_answer_is_not_its_row_header() -> None:
    # the browse menu sits in the first cell of the layout table's row: it is not lifted as the
    # row header of the facts in the second cell
    rk, by_text = _ranked(PAGES["book_shop_bold_labels"](), "When was the book published?")
    for link in ("Shelf 3", "Publication Date", "Top Rated"):
        assert rk.prio[by_text[link]] < rk.prio[by_text["2007"]]
        assert rk.prio[by_text[link]] <= rk.base[by_text[link]] + 3.0 * 0.3


def test_a_class_that_names_the_field_labels_its_text() -> None:
    # <div class="product-publisher">Larchmont Press / 2007 / Paperback</div>
    rk, by_text = _ranked(PAGES["book_shop_bold_labels"](), "Who published the book?")
    line = rk.rel[by_text["Larchmont Press / 2007 / Paperback"]]
    assert line > rk.rel[by_text["Publisher"]]  # the facet link that only names the field
    assert line >= 0.5 * max(rk.rel)


def test_each_line_of_a_run_of_label_value_lines_is_its_own_fact() -> None:
    # <td>Publisher: Orbit<br>Pages: 304<br>Year: 2019</td>: each line scores as its own block
    filler = "".join(f"<p>{i} reviews of other books, 12 pages each.</p>" for i in range(30))
    page = (
        "<html><body><main><h1>A book</h1>"
        f"<table><tr><td>Publisher: Orbit<br>Pages: 304<br>Year: 2019<br>Code: 55012</td></tr></table>{filler}"
        "</main></body></html>"
    )
    rk, by_text = _ranked(page, "How many pages does the book have?")
    assert rk.rel[by_text["Pages: 304"]] > rk.rel[by_text["Year: 2019"]]
    assert rk.rel[by_text["Pages: 304"]] > rk.rel[by_text["Code: 55012"]]


def test_a_main_class_on_a_list_of_links_is_not_main_content() -> None:
    # id="category-main" on the shop's category menu: its words are all link text, so its class
    # does not make it main content; a byline with a linked name (little link text) still is
    menu = "".join(
        f'<li><a href="/c/{i}">Shelf {w}</a></li>'
        for i, w in enumerate(["One", "Two", "Three", "Four", "Five"])
    )
    # a menu whose entries each say main: an entry has little link text, its list a lot
    drop = "".join(
        f'<li class="main"><a href="/d/{w}">{w}</a></li>'
        for w in ["Audiobooks", "Bargains", "Bibles", "Homeschool"]
    )
    page = (
        f'<html><body><div id="category-main"><ul>{menu}</ul></div><ul class="drop">{drop}</ul>'
        '<div class="entry-meta">By: <a href="/a/1">Ada Lind</a></div>'
        '<div class="product-publisher">Larchmont Press / 2007</div></body></html>'
    )
    rk, by_text = _ranked(page, None)
    base = rk.base
    # main content ranks 0.6-1.0 by structure, the rest 0.3-0.6 (earlier first)
    assert base[by_text["Shelf One"]] < 0.6
    assert base[by_text["Bargains"]] < 0.6
    assert base[by_text["Larchmont Press / 2007"]] >= 0.6
    assert base[by_text["Ada Lind"]] >= 0.6
    # a head element's class says nothing of the page (Yoast's JSON-LD: "yoast-schema-graph--main")
    ld = '{"@type":"Article","headline":"A book"}'
    rk, by_text = _ranked(
        f'<html><head><script type="application/ld+json" class="yoast-schema-graph--main">{ld}</script>'
        "</head><body><p>Some text of the page.</p></body></html>",
        None,
    )
    assert rk.base[by_text[ld]] < 0.6


def test_lists_of_links_inside_main_content_are_not_main_content() -> None:
    # <div id="page-body"> makes the whole page main content; inside it, a facet tree, a search
    # form's choices and a list of teasers are lists of links (mostly link text), not the product
    facets = "".join(f'<li><a href="/f/{i}">Facet number {i}</a> (12)</li>' for i in range(10))
    choices = "".join(f"<option>Department {i}</option>" for i in range(6))
    teasers = "".join(f'<li><a href="/b/{i}">Another book {i} by Someone</a> $9.99</li>' for i in range(4))
    story = "A long description of the book that is not a link. " * 12
    page = (
        '<html><body><div id="page-body">'
        f'<form><select name="where">{choices}</select></form>'
        f"<table><tr><td><span>BROWSE</span><ul>{facets}</ul></td>"
        f"<td><h2>The Book</h2><div>Availability: ships in 2 days</div><p>{story}</p>"
        f"<ul>{teasers}</ul></td></tr></table>"
        '<div><h1>Article title</h1>By <a href="/a">Ada Lind</a> in <a href="/t/1">Books</a>'
        ' <a href="/t/2">Reviews</a> <a href="/t/3">Fiction today</a></div>'
        "</div></body></html>"
    )
    rk, by_text = _ranked(page, None)
    base = rk.base
    # main content ranks 0.6-1.0 by structure, the rest 0.3-0.6
    for text in ("Facet number 0", "Department 0", "Another book 0 by Someone", "BROWSE"):
        assert base[by_text[text]] < 0.6, text
    for text in ("The Book", "Availability: ships in 2 days", "Article title", "Fiction today"):
        assert base[by_text[text]] >= 0.6, text
    # the facets ranked before the product by position alone; now the product comes first
    assert base[by_text["Availability: ships in 2 days"]] > base[by_text["Facet number 0"]]
    # a region whose text is mostly links (an article of linked product names) stays main content
    linked = "".join(f'<p><a href="/p/{i}">A product name that is a link {i}</a> ok</p>' for i in range(8))
    rk, by_text = _ranked(f"<html><body><article>{linked}</article></body></html>", None)
    assert by_text and all(rk.base[u] >= 0.6 for u in by_text.values())


_LINKY = st.recursive(
    st.sampled_from(["Shelf", "Jane Doe", "a longer line of plain words", ""]),
    lambda inner: st.tuples(
        st.sampled_from(["a", "div", "span", "li", "button", "option"]),
        st.sampled_from(["", ' class="main"', ' class="content" hidden', ' id="x-main"']),
        st.lists(inner, max_size=4),
        st.sampled_from(["", " after", ", "]),
    ),
    max_leaves=25,
)


def _html(node) -> str:  # type: ignore[no-untyped-def]
    if isinstance(node, str):
        return node
    tag, attrs, children, tail = node
    return f"<{tag}{attrs}>{''.join(map(_html, children))}</{tag}>{tail}"


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINKY, min_size=1, max_size=4))
def test_link_text_sizes_equal_a_walk_of_each_subtree(nodes) -> None:  # type: ignore[no-untyped-def]
    # the sums along the document order give each element's live text and link text, as a walk
    # of its subtree does (texts of live elements, tails under a live parent, links live ones)
    page = f"<html><body>{''.join(map(_html, nodes))}</body></html>"
    prepared = domprune.prepare(page)
    doc, alive = prepared.document, prepared.units.alive
    elements = list(range(len(doc.tags)))

    def in_link(k: int) -> bool:
        while k >= 0:
            if doc.tags[k] in ranking._LINK_TEXT and alive[k]:
                return True
            k = doc.parent[k]
        return False

    expected = []
    for i in elements:
        chars = link = 0
        for k in range(i, doc.end[i]):
            if alive[k]:
                chars += len(doc.text[k])
                link += len(doc.text[k]) * in_link(k)
            if k > i and alive[doc.parent[k]]:
                chars += len(doc.tail[k])
                link += len(doc.tail[k]) * in_link(doc.parent[k])
        expected.append((chars, link))
    assert ranking._LinkText(doc, alive).sizes(elements) == expected
