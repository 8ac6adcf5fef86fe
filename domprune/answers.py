"""One definition of "the answer is still there": used by the bench and by domvqa_train's prepare.

An answer is *in* a text when its words, in order and whole, occur among the words of the text's
content, both written canonically:

- **content**: for HTML, what a reader of the markup can use: the text outside ``<script>``,
  ``<style>`` and ``<template>`` (text nodes joined with a space, and also joined without one, for
  answers split by inline markup such as ``97803<span>16125581</span>``), the text of JSON scripts
  (JSON-LD is data, not code) and every attribute value (``alt``, ``title``, ``content``...). A
  text output is its own content;
- **canonical words**: HTML entities unescaped (twice, for labels escaped twice), NFKC, typographic
  quotes and dashes as ASCII, case folded; numbers without currency signs, thousands separators or
  an all-zero fraction (``$1,000.00`` is ``1000``, and ``100`` is not in ``1000``); punctuation
  (but ``%``) and the articles a/an/the dropped.

Scripts written without spaces between words (Chinese, Japanese, Thai...) have no whole words to
compare: an answer in them is looked for as a substring of the canonical text.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import lxml.etree
import lxml.html

__all__ = ["Haystack", "answer_in", "answer_tokens", "haystack", "normalize_text"]

_PUNCT_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,  # zero-width space
        "\ufeff": None,
    }
)
_WS = re.compile(r"\s+")
_HIDDEN_TAGS = frozenset({"script", "style", "template"})
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_NUMBER = re.compile(
    r"(?<![\w.])[$€£¥]?\s?(?P<sign>[-+−])?[$€£¥]?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?![\w])"
)
_TOKEN = re.compile(r"-?\d+(?:\.\d+)?|\w+|%")
_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")
_ARTICLES = frozenset({"a", "an", "the"})
# scripts without spaces between words: Thai, Lao, Khmer, Myanmar, CJK, kana, Hangul syllables
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


def normalize_text(text: str) -> str:
    """Entities unescaped (twice), NFKC, ASCII quotes and dashes, case folded, white space collapsed.

    >>> normalize_text("  Caf&eacute;&nbsp;&amp;\\n  \\u201cBar\\u201d ")
    'café & "bar"'
    """
    text = html.unescape(html.unescape(text))
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP).casefold()
    return _WS.sub(" ", text).strip()


def _plain_number(match: re.Match[str]) -> str:
    """Drop the currency sign and the thousands separators: ``-$1,000.5`` -> `` -1000.5 ``."""
    sign = "-" if match["sign"] in ("-", "−") else ""
    return f" {sign}{match['int'].replace(',', '')}{match['frac'] or ''} "


@functools.lru_cache(maxsize=65536)
def _canonical_number(token: str) -> str:
    """``1000.00`` -> ``1000``; ``12.5`` and ``12.50`` -> ``12.50``; ``007`` -> ``7``; ``-0`` -> ``0``."""
    value = Decimal(token)
    if value == value.to_integral_value():
        return f"{value.to_integral_value():f}" if value else "0"
    decimals = max(2, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value:.{decimals}f}"


def answer_tokens(text: str) -> str:
    """Canonical words of lower-cased ``text``: numbers canonical, no punctuation but ``%``, no articles.

    >>> answer_tokens("the price: $1,000.00 (was 12.5%)")
    'price 1000 was 12.50 %'
    """
    text = _NUMBER.sub(_plain_number, text)
    tokens = (t for t in _TOKEN.findall(text) if t not in _ARTICLES)
    return " ".join(_canonical_number(t) if _NUMERIC.fullmatch(t) else t for t in tokens)


@dataclass(frozen=True)
class Haystack:
    """The canonical content of one output, built once and searched for many answers."""

    words: str  # " w1 w2 ... " of the content, text pieces joined with a space
    joined_words: str  # the same with text pieces joined without one
    plain: str  # normalize_text of the content (for scripts without spaces)
    joined_plain: str

    def contains(self, answer: str) -> bool:
        """True when ``answer`` (not empty once canonical) is in this content.

        >>> haystack("<td>Total: $1,299.00</td><td>Ship &amp; Co</td>").contains("1299")
        True
        >>> haystack("<p>1000 pieces</p>").contains("100")
        False
        """
        plain = normalize_text(answer)
        if _UNSPACED.search(plain):
            return plain in self.plain or plain.replace(" ", "") in self.joined_plain
        needle = answer_tokens(plain)
        if not needle:
            return False
        needle = f" {needle} "
        return needle in self.words or needle in self.joined_words


def _html_parts(markup: str) -> tuple[list[str], list[str]]:
    """Visible text pieces and attribute values of an HTML string (empty lists if it has no markup)."""
    if not markup.strip():
        return [], []
    try:
        root = lxml.html.document_fromstring(_XML_DECL.sub("", markup))
    except (lxml.etree.ParserError, ValueError):
        return [markup], []
    texts: list[str] = []
    attrs: list[str] = []
    for event, el in lxml.etree.iterwalk(root, events=("start", "end")):
        if event == "end":  # a tail comes after the element's content
            if el.tail:
                texts.append(el.tail)
            continue
        if not isinstance(el.tag, str):  # comments and processing instructions
            continue
        attrs.extend(v for v in el.attrib.values() if v)
        if el.text and (el.tag.lower() not in _HIDDEN_TAGS or "json" in (el.get("type") or "").lower()):
            texts.append(el.text)
    return texts, attrs


_MD_DESTINATION = re.compile(r"\]\((<(?:\\.|[^>\\])*>|(?:\\.|[^)\\\s])*)\)")
_MD_ID = re.compile(r"\{#([^}\s]+)\}")
_MD_LINE_SYNTAX = re.compile(r"^ *(?:#{1,6} |[-+] |\d{1,9}[.)] |\|(?:-+\|)+$)", re.MULTILINE)
_MD_SYNTAX = re.compile(r"\\([!-/:-@\[-`{-~])|!?\[|\]|\|")  # an escaped character, or syntax


def _markdown_parts(markdown: str) -> tuple[str, list[str]]:
    r"""The text of domprune's Markdown output without its syntax, and its URLs and ids apart (as an
    HTML output's attribute values are), so that they do not come between the words of the text.

    >>> _markdown_parts("## Boots\n\n- [Trail \\*3\\*](shop.com/t3) {#12}weighs 200 g\n\n| a \\| b |")
    ('Boots\n\nTrail *3* weighs 200 g\n\na | b', ['shop.com/t3', '12'])
    """
    apart: list[str] = []

    def aside(m: re.Match[str]) -> str:
        apart.append(m.group(1))
        return "]" if m.group(0).startswith("]") else ""

    text = _MD_DESTINATION.sub(aside, markdown)
    text = _MD_ID.sub(aside, text)
    text = _MD_LINE_SYNTAX.sub("", text)
    text = _MD_SYNTAX.sub(lambda m: m.group(1) or " ", text)
    return _WS.sub(lambda m: "\n\n" if "\n\n" in m.group() else " ", text).strip(), apart


def haystack(text: str, fmt: str = "html") -> Haystack:
    """The searchable content of ``text``: an HTML page or output (``fmt="html"``), plain text
    (``"text"``) or domprune's Markdown output (``"markdown"``: its text, then its URLs and ids)."""
    if fmt == "text":
        spaced = joined = normalize_text(text)
    elif fmt == "markdown":
        body, apart = _markdown_parts(text)
        spaced = normalize_text(body + " \n " + " \n ".join(apart))
        joined = spaced
    elif fmt == "html":
        texts, attrs = _html_parts(text)
        spaced = normalize_text(" ".join(texts) + " \n " + " \n ".join(attrs))
        joined = normalize_text("".join(texts))
    else:
        raise ValueError(f"unknown output format {fmt!r}: use 'html', 'text' or 'markdown'")
    return Haystack(
        words=f" {answer_tokens(spaced)} ",
        joined_words=f" {answer_tokens(joined)} ",
        plain=spaced,
        joined_plain=joined.replace(" ", ""),
    )


def answer_in(answers: Sequence[str], text: str, fmt: str = "html") -> bool:
    """Whether any of ``answers`` is in ``text`` (see the module's definition).

    >>> answer_in(["$1,000"], "<td>Total: 1000.00 &amp; more</td>")
    True
    >>> answer_in(["Jo Ng"], '<script type="application/ld+json">{"author": "Jo Ng"}</script>')
    True
    >>> answer_in(["secret"], "<script>var secret = 1;</script><p>x</p>")
    False
    """
    if not answers:
        return False
    hay = haystack(text, fmt)
    return any(hay.contains(a) for a in answers)
