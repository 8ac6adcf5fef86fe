"""Budget fitting: choose what to keep so the serialized output fits the budget exactly.

Data flow: split the page into units (an element's text, a tail text, an element whose attributes
carry a label) -> cost each unit with the tokenizer (its text plus the tags of ancestors not yet
kept) -> rank units (question relevance, then main content before boilerplate, earlier first) ->
take units greedily by rank -> serialize and count exactly -> drop the lowest-ranked kept units
until the exact count fits (BPE costs are almost additive, so this takes one or two counts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..document import BLOCK, HEADINGS, Document, escape_text, serialize
from ..errors import BudgetTooSmallError
from ..settings import BudgetSettings
from ..tokenizers import TokenCounter
from .filtering import informative
from .relevance import ANSWER_PATTERNS, Query, bm25, match_terms, words

_BOILERPLATE_TAGS = frozenset({"nav", "footer", "aside", "menu", "dialog"})
_BOILERPLATE_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog",
     "toolbar", "alertdialog"}
)  # fmt: skip
_BOILERPLATE_HINT = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|menu|footer|sidebar|side-bar|cookie|consent|banner|breadcrumbs?"
    r"|social|share|sharing|related|promo|advert|ads?|sponsor|subscribe|newsletter|popup|modal|skip"
    r"|comments?|widget|masthead|toolbar|pagination)($|[\s_-])",
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
_HINT_ATTRS = frozenset({"class", "id", "role", "itemprop", "rel", "name", "property", "aria-label"})

TEXT, TAIL, ATTR = 0, 1, 2


@dataclass
class Selection:
    """What budget fitting kept, and the exact result."""

    keep: list[bool]
    keep_text: list[bool]
    keep_tail: list[bool]
    output: str
    tokens: int
    units_total: int
    units_kept: int
    exact_counts: int


class _Units:
    """Units of a page in document order, with owners, costs and blocks."""

    def __init__(self, doc: Document, alive: list[bool]) -> None:
        self.kind: list[int] = []
        self.elem: list[int] = []
        # document-order keys: an element's text at (i, 0, 0); a tail after its element's subtree,
        # before the next element, deeper tails first
        keys: list[tuple[int, int, int]] = []
        text, tail, parent, end = doc.text, doc.tail, doc.parent, doc.end
        depth = [0] * len(doc.tags)
        for i in range(1, len(doc.tags)):
            depth[i] = depth[parent[i]] + 1
        for i in range(len(doc.tags)):
            if not alive[i]:
                if i and alive[parent[i]] and tail[i] and not tail[i].isspace():
                    self._add(TAIL, i, keys, (end[i], -1, -depth[i]))
                continue
            if text[i] and not text[i].isspace():
                self._add(TEXT, i, keys, (i, 0, 0))
            elif informative(doc, i):
                self._add(ATTR, i, keys, (i, 0, 0))
            if i and tail[i] and not tail[i].isspace():
                self._add(TAIL, i, keys, (end[i], -1, -depth[i]))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.kind = [self.kind[k] for k in order]
        self.elem = [self.elem[k] for k in order]
        self.keys = [keys[k] for k in order]
        self.depth = depth
        self.owner = [e if k != TAIL else parent[e] for k, e in zip(self.kind, self.elem)]

    def _add(self, kind: int, i: int, keys: list[tuple[int, int, int]], key: tuple[int, int, int]) -> None:
        self.kind.append(kind)
        self.elem.append(i)
        keys.append(key)

    def __len__(self) -> int:
        return len(self.kind)

    def text_of(self, doc: Document, u: int) -> str:
        k, e = self.kind[u], self.elem[u]
        if k == TEXT:
            return doc.text[e]
        if k == TAIL:
            return doc.tail[e]
        return " ".join(v for _, v in doc.kept_attrs[e])


def _element_flags(doc: Document, alive: list[bool]) -> tuple[list[bool], list[bool], list[str]]:
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


class _Fitter:
    def __init__(
        self,
        doc: Document,
        alive: list[bool],
        counter: TokenCounter,
        fmt: str,
        settings: BudgetSettings,
    ) -> None:
        self.doc, self.alive, self.counter, self.fmt, self.settings = doc, alive, counter, fmt, settings
        self.units = _Units(doc, alive)
        n = len(doc.tags)
        self.tag_cost = [0] * n
        self.rel: list[float] = []  # question relevance of each unit, once ranked with a question
        self._cost_units_and_tags()

    # -- costs ---------------------------------------------------------------------------------
    def _cost_units_and_tags(self) -> None:
        doc, units, counter = self.doc, self.units, self.counter
        strings: list[str] = []
        index: dict[str, int] = {}

        def ref(s: str) -> int:
            k = index.get(s)
            if k is None:
                k = index[s] = len(strings)
                strings.append(s)
            return k

        html = self.fmt == "html"
        tag_refs: list[tuple[int, int, int]] = []
        if html:
            if len(doc.open_s) != len(doc.tags):
                doc.finalize_tags()
            open_s, close_s, alive, transparent = doc.open_s, doc.close_s, self.alive, doc.transparent
            for i in range(len(doc.tags)):
                if alive[i] and not transparent[i]:
                    tag_refs.append((i, ref(open_s[i]), ref(close_s[i])))
        unit_refs = []
        for u in range(len(units)):
            s = units.text_of(doc, u) if units.kind[u] != ATTR else ""
            unit_refs.append(ref(escape_text(s) if html else s))
        counts = counter.count_batch(strings)
        if html:
            for i, a, b in tag_refs:
                self.tag_cost[i] = counts[a] + counts[b]
        self.unit_cost = [counts[r] for r in unit_refs]
        if not html:  # attribute-only units print one value in text mode
            for u in range(len(units)):
                if units.kind[u] == ATTR:
                    self.unit_cost[u] = counter.count(units.text_of(self.doc, u)[:200])

    # -- ranking -------------------------------------------------------------------------------
    def rank(self, question: str | None) -> tuple[list[float], list[float]]:
        """Priority of each unit (higher first), and its header rank (0: not a header unit).

        Header units (title, h1, informative meta, JSON-LD, bylines) answer the most common
        questions about a page; they are taken first, within ``header_share`` of the budget.
        """
        doc, units = self.doc, self.units
        bp, main, hints = _element_flags(doc, self.alive)
        n_el = max(1, len(doc.tags))
        heading_of = heading_elements(doc)
        prio: list[float] = []
        header: list[float] = []
        boiler = self.settings.boilerplate_last
        bylines = 0
        byline_memo: dict[str, bool] = {}
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
            elif bylines < 8 and self.unit_cost[u] < 40 and self._byline(o, hints, byline_memo):
                h = 1.0
                bylines += 1
            header.append(h)
        if question and question.strip():
            self._add_relevance(question, prio, hints, heading_of)
        return prio, header

    def _byline(self, o: int, hints: list[str], memo: dict[str, bool]) -> bool:
        """Whether element ``o`` or one of its three nearest ancestors is marked as a byline/date."""
        e = o
        for _ in range(4):
            if e < 0:
                break
            h = hints[e]
            if h:
                hit = memo.get(h)
                if hit is None:
                    hit = memo[h] = bool(_BYLINE_HINT.search(h))
                if hit:
                    return True
            e = self.doc.parent[e]
        return False

    def _add_relevance(
        self, question: str, prio: list[float], hints: list[str], heading_of: list[int]
    ) -> None:
        doc, units = self.doc, self.units
        query = Query.from_question(question)
        block_of = [0] * len(doc.tags)
        for i in range(len(doc.tags)):
            p = doc.parent[i]
            block_of[i] = i if (doc.tags[i] in BLOCK or p < 0) else block_of[p]
        blocks: dict[int, list[str]] = {}
        unit_words: list[list[str]] = []
        for u in range(len(units)):
            w = words(units.text_of(doc, u))
            unit_words.append(w)
            blocks.setdefault(block_of[units.owner[u]], []).extend(w)
        block_ids = list(blocks)
        terms = match_terms([blocks[b] for b in block_ids], query.terms)
        scores = dict(zip(block_ids, bm25([blocks[b] for b in block_ids], terms)))
        hint_terms = {t for t in query.terms if len(t) > 2}
        rel = [0.0] * len(units)
        patterns = [ANSWER_PATTERNS[k] for k in query.answer_kinds]
        hint_hit: dict[str, bool] = {}
        term_keys = terms.keys()
        for u in range(len(units)):
            o = units.owner[u]
            r = scores.get(block_of[o], 0.0)
            # own words count a little more than the block's
            if r and not term_keys.isdisjoint(unit_words[u]):
                r *= 1.2
            h = hints[o] or hints[doc.parent[o]] if o > 0 else hints[o]
            if h:
                hit = hint_hit.get(h)
                if hit is None:
                    hit = hint_hit[h] = not hint_terms.isdisjoint(words(h))
                if hit:
                    r += 1.0
            if patterns:
                t = units.text_of(doc, u)
                if any(p.search(t) for p in patterns):
                    r += 0.8
            rel[u] = r
        # a template repeated down the page ("Published by X" x 30) says less than a one-off label:
        # units that match the same query terms with the same leading words share their score
        shapes: dict[tuple[frozenset[str], tuple[str, ...]], int] = {}
        shape_of: list[tuple[frozenset[str], tuple[str, ...]]] = [(frozenset(), ())] * len(units)
        for u in range(len(units)):
            if rel[u] > 0:
                ws = unit_words[u]
                shape = (frozenset(term_keys & set(ws)), tuple(w for w in ws[:3] if not w.isdigit()))
                shape_of[u] = shape
                shapes[shape] = shapes.get(shape, 0) + 1
        for u in range(len(units)):
            if rel[u] > 0 and shapes[shape_of[u]] > 2:
                rel[u] /= shapes[shape_of[u]] ** 0.5
        top = max(rel, default=0.0)
        self.rel = rel
        if top <= 0:
            return
        for u in range(len(units)):
            if rel[u] > 0:
                prio[u] += 3.0 * rel[u] / top
        if self.settings.context:
            self._add_context(prio, rel, top, heading_of)

    def _add_context(self, prio: list[float], rel: list[float], top: float, heading_of: list[int]) -> None:
        """Give the label, headers and heading of a relevant unit nearly its priority."""
        units = self.units
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

        def lift(v: int, p: float) -> None:
            if 0 <= v < n and boosted[v] < p:
                boosted[v] = p

        for u in range(n):
            if rel[u] < 0.15 * top:
                continue
            p = prio[u]
            lift(u - 1, p * 0.97)
            lift(u + 1, p * 0.97)
            lift(u + 2, p * 0.9)
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

    # -- selection -----------------------------------------------------------------------------
    def select(self, order: list[int], limit: float) -> tuple[list[int], list[float]]:
        """Greedily take units in ``order`` while the estimated cost stays within ``limit``."""
        doc, units = self.doc, self.units
        kept = [False] * len(doc.tags)
        parent, tag_cost = doc.parent, self.tag_cost
        taken: list[int] = []
        cum: list[float] = []
        total = 0.0
        for u in order:
            c = self.unit_cost[u]
            o = units.owner[u]
            chain = []
            while o >= 0 and not kept[o]:
                chain.append(o)
                c += tag_cost[o]
                o = parent[o]
            if total + c > limit:
                continue
            for x in chain:
                kept[x] = True
            total += c
            taken.append(u)
            cum.append(total)
        return taken, cum

    def render(
        self, taken: list[int], mark_removed: bool, local: bool = False
    ) -> tuple[str, list[bool], list[bool], list[bool]]:
        """Serialize the units ``taken``; ``local`` when they are few and close together (chunks)."""
        doc, units = self.doc, self.units
        n = len(doc.tags)
        keep = [False] * n
        keep_text = [False] * n
        keep_tail = [False] * n
        parent = doc.parent
        for u in taken:
            k, e = units.kind[u], units.elem[u]
            if k == TAIL:
                keep_tail[e] = True
            else:  # TEXT, or ATTR (text mode prints the label attribute of a kept ATTR unit)
                keep_text[e] = True
            o = units.owner[u]
            while o >= 0 and not keep[o]:
                keep[o] = True
                o = parent[o]
        span = None
        if local and taken:
            elems = [units.elem[u] for u in taken]
            span = (min(elems), max(elems) + 1)
        out = serialize(doc, keep, keep_text, keep_tail, fmt=self.fmt, mark_removed=mark_removed, span=span)
        return out, keep, keep_text, keep_tail


def fit_to_budget(
    doc: Document,
    alive: list[bool],
    counter: TokenCounter,
    budget: int,
    *,
    question: str | None = None,
    fmt: str = "html",
    settings: BudgetSettings | None = None,
) -> Selection:
    """Keep the highest-ranked units whose serialization fits ``budget`` tokens exactly."""
    settings = settings or BudgetSettings()
    fitter = _Fitter(doc, alive, counter, fmt, settings)
    units = fitter.units
    exact_counts = 0
    estimate = sum(fitter.unit_cost) + sum(fitter.tag_cost)
    scale = 1.0  # exact tokens per estimated token, once a whole page has been counted
    if estimate <= budget * 1.5:
        # everything filtering left may fit: write it all (empty elements too, if filtering kept them)
        out = serialize(doc, fmt=fmt)
        tokens = counter.count(out)
        exact_counts += 1
        if estimate > 0:
            scale = tokens / estimate
        if tokens <= budget:
            keep = list(alive)
            tails = [bool(i) and alive[doc.parent[i]] for i in range(len(alive))]
            return Selection(keep, keep, tails, out, tokens, len(units), len(units), exact_counts)
    prio, header = fitter.rank(question)
    order = sorted(range(len(units)), key=lambda u: (-prio[u], u))
    header_limit = settings.header_share * budget
    head_units = sorted((u for u in order if header[u]), key=lambda u: (-header[u], u))
    seen_text: set[str] = set()
    unique_head = []
    for u in head_units:  # og:title, twitter:title and <title> often say the same thing
        t = " ".join(units.text_of(doc, u).split()).lower()
        if t not in seen_text:
            seen_text.add(t)
            unique_head.append(u)
    head_taken, _ = fitter.select(unique_head, header_limit) if unique_head else ([], [])
    first = set(head_taken)
    order = head_taken + [u for u in order if u not in first]
    count: Callable[[str], int] = counter.count

    # piece-by-piece estimates overcount joins like "><"; a whole-page count calibrates them
    limit = float(budget) / scale * 0.995 if scale < 1.0 else float(budget)
    best: tuple[str, list[bool], list[bool], list[bool], int, int] | None = None
    for _ in range(3):  # refill rounds: the first estimate is usually a little off
        taken, cum = fitter.select(order, limit)
        # keep the header units in front: select() keeps order, so they are first
        k = len(taken)
        while True:
            out, keep, kt, kl = fitter.render(taken[:k], settings.mark_removed)
            tokens = count(out)
            exact_counts += 1
            if tokens <= budget:
                break
            if k == 0:
                break
            over = tokens - budget
            target = cum[k - 1] - over * 1.05 - 1
            k2 = k - 1
            while k2 > 0 and cum[k2 - 1] > target:
                k2 -= 1
            k = k2
        if tokens <= budget and (k > 0 or not units) and (best is None or tokens > best[4]):
            best = (out, keep, kt, kl, tokens, k)
        if tokens > budget or k < len(taken) or len(taken) == len(units) or not cum:
            break
        if tokens >= budget * 0.985:
            break
        scale = budget / max(tokens, 1)
        new_limit = cum[-1] * scale * 0.995
        if new_limit <= limit:
            break
        limit = new_limit
    if best is None:
        best = _smallest_single(fitter, order, budget, settings)
    out, keep, kt, kl, tokens, k = best
    return Selection(keep, kt, kl, out, tokens, len(units), k, exact_counts)


def _cheapest(fitter: _Fitter, order: list[int], k: int = 40) -> list[int]:
    """The ``k`` units that cost least on their own (with their ancestors' tags), best rank first."""
    doc, units = fitter.doc, fitter.units
    alone = []
    for u in order:
        c, o = fitter.unit_cost[u], units.owner[u]
        while o >= 0:
            c += fitter.tag_cost[o]
            o = doc.parent[o]
        alone.append((c, u))
    rank = {u: r for r, u in enumerate(order)}
    return [u for _, u in sorted(alone, key=lambda x: (x[0], rank[x[1]]))[:k]]


def _smallest_single(
    fitter: _Fitter, order: list[int], budget: int, settings: BudgetSettings
) -> tuple[str, list[bool], list[bool], list[bool], int, int]:
    """When the greedy pass kept nothing: the best-ranked single unit whose exact count fits.

    Raises :class:`BudgetTooSmallError` naming the smallest budget among the cheapest units when
    none fits.
    """
    if not order:
        raise BudgetTooSmallError(f"the page has no content left to fit in {budget} tokens", None)
    fitting = []
    counts = []
    for u in _cheapest(fitter, order):
        out, keep, kt, kl = fitter.render([u], settings.mark_removed)
        tokens = fitter.counter.count(out)
        counts.append(tokens)
        if tokens <= budget and out:
            fitting.append((order.index(u), out, keep, kt, kl, tokens))
    if not fitting:
        smallest = min(counts, default=None)
        raise BudgetTooSmallError(
            f"a budget of {budget} tokens is too small for any part of this page; "
            f"the smallest budget that works is {smallest}",
            smallest,
        )
    _, out, keep, kt, kl, tokens = min(fitting, key=lambda x: x[0])
    return out, keep, kt, kl, tokens, 1
