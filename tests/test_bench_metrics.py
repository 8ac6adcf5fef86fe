"""Answer matching, statistics and the truncation helpers of the bench."""

from __future__ import annotations

import pytest

from domprune.bench.baselines import head_tokens, strip_scripts_styles
from domprune.bench.metrics import haystack, normalize, percentile, retained, share, summarize
from domprune.tokenizers import get_tokenizer


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
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


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


def test_retained_any_answer() -> None:
    hay = haystack("<p>Written by Jane Doe</p>")
    assert retained(("John Roe", "jane doe"), hay)
    assert not retained(("John Roe",), hay)


def test_statistics() -> None:
    assert percentile([3, 1, 2, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90) == pytest.approx(91.0)
    assert percentile([], 50) is None
    assert summarize([1, 2, 3, 10]) == {
        "n": 4,
        "median": 2.5,
        "p90": pytest.approx(7.9),
        "max": 10.0,
        "mean": 4.0,
    }
    assert summarize([]) == {"n": 0, "median": None, "p90": None, "max": None, "mean": None}
    assert share([True, False, True, True]) == 0.75
    assert share([]) is None


def test_head_tokens_fits_exactly() -> None:
    counter = get_tokenizer("qwen2.5")
    text = "<p>" + " ".join(f"word{i} é ü 日本" for i in range(400)) + "</p>"
    for budget in (1, 7, 50, 333):
        cut = head_tokens(text, budget, counter)
        assert counter.count(cut) <= budget
        assert text.startswith(cut.rstrip("\ufffd"))
        assert counter.count(cut) >= budget - 3  # a cut only loses a partial character
    assert head_tokens("short", 100, counter) == "short"


class _NoDecode:
    """A counter without ``decode``: one token per character."""

    def count(self, text: str) -> int:
        return len(text)


def test_head_tokens_without_decode_searches_characters() -> None:
    assert head_tokens("abcdefghij", 4, _NoDecode()) == "abcd"  # type: ignore[arg-type]


def test_strip_scripts_styles() -> None:
    out = strip_scripts_styles(
        "<html><head><style>p{}</style></head><body><p>Keep</p><script>drop()</script>tail"
        "<!-- note --></body></html>"
    )
    assert "drop()" not in out and "p{}" not in out and "note" not in out
    assert "<p>Keep</p>" in out and "tail" in out
