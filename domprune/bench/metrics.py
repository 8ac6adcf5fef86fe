"""Answer matching and summary statistics.

An answer is *retained* when its normalised form occurs in the normalised content of an output.
Normalisation unescapes HTML entities (twice, for labels that were escaped twice), applies NFKC,
maps typographic quotes and dashes to ASCII, folds case and collapses whitespace.

The content of an HTML output is what a reader of the markup can use: the text outside ``<script>``,
``<style>`` and ``<template>`` (text nodes joined with a space, so ``<b>A</b><i>B</i>`` gives ``a b``;
the same text joined without a separator is searched too, for answers split by inline markup), the
text of JSON scripts (``type="application/ld+json"``: structured data, not code), and every
attribute value (``alt``, ``title``, ``content``, ``value``...). A text output is its own content.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import lxml.etree
import lxml.html

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


def normalize(text: str) -> str:
    """Normalise text for answer matching.

    >>> normalize("  Caf&eacute;&nbsp;&amp;\\n  \\u201cBar\\u201d ")
    'café & "bar"'
    """
    text = html.unescape(html.unescape(text))
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP).casefold()
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class Haystack:
    """Normalised searchable views of one output (text joined with and without spaces)."""

    spaced: str
    joined: str

    def contains(self, answer: str) -> bool:
        """True when the normalised ``answer`` (non-empty) occurs in one of the views."""
        needle = normalize(answer)
        return bool(needle) and (needle in self.spaced or needle in self.joined)


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
    for el in root.iter():
        if not isinstance(el.tag, str):  # comments and processing instructions
            if el.tail:
                texts.append(el.tail)
            continue
        attrs.extend(v for v in el.attrib.values() if v)
        if el.text and (el.tag.lower() not in _HIDDEN_TAGS or "json" in (el.get("type") or "").lower()):
            texts.append(el.text)
        if el.tail:
            texts.append(el.tail)
    return texts, attrs


def haystack(output: str, fmt: str = "html") -> Haystack:
    """Build the searchable content of an output; ``fmt`` is ``"html"`` or ``"text"``."""
    if fmt == "text":
        norm = normalize(output)
        return Haystack(spaced=norm, joined=norm)
    if fmt != "html":
        raise ValueError(f"unknown output format {fmt!r}: use 'html' or 'text'")
    texts, attrs = _html_parts(output)
    spaced = normalize(" ".join(texts) + " \n " + " \n ".join(attrs))
    joined = normalize("".join(texts))
    return Haystack(spaced=spaced, joined=joined)


def retained(answers: Sequence[str], hay: Haystack) -> bool:
    """True when any of ``answers`` occurs in ``hay``."""
    return any(hay.contains(a) for a in answers)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Percentile ``q`` (0-100) with linear interpolation; ``None`` for no values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """``n``, ``median``, ``p90``, ``max`` and ``mean`` of ``values`` (``None`` where empty)."""
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": float(max(values)) if values else None,
        "mean": float(sum(values) / len(values)) if values else None,
    }


def share(flags: Sequence[bool]) -> float | None:
    """Fraction of true flags; ``None`` for none."""
    return sum(1 for f in flags if f) / len(flags) if flags else None
