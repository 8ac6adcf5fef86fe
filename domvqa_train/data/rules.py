"""Offline question generation from the label/value structure of a page: no model, no network.

Facts come from anywhere in the page:

- label/value pairs: two-cell table rows, definition lists, form labels with their control's value,
  small elements reading ``Label: value`` (``domprune.facts.label_value_pairs``, the
  project's one reader of them; ambiguous labels are already dropped there);
- the page title and its single ``<h1>``;
- ``<meta>`` facts (author, site name, publication time, price);
- JSON-LD facts (name or headline, author, publisher, brand, dates, price, ISBN, SKU, rating, review count).

Each fact gets one of several wordings, drawn with a random generator seeded by the page id and the
run's seed, so a run is reproducible and a dataset does not repeat one template. Facts are taken
round-robin over their kinds so that a page's questions are not all from one table.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import lxml.etree
import lxml.html

from domprune.facts import label_value_pairs

from .generator_prompt import ProposedQA

_WS = re.compile(r"\s+")

LABEL_WORDINGS = (
    'What is the value of "{label}"?',
    "According to the page, what is the {label_l}?",
    "What does the page list as the {label_l}?",
    'What is given for "{label}" on this page?',
    "What {label_l} does the page show?",
)
FACT_WORDINGS: dict[str, tuple[str, ...]] = {
    "title": ("What is the title of this page?", "What title does this page have?"),
    "heading": ("What is the main heading of this page?", "What does the page's top heading say?"),
    "author": ("Who is the author of this {thing}?", "Who wrote this {thing}?"),
    "site": ("What is the name of this website?", "Which website is this page from?"),
    "published": ("When was this {thing} published?", "What is the publication date of this {thing}?"),
    "modified": ("When was this {thing} last updated?",),
    "name": ("What is the name of the {thing} on this page?", "What {thing} is this page about?"),
    "publisher": ("Who published this {thing}?", "Which publisher is named for this {thing}?"),
    "brand": ("What brand is this {thing}?", "Which brand makes this {thing}?"),
    "price": ("What is the price of this {thing}?", "How much does this {thing} cost?"),
    "isbn": ("What is the ISBN of this {thing}?",),
    "sku": ("What is the SKU of this {thing}?", "What is the product code of this {thing}?"),
    "rating": ("What is the average rating of this {thing}?", "What rating does this {thing} have?"),
    "reviews": ("How many reviews does this {thing} have?", "How many reviews are counted for this {thing}?"),
}
_META = {
    "author": "author",
    "article:author": "author",
    "og:site_name": "site",
    "application-name": "site",
    "article:published_time": "published",
    "date": "published",
    "article:modified_time": "modified",
    "product:price:amount": "price",
    "og:price:amount": "price",
}
_LD_FIELDS = {
    "name": "name",
    "headline": "name",
    "author": "author",
    "creator": "author",
    "publisher": "publisher",
    "brand": "brand",
    "datePublished": "published",
    "dateModified": "modified",
    "isbn": "isbn",
    "sku": "sku",
    "ratingValue": "rating",
    "reviewCount": "reviews",
    "price": "price",
}
_THINGS = {"NewsArticle": "article", "BlogPosting": "post", "Article": "article", "Product": "product",
           "Book": "book", "Recipe": "recipe", "Event": "event", "Movie": "movie", "Course": "course"}  # fmt: skip
MAX_FACT_CHARS = 120


@dataclass(frozen=True)
class Fact:
    """One checkable fact of a page: its kind (``table``, ``meta``...), a label or field, and the value."""

    kind: str
    label: str
    value: str
    thing: str = "page"


def page_facts(html: str) -> list[Fact]:
    """Every fact the rules find in ``html``, in document order per kind; one value per label."""
    facts = [Fact(kind, label, value) for kind, label, value in label_value_pairs(html)]
    try:
        root = lxml.html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    except (lxml.etree.ParserError, ValueError):
        return facts
    facts += _heading_facts(root)
    facts += _meta_facts(root)
    facts += _json_ld_facts(root)
    out: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    for fact in facts:
        value = _WS.sub(" ", fact.value).strip()
        key = (fact.label.casefold(), fact.thing)
        if not value or len(value) > MAX_FACT_CHARS or key in seen:
            continue
        seen.add(key)
        out.append(Fact(fact.kind, fact.label, value, fact.thing))
    return out


def _text(el: Any) -> str:
    return _WS.sub(" ", el.text_content()).strip()


def _heading_facts(root: Any) -> list[Fact]:
    facts = []
    titles = [t for t in root.iter("title") if _text(t)]
    if len(titles) == 1:
        facts.append(Fact("title", "title", _text(titles[0])))
    h1s = [h for h in root.iter("h1") if _text(h)]
    if len(h1s) == 1:
        facts.append(Fact("heading", "heading", _text(h1s[0])))
    return facts


def _meta_facts(root: Any) -> list[Fact]:
    facts = []
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or "").strip().lower()
        field = _META.get(name)
        content = (meta.get("content") or "").strip()
        if field and content:
            facts.append(Fact("meta", field, content))
    return facts


def _json_ld_facts(root: Any) -> list[Fact]:
    facts = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        for node in _ld_nodes(data):
            types = node.get("@type")
            kind = next((t for t in (types if isinstance(types, list) else [types]) if t in _THINGS), None)
            thing = _THINGS.get(kind or "", "page")
            for key, field in _LD_FIELDS.items():
                value = _ld_value(node.get(key))
                if value is None and key in ("price", "ratingValue", "reviewCount"):
                    holder = node.get("offers") if key == "price" else node.get("aggregateRating")
                    holder = holder[0] if isinstance(holder, list) and holder else holder
                    value = _ld_value(holder.get(key)) if isinstance(holder, Mapping) else None
                if value is not None and kind is not None:
                    facts.append(Fact("json_ld", field, value, thing))
    return facts


def _ld_nodes(data: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _ld_nodes(item)
    elif isinstance(data, Mapping):
        yield data
        if isinstance(data.get("@graph"), list):
            yield from _ld_nodes(data["@graph"])


def _ld_value(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, Mapping):
        value = value.get("name")
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _wording(fact: Fact, rng: random.Random) -> str:
    if fact.kind in ("table", "dl", "form", "text"):
        label = fact.label
        label_l = label if label[:2].isupper() else label[:1].lower() + label[1:]
        return rng.choice(LABEL_WORDINGS).format(label=label, label_l=label_l)
    return rng.choice(FACT_WORDINGS[fact.label]).format(thing=fact.thing)


def rules_questions(html: str, *, page_id: str, n: int, seed: int = 42) -> list[ProposedQA]:
    """Up to ``n`` questions about the page from :func:`page_facts`, worded and chosen reproducibly."""
    digest = hashlib.sha256(f"{seed}:{page_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    by_kind: dict[str, list[Fact]] = {}
    for fact in page_facts(html):
        by_kind.setdefault(fact.kind, []).append(fact)
    for facts in by_kind.values():
        rng.shuffle(facts)
    chosen: list[Fact] = []
    while len(chosen) < n and any(by_kind.values()):
        for facts in by_kind.values():
            if facts and len(chosen) < n:
                chosen.append(facts.pop())
    return [
        ProposedQA(question=_wording(f, rng), answers=(f.value,), source="dom", evidence=f.value)
        for f in chosen
    ]
