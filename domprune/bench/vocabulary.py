"""The label words domprune's fields may use in a bench run (``--vocabulary``).

The field vocabulary (:data:`domprune.steps.fields.FIELDS`) was written from the labels of the
project's corpora and from published vocabularies (:mod:`domprune.steps.synonyms`). Measured on one
of those corpora, it may fit that corpus because it was built from it. ``leave-one-out`` rebuilds
it without the corpus under test: a label word stays when a published vocabulary has it or when a
page of another loaded corpus uses it as a label (a ``Label: value`` pair, a ``<meta>`` name or
property, an ``itemprop``); ``sources`` keeps the published words alone.

>>> sorted(page_label_words('<meta property="article:published_time" content="x">'
...                         '<p itemprop="datePublished">2020</p><p>Page count: 300</p>'))
['article', 'count', 'date', 'datepublished', 'page', 'published', 'published_time', 'time']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..facts import label_value_pairs_in, parse_page
from ..steps.synonyms import source_words
from .records import Page, PageReadError

__all__ = ["corpus_label_words", "page_label_words", "vocabulary_for"]

_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _words(name: str) -> set[str]:
    """A label or attribute name's words, lower-cased: whole, split at ``_``/``-`` and at camelCase."""
    out = set()
    for token in _WORD.findall(name):
        out.add(token.lower())
        for part in re.split(r"[_\-]", token):
            out.update(w.lower() for w in _CAMEL.findall(part))
    return {w for w in out if not w.isdigit()}


def page_label_words(html: str) -> set[str]:
    """The words a page labels its facts with: the labels of its ``Label: value`` pairs, the
    ``name``/``property`` of its ``<meta>`` elements and its ``itemprop`` names."""
    root = parse_page(html)  # (once, for the pairs and the names)
    if root is None:
        return set()
    out: set[str] = set()
    for _, label, _ in label_value_pairs_in(root):
        out |= _words(label)
    for el in root.iter("meta"):
        for attr in ("name", "property", "itemprop"):
            if el.get(attr):
                out |= _words(el.get(attr))
    for el in root.xpath("//*[@itemprop]"):
        out |= _words(el.get("itemprop"))
    return out


def corpus_label_words(pages: Iterable[Page]) -> dict[str, set[str]]:
    """Label words by corpus, over every readable page."""
    seen: dict[str, set[str]] = {}
    for page in pages:
        try:
            html = page.read_html()
        except PageReadError:
            continue
        seen.setdefault(page.corpus, set()).update(page_label_words(html))
    return seen


def vocabulary_for(mode: str, corpus: str, seen: dict[str, set[str]]) -> frozenset[str] | None:
    """The label words domprune may use on ``corpus``'s pages (``None``: all of them)."""
    if mode == "full":
        return None
    keep = set(source_words())
    if mode == "leave-one-out":
        for other, words in seen.items():
            if other != corpus:
                keep |= words
    return frozenset(keep)
