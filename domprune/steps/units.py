"""The unit model of a filtered page: what budget fitting and chunking choose from, and its costs.

A unit is an element's text, a tail text, or an element whose attributes carry a label. Each unit
is costed with the tokenizer (its text), each element with the tags it writes; the cost of keeping
a unit is its own cost plus the tags of its ancestors not yet kept. BPE costs are almost additive,
so these estimates are close to the exact count of a serialization (which is always taken last).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from functools import cached_property
from itertools import compress, islice
from typing import Any

from ..document import Document, Flags, escape_text, filled, flags, ints, serialize
from ..markdown import header_cells
from ..tokenizers import TokenCounter
from .filtering import informative

TEXT, TAIL, ATTR = 0, 1, 2
# typical tokens per character of written output (Qwen2.5, outputs at 4,000 and 1,000 tokens on
# the corpora: text 0.23-0.31, tags 0.30-0.36, medians per corpus); budget fitting scales the sum
# by each exact count, so these only set the first guess
TEXT_TOKENS_PER_CHAR = 0.27
TAG_TOKENS_PER_CHAR = 0.34


class WrittenChars:
    """Characters of the whole filtered page as written: its texts' and its tags', each summed on
    first use (a prepared page sums them once for all its budgets and questions).

    >>> from domprune.document import flatten
    >>> from domprune.parse import parse_page
    >>> doc, _ = flatten(parse_page("<p>Hi <b>there</b></p>").root)
    >>> w = WrittenChars(doc, flags(len(doc.tags), True))
    >>> w.text, w.tags > 0
    (8, True)
    """

    def __init__(self, doc: Document, alive: Flags) -> None:
        self.doc, self.alive = doc, alive

    @cached_property
    def text(self) -> int:
        """Characters of the texts."""
        doc, alive = self.doc, self.alive
        parent_alive = map(alive.__getitem__, islice(doc.parent, 1, None))  # (all in C: no loop here)
        return sum(map(len, compress(doc.text, alive))) + sum(
            map(len, compress(islice(doc.tail, 1, None), parent_alive))
        )

    @cached_property
    def tags(self) -> int:
        """Characters of the tags as written."""
        doc, alive = self.doc, self.alive
        if not doc.closes:
            doc.finalize_tags()
        open_of, closes, tags, transparent = doc.open_of, doc.closes, doc.tags, doc.transparent
        return sum(
            [len(open_of(i)) + len(closes[tags[i]]) for i, a in enumerate(alive) if a and not transparent[i]]
        )


class Units:
    """Units of a page in document order, with the element that owns each one."""

    def __init__(self, doc: Document, alive: Flags) -> None:
        kind = bytearray()
        elem = ints()
        # document-order keys: an element's text at (i, 0, 0); a tail after its element's subtree,
        # before the next element, deeper tails first; each written as one int (see :meth:`key`)
        keys = array("q")
        text, tail, parent, end = doc.text, doc.tail, doc.parent, doc.end
        n = len(doc.tags)
        depth = filled(n)
        for i in range(1, n):
            depth[i] = depth[parent[i]] + 1
        self.stride = stride = n + 2  # more than any depth (+1)
        for i in range(n):
            if not alive[i]:
                if i and alive[parent[i]] and tail[i] and not tail[i].isspace():
                    kind.append(TAIL)
                    elem.append(i)
                    keys.append(end[i] * stride + n - depth[i])
                continue
            if text[i] and not text[i].isspace():
                kind.append(TEXT)
                elem.append(i)
                keys.append(i * stride + n + 1)
            elif informative(doc, i):
                kind.append(ATTR)
                elem.append(i)
                keys.append(i * stride + n + 1)
            if i and tail[i] and not tail[i].isspace():
                kind.append(TAIL)
                elem.append(i)
                keys.append(end[i] * stride + n - depth[i])
        if any(a > b for a, b in zip(keys, islice(keys, 1, None))):  # (in order already on most pages)
            order = sorted(range(len(keys)), key=keys.__getitem__)
            kind = bytearray([kind[k] for k in order])
            elem = ints([elem[k] for k in order])
            keys = array("q", [keys[k] for k in order])
        self.kind, self.elem, self.keys = kind, elem, keys
        self.depth = depth
        self.owner = ints(e if k != TAIL else parent[e] for k, e in zip(kind, elem))

    def key(self, at: int, tail_depth: int | None = None) -> int:
        """The sort key of a text at element ``at`` (``(at, 0, 0)``), or of a tail at position
        ``at`` of an element at ``tail_depth`` (``(at, -1, -depth)``: before the text there, deeper
        tails first), as one int."""
        n = self.stride - 2
        return at * self.stride + (n + 1 if tail_depth is None else n - tail_depth)

    def __len__(self) -> int:
        return len(self.kind)

    def span(self, i: int, end: list[int]) -> tuple[int, int]:
        """The units of element ``i``'s subtree, tails of its descendants included: ``range(*span)``."""
        keys = self.keys
        return bisect.bisect_left(keys, self.key(i)), bisect.bisect_left(
            keys, self.key(end[i], self.depth[i])
        )

    def texts(self, doc: Document) -> list[str]:
        """The words of every unit (as :meth:`text_of`)."""
        text, tail, kept = doc.text, doc.tail, doc.kept_attrs
        return [
            text[e] if k == TEXT else tail[e] if k == TAIL else " ".join(v for _, v in kept[e])
            for k, e in zip(self.kind, self.elem)
        ]

    def text_of(self, doc: Document, u: int) -> str:
        """The words of unit ``u``: its text, or its label attributes' values."""
        k, e = self.kind[u], self.elem[u]
        if k == TEXT:
            return doc.text[e]
        if k == TAIL:
            return doc.tail[e]
        return " ".join(v for _, v in doc.kept_attrs[e])


class UnitModel:
    """A filtered page's units with their token costs, and how to select and write a set of them.

    Costs are counted on first use and kept (a small budget needs only the costs of the units it
    considers; chunking asks :meth:`cost` and :meth:`tag` for the units it writes).
    """

    def __init__(self, doc: Document, alive: Flags, counter: TokenCounter, fmt: str) -> None:
        self.doc, self.alive, self.counter, self.fmt = doc, alive, counter, fmt
        self.units = Units(doc, alive)
        self.html = fmt == "html"
        if self.html and not doc.closes:
            doc.finalize_tags()
        self._ucost = filled(len(self.units), -1)
        self._tcost = filled(len(doc.tags), -1)
        self._counts: dict[str, int] = {}  # tokens of each distinct string counted
        self._headers: dict[int, list[int]] = {}  # element -> units of its table cell's header cells
        # what ranking finds on the page whatever the question (flags, blocks, texts...), kept once a
        # second question is asked of the page (PreparedPage.for_question): the questions after it
        # reuse it; a single prune does not hold it through fitting
        self.page_parts: dict[str, Any] = {}
        self.keep_page_parts = False

    def _count(self, s: str) -> int:
        c = self._counts.get(s)
        if c is None:
            c = self._counts[s] = self.counter.count(s)
        return c

    def cost(self, u: int) -> int:
        """Tokens of unit ``u``'s own text as written (escaped in HTML; a label value in text mode)."""
        c = self._ucost[u]
        if c < 0:
            units = self.units
            if units.kind[u] == ATTR:
                c = 0 if self.html else self._count(units.text_of(self.doc, u)[:200])
            else:
                s = units.text_of(self.doc, u)
                c = self._count(escape_text(s) if self.html else s)
            self._ucost[u] = c
        return c

    def tag(self, i: int) -> int:
        """Tokens of element ``i``'s open and close tags as written (0 when they are not written)."""
        c = self._tcost[i]
        if c < 0:
            doc = self.doc
            if self.html and self.alive[i] and not doc.transparent[i]:
                c = self._count(doc.open_of(i)) + self._count(doc.closes[doc.tags[i]])
            else:
                c = 0
            self._tcost[i] = c
        return c

    def alone_cost(self, u: int) -> int:
        """Estimated tokens of unit ``u`` written alone, with all its ancestors' tags."""
        c, o = self.cost(u), self.units.owner[u]
        parent, tag = self.doc.parent, self.tag
        while o >= 0:
            c += tag(o)
            o = parent[o]
        return c

    @cached_property
    def chars(self) -> tuple[array, array]:
        """Characters of each unit's text, and of each element's tags (-1 until asked for: see
        :meth:`tag_chars`), as written: the estimates of their tokens are these times
        :data:`TEXT_TOKENS_PER_CHAR` and :data:`TAG_TOKENS_PER_CHAR` (no tokenizer: budget fitting
        corrects the estimate with the exact count of each output)."""
        doc, units = self.doc, self.units
        if self.html:
            unit = ints(0 if k == ATTR else len(t) for k, t in zip(units.kind, units.texts(doc)))
            return unit, filled(len(doc.tags), -1)
        unit = ints(min(len(t), 200 if k == ATTR else len(t)) for k, t in zip(units.kind, units.texts(doc)))
        return unit, filled(len(doc.tags))

    def tag_chars(self, i: int) -> int:
        """Characters of element ``i``'s tags as written (0 when they are not written)."""
        doc = self.doc
        tag = self.chars[1]
        t = tag[i] = (
            len(doc.open_of(i)) + len(doc.closes[doc.tags[i]])
            if self.alive[i] and not doc.transparent[i]
            else 0
        )
        return t

    def select(self, order: Iterable[int], limit: float) -> tuple[list[int], list[float]]:
        """Greedily take units in ``order`` while the estimated cost stays within ``limit``.

        Returns the units taken (in ``order``) and the running estimated cost after each one.
        Once the limit is nearly reached, the scan for smaller units that still fit stops after a
        run of misses.
        """
        doc, units = self.doc, self.units
        kept = flags(len(doc.tags))
        parent, owner = doc.parent, units.owner
        cost, tag = self.chars
        taken: list[int] = []
        cum: list[float] = []
        total = 0.0
        misses = 0
        near = 0.97 * limit
        per_text, per_tag = TEXT_TOKENS_PER_CHAR, TAG_TOKENS_PER_CHAR
        for u in order:
            c = cost[u] * per_text
            o = owner[u]
            if kept[o]:
                chain = None
            else:
                chain = []
                while o >= 0 and not kept[o]:
                    chain.append(o)
                    t = tag[o]
                    c += (t if t >= 0 else self.tag_chars(o)) * per_tag
                    o = parent[o]
            if total + c > limit:
                if total >= near:
                    misses += 1
                    if misses > 48:
                        break
                continue
            misses = 0
            if chain:
                for x in chain:
                    kept[x] = True
            total += c
            taken.append(u)
            cum.append(total)
        return taken, cum

    def _with_table_headers(self, taken: list[int]) -> list[int]:
        """``taken`` and the units of the header cells of the table cells they are in."""
        doc, units, headers = self.doc, self.units, self._headers
        extra: list[int] = []
        seen: set[int] | None = None
        for u in taken:
            o = units.owner[u]
            cells = headers.get(o)
            if cells is None:
                cells = headers[o] = [v for c in header_cells(doc, o) for v in range(*units.span(c, doc.end))]
            if cells:
                if seen is None:
                    seen = set(taken)
                for v in cells:
                    if v not in seen:
                        seen.add(v)
                        extra.append(v)
        return taken + extra if extra else taken

    def render(
        self, taken: list[int], mark_removed: bool, local: bool = False
    ) -> tuple[str, Flags, Flags, Flags]:
        """Serialize the units ``taken``; ``local`` when they are few and close together (chunks).

        Returns the text and the keep / keep-text / keep-tail flags of every element. In Markdown a
        kept table cell brings its row's first cell and its column's header cell (see
        :func:`~domprune.markdown.header_cells`), except in chunks, where every text is in one chunk.
        """
        doc, units = self.doc, self.units
        if self.fmt == "markdown" and not local and taken:
            taken = self._with_table_headers(taken)
        n = len(doc.tags)
        keep = flags(n)
        keep_text = flags(n)
        keep_tail = flags(n)
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
