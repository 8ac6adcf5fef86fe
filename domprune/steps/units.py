"""The unit model of a filtered page: what budget fitting and chunking choose from, and its costs.

A unit is an element's text, a tail text, or an element whose attributes carry a label. Each unit
is costed with the tokenizer (its text), each element with the tags it writes; the cost of keeping
a unit is its own cost plus the tags of its ancestors not yet kept. BPE costs are almost additive,
so these estimates are close to the exact count of a serialization (which is always taken last).
"""

from __future__ import annotations

from ..document import Document, escape_text, serialize
from ..tokenizers import TokenCounter
from .filtering import informative

TEXT, TAIL, ATTR = 0, 1, 2


class Units:
    """Units of a page in document order, with the element that owns each one."""

    def __init__(self, doc: Document, alive: list[bool]) -> None:
        kind: list[int] = []
        elem: list[int] = []
        # document-order keys: an element's text at (i, 0, 0); a tail after its element's subtree,
        # before the next element, deeper tails first
        keys: list[tuple[int, int, int]] = []

        def add(k: int, i: int, key: tuple[int, int, int]) -> None:
            kind.append(k)
            elem.append(i)
            keys.append(key)

        text, tail, parent, end = doc.text, doc.tail, doc.parent, doc.end
        depth = [0] * len(doc.tags)
        for i in range(1, len(doc.tags)):
            depth[i] = depth[parent[i]] + 1
        for i in range(len(doc.tags)):
            if not alive[i]:
                if i and alive[parent[i]] and tail[i] and not tail[i].isspace():
                    add(TAIL, i, (end[i], -1, -depth[i]))
                continue
            if text[i] and not text[i].isspace():
                add(TEXT, i, (i, 0, 0))
            elif informative(doc, i):
                add(ATTR, i, (i, 0, 0))
            if i and tail[i] and not tail[i].isspace():
                add(TAIL, i, (end[i], -1, -depth[i]))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.kind = [kind[k] for k in order]
        self.elem = [elem[k] for k in order]
        self.keys = [keys[k] for k in order]
        self.depth = depth
        self.owner = [e if k != TAIL else parent[e] for k, e in zip(self.kind, self.elem)]

    def __len__(self) -> int:
        return len(self.kind)

    def text_of(self, doc: Document, u: int) -> str:
        """The words of unit ``u``: its text, or its label attributes' values."""
        k, e = self.kind[u], self.elem[u]
        if k == TEXT:
            return doc.text[e]
        if k == TAIL:
            return doc.tail[e]
        return " ".join(v for _, v in doc.kept_attrs[e])


class UnitModel:
    """A filtered page's units with their token costs, and how to select and write a set of them."""

    def __init__(self, doc: Document, alive: list[bool], counter: TokenCounter, fmt: str) -> None:
        self.doc, self.alive, self.counter, self.fmt = doc, alive, counter, fmt
        self.units = Units(doc, alive)
        self.tag_cost = [0] * len(doc.tags)
        self._cost_units_and_tags()

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

    @property
    def estimate(self) -> int:
        """Estimated tokens of the whole filtered page."""
        return sum(self.unit_cost) + sum(self.tag_cost)

    def alone_cost(self, u: int) -> int:
        """Estimated tokens of unit ``u`` written alone, with all its ancestors' tags."""
        c, o = self.unit_cost[u], self.units.owner[u]
        parent, tag_cost = self.doc.parent, self.tag_cost
        while o >= 0:
            c += tag_cost[o]
            o = parent[o]
        return c

    def select(self, order: list[int], limit: float) -> tuple[list[int], list[float]]:
        """Greedily take units in ``order`` while the estimated cost stays within ``limit``.

        Returns the units taken (in ``order``) and the running estimated cost after each one.
        """
        doc, units = self.doc, self.units
        kept = [False] * len(doc.tags)
        parent, tag_cost, unit_cost, owner = doc.parent, self.tag_cost, self.unit_cost, units.owner
        taken: list[int] = []
        cum: list[float] = []
        total = 0.0
        for u in order:
            c = unit_cost[u]
            o = owner[u]
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
        """Serialize the units ``taken``; ``local`` when they are few and close together (chunks).

        Returns the text and the keep / keep-text / keep-tail flags of every element.
        """
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
