"""domprune.answers: the one definition of "the answer survived pruning" (bench and training)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domprune.answers import answer_in, answer_tokens, haystack, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello   World ", "hello world"),
        ("Caf&eacute; &amp; Bar", "café & bar"),
        ("&amp;amp; twice", "& twice"),  # labels escaped twice
        ("\u201cQuoted\u201d \u2014 it\u2019s", '"quoted" - it\'s'),
        ("line\n\tbreak\u00a0nbsp", "line break nbsp"),
        ("ＦＵＬＬ width", "full width"),  # NFKC
        ("STRASSE", "strasse"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_haystack_reads_text_and_attributes_but_not_scripts() -> None:
    out = (
        '<html><head><title>The Title</title><meta name="author" content="Ann Lee">'
        '<script>var secret = "Hidden Answer";</script><style>.x{}</style></head>'
        '<body><h1>Big <b>News</b></h1><img alt="A red bike"><p>Price:&nbsp;$12.99</p></body></html>'
    )
    hay = haystack(out)
    assert hay.contains("the title")
    assert hay.contains("Ann Lee")  # attribute value
    assert hay.contains("a red BIKE")
    assert hay.contains("Big News")  # across inline markup
    assert hay.contains("price: $12.99")  # &nbsp; normalised
    assert not hay.contains("Hidden Answer")  # script text is not content
    ld = haystack('<script type="application/ld+json">{"author": {"name": "Jo Ng"}}</script><p>x</p>')
    assert ld.contains("jo ng")  # JSON-LD is data a reader (or model) can use
    assert not hay.contains("")  # an empty answer never matches


def test_haystack_joins_text_split_inside_a_word() -> None:
    hay = haystack("<p>97803<span>16125581</span></p>")
    assert hay.contains("9780316125581")


def test_haystack_of_text_output_and_of_broken_markup() -> None:
    assert haystack("Plain &amp; simple", fmt="text").contains("plain & simple")
    assert haystack("<div><p>cut off in the midd", fmt="html").contains("cut off in the midd")
    assert not haystack("", fmt="html").contains("anything")
    assert haystack('<?xml version="1.0" encoding="utf-8"?><html><body>Declared</body></html>').contains(
        "declared"
    )
    with pytest.raises(ValueError, match="unknown output format"):
        haystack("x", fmt="pdf")


def test_any_answer() -> None:
    assert answer_in(("John Roe", "jane doe"), "<p>Written by Jane Doe</p>")
    assert not answer_in(("John Roe",), "<p>Written by Jane Doe</p>")
    assert not answer_in((), "<p>Written by Jane Doe</p>")


def test_text_in_document_order() -> None:
    # a tail comes after its element's content: "By" is not read before the headline
    assert answer_in(["By Nathan Willis"], "<h2><a>A trademark battle</a></h2> By <b>Nathan Willis</b>")
    assert answer_in(["battle by nathan"], "<h2><a>A trademark battle</a></h2> By <b>Nathan Willis</b>")


def test_numbers_money_and_whole_words() -> None:
    dom = "<table><tr><td>Total</td><td>$1,299.00</td></tr><tr><td>Ship &amp; Co</td></tr></table>"
    assert answer_in(["1299"], dom)
    assert answer_in(["$1,299"], dom)
    assert answer_in(["Ship & Co"], dom)
    assert not answer_in(["129"], dom)  # a number is whole, not a prefix of another
    assert not answer_in(["missing", "absent"], dom)
    assert answer_in(["12.5%"], "<p>rate: 12.50 %</p>")
    assert not answer_in(["Oka"], "<p>Maria Okafor</p>")  # words are whole too


def test_mind2web_dialect_and_attribute_values() -> None:
    dom = '<div><input aria_label="Departure date" input_value="Fri, Jun 12"><text>Lisbon</text></div>'
    assert answer_in(["Fri, Jun 12"], dom)
    assert answer_in(["lisbon"], dom)
    assert not answer_in(["input_value"], dom)  # attribute names are markup, not content


def test_scripts_without_spaces_match_inside_words() -> None:
    assert answer_in(["東京"], "<p>東京都の天気</p>")
    assert not answer_in(["大阪"], "<p>東京都の天気</p>")


def test_text_format() -> None:
    assert answer_in(["Plain & simple"], "Plain &amp; simple", fmt="text")
    with pytest.raises(ValueError, match="unknown output format"):
        answer_in(["x"], "x", fmt="pdf")


@settings(derandomize=True, max_examples=200)
@given(st.text(max_size=30))
def test_canonical_words_are_stable(text: str) -> None:
    once = answer_tokens(normalize_text(text))
    assert answer_tokens(once) == once


@settings(derandomize=True, max_examples=200)
@given(st.text(alphabet=st.sampled_from("ab12,.$ é-"), min_size=1, max_size=20))
def test_an_answer_is_in_a_page_that_states_it(answer: str) -> None:
    if answer_tokens(normalize_text(answer)):
        assert answer_in([answer], f"<p>before</p><p>{answer.replace('&', '&amp;')}</p><p>after</p>")
