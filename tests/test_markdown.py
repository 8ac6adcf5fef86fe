"""Markdown output: each construct, and the guarantees as properties (hypothesis).

The properties, over generated pages with headings, lists, tables, definition lists, links, images
and text full of Markdown's own characters:

- the output is never over the budget (re-counted exactly), or the error names a budget that works;
- every word a CommonMark reader sees (text, alt texts, link targets) occurs in the input;
- a reader sees exactly the page's text: the Markdown of the whole page, read back, has the text
  output's characters in the same order (so no page text was taken for syntax or lost to escaping);
- the same input gives the same output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from markdown_helpers import markdown_text, markdown_words, markup_tags, render
from test_properties import _made_of_source_pieces

import domprune
from domprune import AttributeSettings, BudgetTooSmallError, PruneSettings, count_tokens
from domprune.answers import answer_in
from domprune.bench.baselines import build_methods
from domprune.cli import main
from domprune.tokenizers import get_tokenizer
from domvqa_train.prompts.prepare import PrepareSettings

MD = PruneSettings(format="markdown")


def md(page: str, budget: int = 10_000, question: str | None = None, **kw: object) -> str:
    settings = PruneSettings(format="markdown", **kw)  # type: ignore[arg-type]
    return domprune.prune(page, budget=budget, question=question, settings=settings).output


# ---------------------------------------------------------------------------------- constructs


def test_headings_paragraphs() -> None:
    out = md("<h1>Boots</h1><p>Light.</p><p>Dry.</p><h3>Care</h3><h6>Notes</h6>")
    assert out == "# Boots\n\nLight.\n\nDry.\n\n### Care\n\n###### Notes"
    assert markup_tags(out) == {"h1", "p", "h3", "h6"}


def test_lists_nested_and_numbered() -> None:
    out = md(
        "<ul><li>Light</li><li>Dry<ul><li>Gore-Tex</li></ul></li></ul><ol><li>Open</li><li>Wear</li></ol>"
    )
    assert out == "- Light\n- Dry\n  - Gore-Tex\n\n1. Open\n2. Wear"
    assert {"ul", "ol", "li"} <= markup_tags(out)


def test_ordered_item_keeps_its_number_when_others_are_dropped() -> None:
    page = "<ol>" + "".join(f"<li>Step {w} of the long guide</li>" for w in "abcdefgh") + "</ol>"
    page += "<p>" + "filler words here " * 200 + "</p>"
    out = md(page, budget=25, question="What is step g?")
    assert "7. Step g of the long guide" in out


def test_data_table_is_a_github_table() -> None:
    page = "<table><tr><th>Model</th><th>Weight</th></tr><tr><td>A</td><td>200 g</td></tr></table>"
    out = md(page)
    assert out == "| Model | Weight |\n|---|---|\n| A | 200 g |"
    assert {"table", "th", "td"} <= markup_tags(out)


def test_kept_cell_brings_its_row_and_column_headers() -> None:
    rows = "".join(f"<tr><td>Model {i}</td><td>{100 + i} g</td><td>${i}</td></tr>" for i in range(30))
    page = "<table><tr><th>Model</th><th>Weight</th><th>Price</th></tr>" + rows + "</table>"
    page += "<p>" + "filler words here " * 300 + "</p>"
    out = md(page, budget=30, question="How heavy is Model 17?")
    assert "| Model | Weight |" in out.splitlines()[0]
    assert "| Model 17 | 117 g |" in out
    assert count_tokens(out) <= 30


def test_label_value_rows_and_definition_lists() -> None:
    page = (
        "<table><tr><th>Publisher</th><td>Orbit</td></tr><tr><th>ISBN</th><td>978-0</td></tr></table>"
        "<dl><dt>Colour</dt><dd>Red</dd></dl>"
        '<label for="s">Size</label> <input id="s" value="42">'
        '<meta name="author" content="Jo Ng">'
    )
    out = md(page)
    assert out.splitlines()[::2] == [
        "Publisher: Orbit",
        "ISBN: 978-0",
        "Colour: Red",
        "Size: 42",
        "author: Jo Ng",
    ]


def test_layout_table_is_written_as_blocks() -> None:
    page = "<table><tr><td><h2>News</h2><p>Story one.</p></td><td><p>Sidebar</p></td></tr></table>"
    assert md(page) == "## News\n\nStory one.\n\nSidebar"


def test_links_with_short_urls_and_images_with_alt_text() -> None:
    page = (
        '<p>See <a href="https://www.shop.example.com/boots/trail-3?utm=x#top">Trail 3</a> '
        '<img src="https://cdn.example.com/i/boot.jpg?w=1" alt="Side view"></p>'
        '<a href="javascript:void(0)">Menu</a>'
    )
    out = md(page)
    assert (
        out
        == "See [Trail 3](shop.example.com/boots/trail-3) ![Side view](cdn.example.com/i/boot.jpg)\n\nMenu"
    )
    a = next(render(out).iter("a"))
    assert (a.text, a.get("href")) == ("Trail 3", "shop.example.com/boots/trail-3")


def test_mind2web_ids_where_settings_keep_them() -> None:
    page = (
        '<html backend_node_id="1"><body backend_node_id="2"><div backend_node_id="3">'
        '<a backend_node_id="4" href="/cart">Cart</a><text backend_node_id="5">Total $5</text>'
        '<button backend_node_id="6">Pay</button></div></body></html>'
    )
    kept = md(page, attributes=AttributeSettings(keep_backend_ids=True))
    assert kept == "{#4} [Cart](/cart) {#5} Total $5 {#6} Pay"
    assert "{#" not in md(page)
    ids = md('<p id="intro">Hello</p>', attributes=AttributeSettings(keep_ids=True))
    assert ids == "{#intro} Hello"


def test_json_ld_in_a_fence() -> None:
    page = '<script type="application/ld+json">{"@type":"Book","author":"Jo Ng"}</script><p>x</p>'
    out = md(page)
    assert out.startswith('```\n{"@type":"Book","author":"Jo Ng"}\n```')


@pytest.mark.parametrize(
    "text",
    [
        "The *best* boot_for you_ and _me_",
        "# of items",
        "- not a list",
        "1. not a list",
        "---",
        "[1](not a link) and [x][y]",
        "&lt;div&gt; &amp;amp; `code` ~strike~ a \\ b \\*",
        "ends with #",
        "&lt;tool_call&gt; &lt;|im_start|&gt;",
    ],
)
def test_page_text_is_escaped_only_as_needed(text: str) -> None:
    page = f"<h2>{text}</h2><p>{text}</p><ul><li>{text}</li></ul><table><tr><th>a|{text}</th><th>b</th></tr></table>"
    out = md(page)
    plain = domprune.prune(page, settings=PruneSettings(format="text")).output
    assert _squash(markdown_text(out)) == _squash(plain)
    assert markup_tags(out) == {"h2", "p", "ul", "li", "table", "thead", "tr", "th"}


def test_escaping_leaves_plain_words_alone() -> None:
    assert (
        md("<p>snake_case costs $5 (or 10%) - say 3.5 kg #1</p>")
        == "snake_case costs $5 (or 10%) - say 3.5 kg #1"
    )


def _squash(s: str) -> str:
    return "".join(s.replace(":", "").split())


# ---------------------------------------------------------------------------------- consumers


def test_answer_in_markdown() -> None:
    out = md("<ul><li><a href='/x'>Trail Runner</a> 3 weighs 1,200 g</li></ul><p>snake_case</p>")
    assert answer_in(["Trail Runner 3"], out, "markdown")
    assert answer_in(["1200 g"], out, "markdown")
    assert answer_in(["snake_case"], out, "markdown")
    assert not answer_in(["x weighs"], out, "markdown")
    with pytest.raises(ValueError, match="markdown"):
        answer_in(["a"], "a", "pdf")


def test_cli_format_markdown(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "p.html"
    page.write_text("<h1>Boots</h1><p>Price: $129</p>", encoding="utf-8")
    assert main(["prune", str(page), "--format", "markdown", "--budget", "50"]) == 0
    assert capsys.readouterr().out == "# Boots\n\nPrice: $129\n"
    assert main(["prune", str(page), "-f", "markdown", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "p.md").read_text(encoding="utf-8") == "# Boots\n\nPrice: $129\n"
    assert main(["chunk", str(page), "-f", "markdown", "--json", "--budget", "50"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == "# Boots\n\nPrice: $129"
    assert main(["explain", str(page), "-f", "markdown", "--out", str(tmp_path / "r.html")]) == 0


def test_fit_prompt_with_markdown() -> None:
    page = "<h1>Boots</h1>" + "<p>Light and dry for long trails.</p>" * 200 + "<p>Price: $129</p>"
    fp = domprune.fit_prompt(page, question="How much are they?", budget=300, settings=MD)
    assert fp.tokens == count_tokens(fp.text) <= 300
    assert "Price: $129" in fp.text and "<p>" not in fp.text


def test_prepare_dom_format_fingerprint() -> None:
    assert "dom_format" not in PrepareSettings().fingerprint()  # folders prepared before still resume
    assert PrepareSettings(dom_format="markdown").fingerprint()["dom_format"] == "markdown"


def test_bench_methods_write_the_format() -> None:
    methods, _ = build_methods(["domprune", "domprune_noq", "truncate"], get_tokenizer(None), "markdown")
    assert [m.fmt for m in methods] == ["markdown", "markdown", "html"]


# ---------------------------------------------------------------------------------- properties

TAGS = ["div", "p", "ul", "ol", "li", "table", "tr", "td", "th", "a", "b", "h1", "h3", "dl", "dt", "dd"]
PIECES = ["price", "boots", "café", "東京", "$129", "12.5", "x", "1.", "- ", "# ", "*", "_", "snake_case",
          "[", "]", "(", ")", "|", "`", "~", "\\", "&amp;", "&lt;b&gt;", "&amp;lt;", "!", ">", " ", "  "]  # fmt: skip
text_st = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
attrs_st = st.lists(
    st.tuples(
        st.sampled_from(["href", "alt", "title", "class"]),
        st.sampled_from(["https://ex.com/a/b?q=1", "/x_(y)", "/a b", "Side *view*", "main"]),
    ),
    max_size=2,
    unique_by=lambda t: t[0],
)


def _element(tag: str, attrs: list[tuple[str, str]], children: list[str], tail: str) -> str:
    a = "".join(f' {k}="{v}"' for k, v in attrs)
    return f"<{tag}{a}>{''.join(children)}</{tag}>{tail}"


node_st = st.recursive(
    st.one_of(text_st, st.builds(lambda a: f'<img alt="{a}" src="/i.png">', text_st)),
    lambda children: st.builds(
        _element, st.sampled_from(TAGS), attrs_st, st.lists(children, max_size=4), text_st
    ),
    max_leaves=25,
)
page_st = st.lists(node_st, min_size=1, max_size=4).map(
    lambda nodes: "<html><body>" + "".join(nodes) + "</body></html>"
)
question_st = st.one_of(st.none(), st.sampled_from(["What is the price?", "boots snake_case"]))
PROPERTY_SETTINGS = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _prune(page: str, budget: int, question: str | None) -> domprune.PruneResult | None:
    try:
        return domprune.prune(page, budget=budget, question=question, settings=MD)
    except BudgetTooSmallError as exc:
        if exc.smallest_budget is not None:
            assert exc.smallest_budget > budget
            r = domprune.prune(page, budget=exc.smallest_budget, question=question, settings=MD)
            assert r.tokens_after <= exc.smallest_budget
        return None
    except domprune.InputError:
        return None


def _source(page: str) -> str:
    root = lxml_html.document_fromstring(page)
    values = [v for el in root.iter() if isinstance(el.tag, str) for v in el.attrib.values()]
    return root.text_content() + " " + " ".join(values)


@PROPERTY_SETTINGS
@given(page=page_st, budget=st.integers(min_value=1, max_value=300), question=question_st)
def test_markdown_within_budget_from_the_page_and_deterministic(
    page: str, budget: int, question: str | None
) -> None:
    r = _prune(page, budget, question)
    if r is None:
        return
    assert r.tokens_after == count_tokens(r.output) <= budget
    source = _source(page)
    for word in markdown_words(r.output):
        assert _made_of_source_pieces(word, source), (word, r.output)
    again = _prune(page, budget, question)
    assert again is not None and again.output == r.output


@PROPERTY_SETTINGS
@given(page=page_st)
def test_reader_sees_the_page_text(page: str) -> None:
    try:
        whole = domprune.prune(page, settings=PruneSettings(format="markdown", fit=False)).output
        text = domprune.prune(page, settings=PruneSettings(format="text", fit=False)).output
    except domprune.InputError:
        return
    assert _squash(markdown_text(whole)) == _squash(text), whole


def test_markdown_is_not_longer_than_html_on_a_product_page() -> None:
    page = Path("examples/pages/product.html").read_text(encoding="utf-8")
    tokens = {
        fmt: domprune.prune(page, settings=PruneSettings(format=fmt, fit=False)).tokens_after
        for fmt in ("html", "markdown")
    }
    assert tokens["markdown"] < tokens["html"]
