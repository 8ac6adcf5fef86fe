"""Ranking the units of a page: what to keep first when not everything fits.

Header units (title, h1, informative meta, JSON-LD, bylines) come first, within a share of the
budget; then, with a question, relevance (BM25 over blocks, own words, class/id hints, answer
patterns) with the context that gives a relevant value its meaning (label, row and column headers,
nearest heading); then main content before navigation, footers and sidebars; then earlier first.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..document import BLOCK, HEADINGS, Document
from ..settings import BudgetSettings
from .relevance import Query, bm25_blocks, candidate_pattern, kinds_pattern, match_terms, stem, words
from .units import UnitModel

_BOILERPLATE_TAGS = frozenset({"nav", "footer", "aside", "menu", "dialog"})
_BOILERPLATE_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog",
     "toolbar", "alertdialog"}
)  # fmt: skip
_BOILERPLATE_HINT = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|menu|footer|sidebar|side-bar|cookie|consent|banner|breadcrumbs?"
    r"|social|share|sharing|related|promo|advert|ads?|sponsor|subscribe|newsletter|popup|modal|skip"
    r"|comments?|widget|masthead|toolbar|pagination|filters?|facets?|refine(ments)?)($|[\s_-])",
    re.IGNORECASE,
)
_MAIN_HINT = re.compile(
    r"(^|[\s_-])(main|content|article|post|entry|story|body|text|prose|blog-post|product)($|[\s_-])",
    re.IGNORECASE,
)
_BYLINE_HINT = re.compile(
    r"byline|author|autor|auteur|date|published|posted|time|dateline|creator|writer|reporter", re.IGNORECASE
)
_KEY_META = re.compile(r"site_name|author|creator|publish|date|byline", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_HINT_ATTRS = frozenset({"class", "id", "role", "itemprop", "rel", "name", "property", "aria-label"})
_BROAD_KINDS = frozenset({"date", "money", "isbn", "number"})
_LINK_TAGS = frozenset({"a", "button", "option", "select", "label"})
_HEAD_TAGS = frozenset({"meta", "title", "script"})
# a label and its value in a small box: <div><div>Brand</div><div>Acme</div></div>, <li><p>..</p><p>..</p></li>
_PAIR_BOXES = frozenset({"div", "li", "section", "p", "span", "a", "dd", "header"})
_PAIR_PARTS = frozenset(
    {"div", "p", "span", "label", "strong", "b", "em", "dt", "dd", "h3", "h4", "h5", "h6"}
)


def _depth_ok(doc: Document, i: int, p: int) -> bool:
    """Within three levels of the nearest link-like ancestor."""
    k = 0
    while p >= 0 and doc.tags[p] not in _LINK_TAGS:
        p, k = doc.parent[p], k + 1
    return k < 3


@dataclass
class Ranking:
    """Per unit: priority (higher first), header rank (0: not a header unit), question relevance."""

    prio: list[float]
    header: list[float]
    rel: list[float]  # empty without a question
    base: list[float] = field(default_factory=list)  # priority from structure and position alone
    boilerplate: list[bool] = field(default_factory=list)  # unit in navigation, footer, sidebar...
    terms: dict[str, float] = field(default_factory=dict)  # the question's terms and page words matched


def element_flags(doc: Document, alive: list[bool]) -> tuple[list[bool], list[bool], list[str]]:
    """Boilerplate and main-content flags (inherited down the tree) and each element's hint words."""
    n = len(doc.tags)
    bp = [False] * n
    main = [False] * n
    hints = [""] * n
    tags, attrs, parent = doc.tags, doc.attrs, doc.parent
    memo: dict[str, tuple[bool, bool]] = {}
    for i in range(n):
        if not alive[i]:
            continue
        p = parent[i]
        b = bp[p] if p >= 0 else False
        m = main[p] if p >= 0 else False
        tag = tags[i]
        h = ""
        role = ""
        if attrs[i]:
            vals = []
            for k, v in attrs[i]:
                if k in _HINT_ATTRS:
                    vals.append(v)
                    if k == "role":
                        role = v.lower()
            h = " ".join(vals)
        hints[i] = h
        hm = hb = False
        if h:  # class strings repeat down a page: match each distinct one once
            seen = memo.get(h)
            if seen is None:
                seen = memo[h] = (bool(_MAIN_HINT.search(h)), bool(_BOILERPLATE_HINT.search(h)))
            hm, hb = seen
        if tag in ("main", "article") or role == "main" or hm:
            m = True
        if tag in _BOILERPLATE_TAGS or role in _BOILERPLATE_ROLES or (tag == "header" and not m) or hb:
            b = True
        bp[i], main[i] = b, m
    return bp, main, hints


def heading_elements(doc: Document) -> list[int]:
    """For each element, the heading element (h1-h6) it sits in, or -1."""
    out = [-1] * len(doc.tags)
    for i in range(len(doc.tags)):
        p = doc.parent[i]
        out[i] = i if doc.tags[i] in HEADINGS else (out[p] if p >= 0 else -1)
    return out


def rank_units(model: UnitModel, query: Query | None, settings: BudgetSettings) -> Ranking:
    """Rank ``model``'s units for ``query`` (``None``: no question)."""
    return _Ranker(model, settings).rank(query)


class _Ranker:
    def __init__(self, model: UnitModel, settings: BudgetSettings) -> None:
        self.model, self.doc, self.units, self.settings = model, model.doc, model.units, settings

    def rank(self, query: Query | None) -> Ranking:
        doc, units = self.doc, self.units
        bp, main, hints = element_flags(doc, self.model.alive)
        n_el = max(1, len(doc.tags))
        prio: list[float] = []
        header: list[float] = []
        boiler = self.settings.boilerplate_last
        bylines = 0
        near_byline = self._near_byline(hints)
        for u in range(len(units)):
            o = units.owner[u]
            pos = units.elem[u] / n_el
            if boiler and bp[o]:
                base = 0.1 * (1 - pos)
            elif main[o]:
                base = 0.6 + 0.4 * (1 - pos)
            else:
                base = 0.3 + 0.3 * (1 - pos)
            prio.append(base)
            tag = doc.tags[o]
            h = 0.0
            if tag in ("title", "h1"):
                h = 3.0
            elif tag == "meta":
                h = 2.5 if _KEY_META.search(hints[o]) else 1.5
            elif tag == "script":
                h = 2.0
            elif bylines < 8 and near_byline[o] and len(units.text_of(doc, u)) < 160:
                h = 1.0
                bylines += 1
            header.append(h)
        base = list(prio)
        rel: list[float] = []
        self.terms: dict[str, float] = {}
        if query is not None:
            rel = self._add_relevance(query, prio, hints, heading_elements(doc), bp if boiler else None)
        unit_bp = [bp[o] for o in units.owner]
        return Ranking(prio, header, rel, base, unit_bp, self.terms)

    def _near_byline(self, hints: list[str]) -> list[bool]:
        """Whether each element or one of its three nearest ancestors is marked as a byline/date."""
        parent = self.doc.parent
        memo: dict[str, bool] = {}
        dist = [9] * len(hints)  # levels up to the nearest marked element
        for i, h in enumerate(hints):
            hit = False
            if h:
                hit = memo.get(h)  # type: ignore[assignment]
                if hit is None:
                    hit = memo[h] = bool(_BYLINE_HINT.search(h))
            p = parent[i]
            dist[i] = 0 if hit else (dist[p] + 1 if p >= 0 else 9)
        return [d < 4 for d in dist]

    def _blocks(self, texts: list[str]) -> list[int]:
        """The block of each element: its nearest block ancestor, except that a label and its value
        are one block (a row of two or three cells, a <dt> with its <dd>, a small container of two or
        three blocks such as <div><div>Brand</div><div>Acme</div></div>)."""
        doc, units = self.doc, self.units
        n = len(doc.tags)
        tags, parent = doc.tags, doc.parent
        size = [0] * n  # characters of text in each subtree
        for u, t in enumerate(texts):
            size[units.owner[u]] += len(t)
        kids: list[list[int]] = [[] for _ in range(n)]
        alive = self.model.alive
        for i in range(n - 1, 0, -1):
            if alive[i]:
                size[parent[i]] += size[i]
                kids[parent[i]].append(i)
        merge = [False] * n  # this block element joins its parent's block
        pair_with = [-1] * n  # a <dd> joins the block of the <dt> before it
        for i in range(n):
            ks = kids[i]
            if not ks or not alive[i]:
                continue
            tag = tags[i]
            if tag == "tr":
                if 2 <= len(ks) <= 3:
                    for c in ks:
                        merge[c] = True
            elif tag == "dl":
                last_dt = -1
                for c in reversed(ks):  # kids are in reverse document order
                    if tags[c] == "dt":
                        last_dt = c
                    elif tags[c] == "dd" and last_dt >= 0:
                        pair_with[c] = last_dt
            elif (
                tag in _PAIR_BOXES
                and 2 <= len(ks) <= 3
                and size[i] <= 160
                and all(tags[c] in _PAIR_PARTS and not self._has_block_below(c) for c in ks)
            ):
                for c in ks:
                    merge[c] = True
        block_of = [0] * n
        for i in range(n):
            p = parent[i]
            if p < 0:
                block_of[i] = i
            elif pair_with[i] >= 0:
                block_of[i] = block_of[pair_with[i]]
            elif tags[i] in BLOCK and not merge[i]:
                block_of[i] = i
            else:
                block_of[i] = block_of[p]
        return block_of

    def _has_block_below(self, i: int) -> bool:
        tags = self.doc.tags
        return any(tags[j] in BLOCK and tags[j] != "br" for j in range(i + 1, self.doc.end[i]))

    def _in_link(self) -> list[bool]:
        """Whether each element is inside a link, a button or an option (up to three levels)."""
        doc = self.doc
        tags, parent = doc.tags, doc.parent
        out = [False] * len(tags)
        for i in range(len(tags)):
            p = parent[i]
            out[i] = tags[i] in _LINK_TAGS or (p >= 0 and out[p] and _depth_ok(doc, i, p))
        return out

    def _add_relevance(
        self,
        query: Query,
        prio: list[float],
        hints: list[str],
        heading_of: list[int],
        boilerplate: list[bool] | None,
    ) -> list[float]:
        doc, units = self.doc, self.units
        n = len(units)
        texts = units.texts(doc)
        block_of = self._blocks(texts)
        # only words that may match the question are stemmed: those starting like a query term
        find_candidates = candidate_pattern(query.terms).findall
        n_words = [0] * n
        matched: list[list[str]] = [[]] * n
        block_len: dict[int, int] = {}
        block_tf: dict[int, Counter[str]] = {}
        for u in range(n):
            t = texts[u]
            k = t.count(" ") + 1  # words, about (one C call; BM25 only needs lengths)
            n_words[u] = k
            b = block_of[units.owner[u]]
            block_len[b] = block_len.get(b, 0) + k
            cands = find_candidates(t)
            if cands:
                ms = [stem(w.lower()) for w in cands]
                matched[u] = ms
                tf = block_tf.get(b)
                if tf is None:
                    tf = block_tf[b] = Counter()
                tf.update(ms)
        terms = match_terms([list(tf) for tf in block_tf.values()], query.terms)
        seen = set().union(*block_tf.values()) if block_tf else set()
        self.terms = {t: w for t, w in terms.items() if t in seen}
        scores = bm25_blocks(block_len, block_tf, terms)
        hint_terms = {t: w for t, w in query.terms.items() if len(t) > 2}
        rel = [0.0] * n
        # kinds of value: dates and money anywhere; the others (names, places, codes...) in short units
        broad = kinds_pattern([k for k in query.answer_kinds if k in _BROAD_KINDS])
        short = kinds_pattern([k for k in query.answer_kinds if k not in _BROAD_KINDS])
        hint_hit: dict[str, float] = {}
        term_keys = terms.keys()
        block_hit = {b for b, sc in scores.items() if sc > 0}
        in_link = self._in_link()
        dates = "date" in query.answer_kinds
        tags, kept_attrs, parent = doc.tags, doc.kept_attrs, doc.parent
        for u in range(n):
            o = units.owner[u]
            b = block_of[o]
            r = scores.get(b, 0.0)
            # own words count a little more than the block's (a label's words count for its value)
            if r and (b != o or not term_keys.isdisjoint(matched[u])):
                r *= 1.2
            h = hints[o] or hints[parent[o]] if o > 0 else hints[o]
            if h:
                hit = hint_hit.get(h)
                if hit is None:
                    hit = hint_hit[h] = max((hint_terms.get(w, 0.0) for w in words(h)), default=0.0)
                r += hit
            if dates and (tags[o] == "time" or any(k == "datetime" for k, _ in kept_attrs[o])):
                r += 1.0  # a <time> element is a date by markup
            if broad is not None or short is not None:
                t = texts[u]
                if (broad is not None and len(t) <= 300 and broad.search(t)) or (
                    short is not None and n_words[u] <= 12 and len(t) <= 160 and short.search(t)
                ):
                    # a value of the kind asked for, the more so next to a label that matched (a long
                    # text that mentions a year is not a value: citations, paragraphs)
                    r += 1.2 if b in block_hit else 0.8
                else:
                    r *= 0.6  # the question's words but no value of the kind it asks for
            if r and (in_link[o] or (boilerplate is not None and boilerplate[o])):
                # a link or a filter that only names a field ("Brand", "Sort by release date") must
                # not outrank the field's value; other navigation counts a little less
                ws = [w for w in words(texts[u]) if len(w) > 1]  # "Brand A-Z": the letters say nothing
                named = sum(1 for w in ws if w in term_keys or w.isdigit())
                r *= 0.3 if len(ws) <= 6 and 2 * named >= len(ws) else 0.8
            rel[u] = r
        # a template repeated down the page ("Published by X" x 30) says less than a one-off label:
        # units that match the same query terms with the same leading words share their score
        shapes: dict[tuple[frozenset[str], tuple[str, ...]], int] = {}
        block_terms: dict[int, frozenset[str]] = {}
        shape_of: list[tuple[frozenset[str], tuple[str, ...]]] = [(frozenset(), ())] * len(units)
        for u in range(len(units)):
            if rel[u] > 0:
                ws = words(texts[u][:200])
                b = block_of[units.owner[u]]
                hit = block_terms.get(b)
                if hit is None:  # the query words of the unit's block (a label's count for its value)
                    hit = block_terms[b] = frozenset(term_keys & block_tf.get(b, {}).keys())
                shape = (hit, tuple(w for w in ws[:3] if not w.isdigit()))
                shape_of[u] = shape
                shapes[shape] = shapes.get(shape, 0) + 1
        for u in range(len(units)):
            if rel[u] > 0 and shapes[shape_of[u]] > 2:
                rel[u] /= shapes[shape_of[u]] ** 0.5
        top = max(rel, default=0.0)
        if top <= 0:
            return rel
        for u in range(len(units)):
            if rel[u] > 0:
                prio[u] += 3.0 * rel[u] / top
        if self.settings.context:
            self._add_context(prio, rel, top, heading_of, block_of)
        return rel

    def _add_context(
        self, prio: list[float], rel: list[float], top: float, heading_of: list[int], block_of: list[int]
    ) -> None:
        """Give the label, headers and heading of a relevant unit nearly its priority.

        Neighbours count only inside the container of the unit's block (a label and its value, a
        list item and the next); head elements (meta, title, JSON-LD) lift nothing.
        """
        units, doc = self.units, self.doc
        parent, end, tags = doc.parent, doc.end, doc.tags
        n = len(units)
        unit_at: dict[int, list[int]] = {}
        for u in range(n):
            unit_at.setdefault(units.owner[u], []).append(u)
        last_heading = -1
        heading_unit = [-1] * n
        for u in range(n):
            if heading_of[units.owner[u]] >= 0:
                last_heading = u
            heading_unit[u] = last_heading
        boosted = list(prio)
        block_size: dict[int, int] = {}
        for u in range(n):
            b = block_of[units.owner[u]]
            block_size[b] = block_size.get(b, 0) + 1

        def lift(v: int, p: float) -> None:
            if 0 <= v < n and boosted[v] < p:
                boosted[v] = p

        def near(v: int, lo: int, hi: int) -> bool:
            return 0 <= v < n and lo <= units.owner[v] < hi

        for u in range(n):
            if rel[u] < 0.15 * top or tags[units.owner[u]] in _HEAD_TAGS:
                continue
            p = prio[u]
            box = block_of[units.owner[u]]
            if block_size[box] < 2:  # a block of its own: its neighbours in the container
                box = parent[box]
            lo, hi = (box, end[box]) if box >= 0 else (0, len(tags))
            for v, f in ((u - 1, 0.97), (u + 1, 0.97), (u + 2, 0.9)):
                if near(v, lo, hi):
                    lift(v, p * f)
            lift(heading_unit[u], p * 0.9)
            for e in self._table_context(units.owner[u]):
                for v in unit_at.get(e, ()):
                    lift(v, p * 0.95)
        prio[:] = boosted

    def _table_context(self, e: int) -> list[int]:
        """Row header and column header cells of the cell that contains element ``e``."""
        doc = self.doc
        cell = e
        while cell >= 0 and doc.tags[cell] not in ("td", "th", "dd", "dt"):
            cell = doc.parent[cell]
            if cell >= 0 and doc.tags[cell] in ("table", "body"):
                return []
        if cell < 0:
            return []
        row = doc.parent[cell]
        if doc.tags[cell] in ("dd", "dt"):
            sib = self._children(row)
            k = sib.index(cell)
            return [x for x in sib[max(0, k - 1) : k + 2] if x != cell]
        cells = self._children(row)
        out = [c for c in cells[:1] if c != cell]
        col = cells.index(cell) if cell in cells else 0
        table = row
        while table >= 0 and doc.tags[table] != "table":
            table = doc.parent[table]
        if table >= 0:
            first_row = next((j for j in range(table + 1, doc.end[table]) if doc.tags[j] == "tr"), -1)
            if first_row >= 0 and first_row != row:
                head = self._children(first_row)
                if col < len(head):
                    out.append(head[col])
        out_all = []
        for c in out:
            out_all.extend(range(c, doc.end[c]))
        return out_all

    def _children(self, i: int) -> list[int]:
        doc = self.doc
        out, j = [], i + 1
        while j < doc.end[i]:
            out.append(j)
            j = doc.end[j]
        return out
