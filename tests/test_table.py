"""The flat table read from the parser's events equals the one walked from the lxml tree, and a
huge element-dense page is pruned with at most two tokenizer passes' worth of counting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domprune
import domprune.parse
from domprune.document import flatten
from domprune.parse import _PARSER_OPTIONS, parse_page
from domprune.steps.filtering import NOISE_TAGS
from domprune.table import MIN_CHARS, TableOptions, TreeNeeded, parse_to_document

TAGS = ["div", "p", "span", "a", "li", "ul", "td", "tr", "table", "b", "script", "style", "noscript", "input"]
ATTRS = [
    ("class", "x y"),
    ("href", "/a?b=1"),
    ("disabled", None),  # written bare
    ("checked", ""),
    ("selected", "selected"),
    ("type", "application/ld+json"),
    ("value", None),
    ("data-x", "1"),
]
PIECES = ["price", " ", "  ", "\n", "café", "&amp;", "{}", '{"name":"x","url":"y"}', "12", "<br>", "<hr/>"]

text_st = st.lists(st.sampled_from(PIECES), max_size=5).map("".join)
attrs_st = st.lists(st.sampled_from(ATTRS), max_size=3, unique_by=lambda a: a[0]).map(
    lambda attrs: "".join(f" {k}" if v is None else f' {k}="{v}"' for k, v in attrs)
)


def _element(tag: str, attrs: str, children: Sequence[str], tail: str) -> str:
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>{tail}"


node_st = st.recursive(
    text_st,
    lambda kids: st.builds(_element, st.sampled_from(TAGS), attrs_st, st.lists(kids, max_size=4), text_st),
    max_leaves=20,
)
page_st = st.tuples(
    st.sampled_from(["", "<html><head><title>T</title></head><body>"]), st.lists(node_st, max_size=4)
)
options_st = st.sampled_from(
    [
        TableOptions(),
        TableOptions(drop_tags=NOISE_TAGS, json_ld_chars=200),
        TableOptions(collapse_whitespace=False),
    ]
)


def _columns(doc: Any) -> tuple[Any, ...]:
    return doc.tags, [list(a) for a in doc.attrs], doc.text, doc.tail, list(doc.parent), list(doc.end)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=page_st, options=options_st)
def test_table_from_events_equals_the_walked_tree(page: tuple[str, list[str]], options: TableOptions) -> None:
    html = page[0] + "".join(page[1]) + "<p>x</p>"
    try:
        doc, dropped, _ = parse_to_document(html, _PARSER_OPTIONS, options)
    except TreeNeeded:
        return  # the pipeline reads the tree then
    tree = parse_page(html)
    want, want_dropped = flatten(
        tree.root,
        collapse_whitespace=options.collapse_whitespace,
        drop_tags=options.drop_tags,
        json_ld_chars=options.json_ld_chars,
    )
    assert _columns(doc) == _columns(want)
    assert dropped == want_dropped


def test_bare_and_empty_boolean_attributes_read_as_the_tree_has_them() -> None:
    for html in ('<input disabled><option selected value="1">a</option>', '<input disabled="">'):
        doc, _, _ = parse_to_document(html, _PARSER_OPTIONS, TableOptions())
        want, _ = flatten(parse_page(html).root)
        assert doc.attrs == want.attrs
    with pytest.raises(TreeNeeded):  # both forms on one page: the events cannot tell them apart
        parse_to_document('<input disabled><input checked="">', _PARSER_OPTIONS, TableOptions())
    assert domprune.prune('<p>a <input disabled> <input checked=""></p>', budget=50).output == (
        '<p>a <input disabled="disabled"> <input checked></p>'
    )


def test_large_pages_are_read_into_the_table_and_ambiguous_ones_through_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert domprune.parse.TABLE_MIN_CHARS == MIN_CHARS
    monkeypatch.setattr(domprune.parse, "TABLE_MIN_CHARS", 1000)
    pad = "<p>pad</p>" * 100
    options = TableOptions(drop_tags=NOISE_TAGS)
    small = parse_page("<p>x</p>", table=options)
    assert small.root is not None and small.document is None
    large = parse_page(pad, table=options)
    assert large.root is None and large.document is not None and len(large.document) == 102
    both = parse_page('<input disabled><input checked="">' + pad, table=options)
    assert both.root is not None and both.document is None  # the tree tells the two forms apart


class CountingTokenizer:
    """Qwen2.5, adding up the tokens it is asked to count."""

    def __init__(self) -> None:
        self.inner = domprune.get_tokenizer("qwen2.5")
        self.name = "counting"
        self.additive_at_tags = getattr(self.inner, "additive_at_tags", False)
        self.tokens = 0

    def encode(self, text: str) -> list[int]:
        ids = self.inner.encode(text)
        self.tokens += len(ids)
        return ids

    def count(self, text: str) -> int:
        n = self.inner.count(text)
        self.tokens += n
        return n

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        out = self.inner.count_batch(texts)
        self.tokens += sum(out)
        return out

    def render_chat(self, messages: Any, add_generation_prompt: bool = True) -> str:
        return self.inner.render_chat(messages, add_generation_prompt)


@pytest.mark.slow
def test_huge_element_dense_page_within_two_tokenizer_passes() -> None:
    """A 4.5 MB page of 85,000 links (read into the table, no tree): the tokenizer counts at most
    twice the page's tokens a call (benchmarks/huge_pages.py measures memory and time)."""
    page = (
        "<html><body><h1>Items</h1>"
        + "".join(f'<div><a href="/item/{i}">Item {i} name</a></div>' for i in range(85_000))
        + "</body></html>"
    )
    assert len(page) >= MIN_CHARS
    counter = CountingTokenizer()
    page_tokens = counter.inner.count(page)
    for budget, question in ((4000, None), (16000, "What is the price of item 777?")):
        counter.tokens = 0
        result = domprune.prune(page, budget=budget, question=question, tokenizer=counter)
        assert result.tokens_after <= budget
        assert counter.tokens <= 2 * page_tokens
