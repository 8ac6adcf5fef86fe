"""Filtering: drop noise, invisible content and empty elements; unwrap bare wrappers; fold runs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..document import Document, Flags, holds_block
from ..settings import FilterSettings
from ..tags import BLOCK
from .relevance import fold_case

NOISE_TAGS: tuple[str, ...] = tuple(
    "script style noscript template iframe frame frameset object embed applet canvas param source "
    "track link base".split()
)
_INFORMATIVE_META = re.compile(
    r"description|author|title|site_name|published|modified|date|creator|byline|keywords|publisher"
    # product, book and article facts (og:, product:, book:, article:, twitter:label/data, Dublin
    # Core, citation_, microdata itemprop names)
    r"|price|currency|brand|manufacturer|availability|condition|sku|gtin|ean|upc|mpn|isbn|rating"
    r"|release|section|tag|label\d|data\d|dc\.|citation_|subject|category|language|locality|region"
    r"|country|address|telephone|email",
    re.IGNORECASE,
)
_INFORMATIVE_META_LOWER = re.compile(_INFORMATIVE_META.pattern)  # the same, for lower-cased names


def _informative_meta(names: str) -> bool:
    low = fold_case(names)  # (several times faster than matching case-insensitively)
    return bool(_INFORMATIVE_META.search(names) if low is None else _INFORMATIVE_META_LOWER.search(low))


_INVISIBLE_KEYS = frozenset({"bounding_box_rect", "hidden", "aria-hidden", "aria_hidden", "style", "type"})
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# attribute values that carry information on their own (an element with one is never "empty")
LABEL_ATTRS = frozenset(
    {"alt", "title", "aria-label", "aria_label", "placeholder", "value", "input_value", "label",
     "content", "datetime", "aria-valuetext", "aria-valuenow", "aria-checked", "aria-selected",
     "checked", "selected"}
)  # fmt: skip
FORM_TAGS = frozenset({"input", "select", "textarea", "meter", "progress"})
UNWRAP_TAGS = frozenset({"div", "span", "font", "center", "text", "html", "head", "body", "tbody", "a"})


def _mark(doc: Document, i: int, why: str) -> int:
    if doc.removed[i]:
        return 0
    doc.removed[i] = True
    doc.why[i] = why
    return 1


def remove_noise(doc: Document, settings: FilterSettings) -> dict[str, int]:
    """Scripts, styles, templates, embedded frames, head noise (metas without facts, a fact's second
    copy), svg internals."""
    tags, attrs, removed, end = doc.tags, doc.attrs, doc.removed, doc.end
    noise = svg = duplicates = 0
    seen_content: set[str] = set()
    check: set[str] = set()  # the tags this step looks at (noise tags are mostly gone already, in C)
    if settings.noise_tags:
        check.update(NOISE_TAGS, ["#comment"])
    if settings.head_noise:
        check.add("meta")
    if settings.svg_internals:
        check.add("svg")
    done = 0  # elements before this are handled (inside a removed or reduced subtree)
    for i in [i for i, t in enumerate(tags) if t in check] if check else ():
        if i < done:
            continue
        tag = tags[i]
        if removed[i]:
            done = end[i]
            continue
        if (
            settings.noise_tags
            and (tag in NOISE_TAGS or tag == "#comment")
            and not (tag == "script" and settings.json_ld and doc.text[i])
        ):
            noise += _mark(doc, i, "noise")
            done = end[i]
            continue
        if settings.head_noise and tag == "meta":
            names = " ".join([v for k, v in attrs[i] if k in ("name", "property", "itemprop")])
            content = next((v for k, v in attrs[i] if k in ("content", "value")), None)
            if not (names and _informative_meta(names) and content is not None):
                noise += _mark(doc, i, "head noise")
            else:
                # description, og:description, twitter:description, itemprop: each content once
                key = " ".join(content.split()).casefold()
                if not key or key in seen_content:
                    duplicates += _mark(doc, i, "duplicate")
                seen_content.add(key)
            continue
        if settings.svg_internals and tag == "svg":
            title = ""
            for j in range(i + 1, end[i]):
                if tags[j] == "title" and not title:
                    title = doc.text[j].strip()
                svg += _mark(doc, j, "svg internals") if doc.parent[j] == i else 0
            doc.text[i] = title or doc.text[i]
            done = end[i]
            continue
    out = {"noise_elements": noise, "svg_parts": svg}
    if duplicates:
        out["duplicate_meta"] = duplicates
    return out


def _bbox_area(value: str) -> float | None:
    try:
        parts = [float(p) for p in value.replace(" ", "").split(",")]
    except ValueError:
        return None
    return parts[2] * parts[3] if len(parts) == 4 else None


def remove_invisible(doc: Document) -> dict[str, int]:
    """Content a user cannot see: hidden attributes and styles, hidden inputs, zero-area boxes."""
    tags, attrs, removed = doc.tags, doc.attrs, doc.removed
    n = len(tags)
    hidden = zero = 0
    area: list[float | None] = [None] * n
    boxes = False
    for i in [i for i, a in enumerate(attrs) if a and not removed[i]]:
        for k, v in attrs[i]:
            if k not in _INVISIBLE_KEYS:
                continue
            if k == "bounding_box_rect":
                area[i] = _bbox_area(v)
                boxes = True
            elif (
                k == "hidden"
                or (k in ("aria-hidden", "aria_hidden") and v.strip().lower() == "true")
                or (k == "style" and HIDDEN_STYLE.search(v))
                or (k == "type" and tags[i] == "input" and v.strip().lower() == "hidden")
            ):
                hidden += _mark(doc, i, "hidden")
                break
    if doc.dialect == "mind2web" or boxes:
        # zero area counts as invisible only when no descendant has area
        has_area = [False] * n
        for i in range(n - 1, -1, -1):
            if area[i] is not None and area[i] > 0:
                has_area[i] = True
            if has_area[i] and i:
                has_area[doc.parent[i]] = True
        for i in range(n):
            if area[i] is not None and area[i] <= 0 and not has_area[i]:
                zero += _mark(doc, i, "zero area")
    return {"hidden_elements": hidden, "zero_area_elements": zero}


def informative(doc: Document, i: int) -> bool:
    """True when element ``i`` carries information in its (kept) attributes alone."""
    kept = doc.kept_attrs[i]
    if not kept:
        return False
    if doc.tags[i] in FORM_TAGS or doc.tags[i] == "meta":
        return True
    return any(k in LABEL_ATTRS and v.strip() for k, v in kept)


def remove_empty(doc: Document, alive: Flags) -> dict[str, int]:
    """Elements with no text, no informative attribute and nothing informative inside."""
    n = len(doc.tags)
    content = [False] * n
    text, tail, parent = doc.text, doc.tail, doc.parent
    for i in range(n - 1, -1, -1):
        if not alive[i]:
            if i and tail[i].strip():
                content[parent[i]] = True
            continue
        if content[i] or (text[i] and not text[i].isspace()) or informative(doc, i):
            content[i] = True
            if i:
                content[parent[i]] = True
        if i and tail[i] and not tail[i].isspace():
            content[parent[i]] = True
    count = 0
    for i in range(1, n):
        if alive[i] and not content[i] and not doc.removed[parent[i]]:
            count += _mark(doc, i, "empty")
    return {"empty_elements": count}


def unwrap(doc: Document, alive: Flags) -> dict[str, int]:
    """Mark attribute-less wrappers transparent: their tags are not written, their content is."""
    count = 0
    kept, tags, transparent, parent = doc.kept_attrs, doc.tags, doc.transparent, doc.parent
    prev, last_kid = _siblings(doc, alive)
    for i in range(len(tags)):
        if alive[i] and not kept[i] and tags[i] in UNWRAP_TAGS:
            if tags[i] in _BLOCK_WRAPPERS and i and _inline_context(doc, parent[i]):
                # a block inside an inline element or a <p>: lenient parsers accept it only with the
                # block in between, so unwrapping it would change the tree a second parse builds
                continue
            if tags[i] not in BLOCK and _would_glue(doc, i, prev, last_kid):
                continue  # <span>dietwalther.com</span><span>2022</span>: keep the words apart
            if tags[i] not in BLOCK and holds_block(doc, i, alive):
                # likewise an inline element that holds a block (<p><a><div>): written only while
                # one of its written children is a block (decided when serializing)
                doc.wrap_blocks.add(i)
                continue
            transparent[i] = True
            count += 1
    return {"unwrapped_elements": count}


_BLOCK_WRAPPERS = frozenset({"div", "center"})


def _would_glue(doc: Document, i: int, prev: list[int], last_kid: list[int]) -> bool:
    """Whether writing inline element ``i`` without its tags joins a word of it to a word outside."""
    text, tail, end, parent = doc.text, doc.tail, doc.end, doc.parent
    first_kid = i + 1 if end[i] > i + 1 else -1
    first = text[i][:1] or (text[first_kid][:1] if first_kid >= 0 else "")
    k = last_kid[i]
    if k >= 0:
        last = tail[k][-1:] or (text[k][-1:] if end[k] == k + 1 and doc.tags[k] not in BLOCK else "")
    else:
        last = text[i][-1:]
    s = prev[i]
    if s >= 0:  # a block before it is written with a break after it
        before = tail[s][-1:] or (text[s][-1:] if end[s] == s + 1 and doc.tags[s] not in BLOCK else "")
    else:
        before = text[parent[i]][-1:] if parent[i] >= 0 else ""
    return (before.isalnum() and first.isalnum()) or (last.isalnum() and tail[i][:1].isalnum())


def _siblings(doc: Document, alive: Flags) -> tuple[list[int], list[int]]:
    """Each element's previous live sibling and last live child (-1: none)."""
    n = len(doc.tags)
    prev, last_kid = [-1] * n, [-1] * n
    for i in range(1, n):
        if alive[i]:
            p = doc.parent[i]
            prev[i] = last_kid[p]
            last_kid[p] = i
    return prev, last_kid


def _inline_context(doc: Document, p: int) -> bool:
    """Whether the nearest written ancestor (from ``p`` up) holds only phrasing content (span, p, h2...)."""
    while p >= 0 and doc.transparent[p]:
        p = doc.parent[p]
    return p >= 0 and (doc.tags[p] not in BLOCK or doc.tags[p] in _PHRASING_ONLY)


# block elements whose content model is phrasing content: a <p> or <div> inside gets re-nested
_PHRASING_ONLY = frozenset("p h1 h2 h3 h4 h5 h6 pre dt legend summary caption option title".split())


def _signature(doc: Document, i: int) -> tuple[str, ...]:
    sig = [doc.tags[i]]
    j, end = i + 1, doc.end[i]
    while j < end and len(sig) < 6:
        if not doc.removed[j]:
            sig.append(doc.tags[j])
        j = doc.end[j]
    return tuple(sig)


def fold_repeated(
    doc: Document, alive: Flags, settings: FilterSettings, protect: Iterable[int] = ()
) -> dict[str, int]:
    """Fold runs of similar siblings: keep the first few (and ``protect``-ed ones), note the rest."""
    protected = set(protect)
    children: dict[int, list[int]] = {}
    for i in range(1, len(doc.tags)):
        if alive[i]:
            children.setdefault(doc.parent[i], []).append(i)
    folded = 0
    for kids in children.values():
        run: list[int] = []
        last_sig: tuple[str, ...] | None = None
        for k in [*kids, -1]:
            sig = _signature(doc, k) if k >= 0 else None
            if sig is not None and sig == last_sig:
                run.append(k)
                continue
            if len(run) >= settings.fold_min_run:
                dropped = [
                    j for j in run[settings.fold_keep :] if not any(doc.end[j] > p >= j for p in protected)
                ]
                for j in dropped:
                    folded += _mark(doc, j, "folded")
                if dropped:
                    last_kept = max(j for j in run if not doc.removed[j])
                    doc.notes[last_kept] = f"{len(dropped)} more similar <{doc.tags[run[0]]}> folded"
            run = [k] if k >= 0 else []
            last_sig = sig
    return {"folded_elements": folded}
