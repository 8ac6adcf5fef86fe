"""Hierarchical chunking: ordered chunks along subtree boundaries, each within the budget.

A subtree that fits goes whole into a chunk; one that does not is split into its children, and so
on down. Consecutive pieces are packed into chunks. Every chunk is written with the tags of its
ancestors, so it is well-formed and stands alone; every kept text is in exactly one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..document import Document
from ..errors import BudgetTooSmallError
from .ranking import Ranking, heading_elements
from .units import TAIL, TEXT, UnitModel, Units


@dataclass
class Chunk:
    """One chunk of a page."""

    index: int
    """Position of the chunk in the page, from 0."""
    output: str
    """The chunk, written with its ancestors' tags (well-formed on its own), or as text."""
    tokens: int
    """Exact tokens of ``output``; at most the chunk budget."""
    path: list[str]
    """Tags from the root to the deepest element holding the whole chunk (with a role, aria-label
    or title when there is one), e.g. ``['html', 'main', 'section']``."""
    headings: list[str]
    """Texts of the headings in force where the chunk starts, outermost first."""
    score: float | None = None
    """With a question, the ranking's score of the chunk (higher first; see :func:`domprune.chunk`);
    ``None`` without one."""


def _describe(doc: Document, i: int) -> str:
    label = doc.tags[i]
    for k, v in doc.kept_attrs[i]:
        if k in ("role", "aria-label", "aria_label", "title") and v:
            return f"{label}[{k}={v[:40]}]"
    return label


def chunk_document(
    model: UnitModel, budget: int, *, ranking: Callable[[], Ranking] | None = None
) -> list[Chunk]:
    """Split the filtered document into chunks of at most ``budget`` tokens each.

    With ``ranking`` (a question's), each chunk gets a score: its best unit's relevance as a share
    of the page's top relevance, plus a hundredth of its best unit's priority; without any match,
    its best unit's priority plus 1 for a header unit.
    """
    doc, alive, counter = model.doc, model.alive, model.counter
    units = model.units
    n_units = len(units)
    if not n_units:
        return []
    end, parent = doc.end, doc.parent
    own_unit: dict[int, int] = {}
    tail_unit: dict[int, int] = {}
    for u in range(n_units):
        (tail_unit if units.kind[u] == TAIL else own_unit)[units.elem[u]] = u
    # estimated cost of each subtree: its tags, its text and its descendants with their tails
    n = len(doc.tags)
    sub = [0.0] * n
    for i in range(n - 1, -1, -1):
        if alive[i]:
            sub[i] += model.tag(i)
            if i in own_unit:
                sub[i] += model.cost(own_unit[i])
        if i:
            sub[parent[i]] += sub[i] + (model.cost(tail_unit[i]) if i in tail_unit else 0)

    def units_of(i: int) -> list[int]:
        return list(range(*units.span(i, end)))

    # pieces in document order: whole subtrees that fit, else their parts
    pieces: list[list[int]] = []
    stack: list[tuple[bool, int]] = [(False, 0)]
    while stack:
        is_tail, i = stack.pop()
        if is_tail:
            if i in tail_unit:
                pieces.append([tail_unit[i]])
            continue
        if not alive[i]:
            continue
        if sub[i] <= budget * 0.9:
            us = units_of(i)
            if us:
                pieces.append(us)
            continue
        if i in own_unit:
            pieces.append([own_unit[i]])
        kids = []
        j = i + 1
        while j < end[i]:
            kids.append(j)
            j = end[j]
        for c in reversed(kids):
            stack.append((True, c))
            stack.append((False, c))

    chunks_units = _pack(model, pieces, budget)
    chunks: list[Chunk] = []
    chunk_units: list[list[int]] = []
    heading_text = _heading_trail(doc, units)
    for us in chunks_units:
        out, _, _, _ = model.render(us, False, local=True)
        tokens = counter.count(out)
        if tokens > budget:
            # estimates were off: split in halves until every part fits
            parts = [us]
            while parts:
                part = parts.pop(0)
                o, _, _, _ = model.render(part, False, local=True)
                t = counter.count(o)
                if t <= budget:
                    chunks.append(_make(doc, units.owner, o, t, part, heading_text, len(chunks)))
                    chunk_units.append(part)
                elif len(part) == 1:
                    # one text larger than a chunk: split it at sentences, then words
                    for o, t in _split_unit(model, part[0], budget, chunks_units):
                        chunks.append(_make(doc, units.owner, o, t, part, heading_text, len(chunks)))
                        chunk_units.append(part)
                else:
                    mid = len(part) // 2
                    parts[0:0] = [part[:mid], part[mid:]]
            continue
        chunks.append(_make(doc, units.owner, out, tokens, us, heading_text, len(chunks)))
        chunk_units.append(us)
    if ranking is not None:
        # the same ranking as budget fitting: relevance with context, header units, main content
        rk = ranking()
        prio, header, rel = rk.prio, rk.header, rk.rel
        if rel and max(rel) > 0:
            # the chunk's own best match; position and structure only break ties
            top = max(rel)
            for c, us in zip(chunks, chunk_units):
                c.score = round(max(rel[u] for u in us) / top + 0.01 * max(prio[u] for u in us), 4)
        else:  # nothing matches the question: the header and main content first
            for c, us in zip(chunks, chunk_units):
                c.score = round(max((prio[u] + (1.0 if header.get(u) else 0.0) for u in us), default=0.0), 4)
    return chunks


_SENTENCE = re.compile(r"(?<=[.!?。！？;:])\s+|\n+")


def _segments(text: str, limit: int) -> list[str]:
    """``text`` cut after sentence ends, and sentences longer than ``limit`` characters at spaces
    (a word longer than that at ``limit`` characters); joining the segments gives ``text`` back."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    out.append(text[start:])
    fine: list[str] = []
    for seg in out:
        while len(seg) > limit:
            cut = seg.rfind(" ", 0, limit)
            cut = cut + 1 if cut > 0 else limit
            fine.append(seg[:cut])
            seg = seg[cut:]
        if seg:
            fine.append(seg)
    return fine


def _split_unit(
    model: UnitModel, u: int, budget: int, chunks_units: list[list[int]]
) -> list[tuple[str, int]]:
    """Chunks of one unit whose text is over ``budget``: consecutive runs of its sentences (or words),
    each written with the unit's ancestors and counted exactly."""
    doc, units, count = model.doc, model.units, model.counter.count
    field = doc.text if units.kind[u] == TEXT else doc.tail if units.kind[u] == TAIL else None
    e = units.elem[u]

    def render(piece: str) -> tuple[str, int]:
        assert field is not None
        original = field[e]
        field[e] = piece
        try:
            out = model.render([u], False, local=True)[0]
        finally:
            field[e] = original
        return out, count(out)

    frame = render(" ")[1] if field is not None else budget + 1
    if frame + 2 > budget:  # the tags around the text leave no room: say which budget works
        need = max(frame + 2, _largest_single(model, chunks_units, budget) if field is None else 0)
        raise BudgetTooSmallError(
            f"the tags around one text need {frame} tokens, over the chunk budget of {budget}; "
            f"the smallest budget that works is {need}",
            need,
        )
    room = budget - frame
    text = field[e]
    segs = _segments(text, max(8, room * 2))  # a token is at least one character; most are more
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(segs):
        j, est = i, 0
        while j < len(segs) and (j == i or est + count(segs[j]) <= room):
            est += count(segs[j])
            j += 1
        while True:
            o, t = render("".join(segs[i:j]))
            if t <= budget or j == i + 1:
                break
            j -= 1
        if t > budget:  # one segment still too long: cut it in halves
            seg = segs[i]
            segs[i : i + 1] = [seg[: len(seg) // 2], seg[len(seg) // 2 :]]
            continue
        out.append((o, t))
        i = j
    return out


def _largest_single(model: UnitModel, chunks_units: list[list[int]], budget: int) -> int:
    """Exact tokens of the costliest single unit (with its ancestors) among those estimated over budget."""
    worst = 0
    for us in chunks_units:
        for u in us:
            if model.alone_cost(u) >= budget * 0.8:
                worst = max(worst, model.counter.count(model.render([u], False, local=True)[0]))
    return worst


def _pack(model: UnitModel, pieces: list[list[int]], budget: int) -> list[list[int]]:
    """Pack consecutive pieces into chunks by estimated cost (ancestor tags counted per chunk)."""
    doc = model.doc

    def cost(piece: list[int], kept: set[int]) -> tuple[float, set[int]]:
        """The piece's units plus the tags of their ancestors not yet in the chunk."""
        add_cost, new_kept = 0.0, set()
        for u in piece:
            add_cost += model.cost(u)
            o = model.units.owner[u]
            while o >= 0 and o not in kept and o not in new_kept:
                new_kept.add(o)
                add_cost += model.tag(o)
                o = doc.parent[o]
        return add_cost, new_kept

    chunks: list[list[int]] = []
    current: list[int] = []
    kept: set[int] = set()
    total = 0.0
    for piece in pieces:
        add_cost, new_kept = cost(piece, kept)
        if current and total + add_cost > budget:
            chunks.append(current)
            current, kept, total = [], set(), 0.0
            add_cost, new_kept = cost(piece, kept)
        current.extend(piece)
        kept.update(new_kept)
        total += add_cost
    if current:
        chunks.append(current)
    return chunks


def _heading_trail(doc: Document, units: Units) -> dict[int, list[str]]:
    """For each unit, the texts of the headings in force where it starts (h1 > h2 > ...)."""
    trail: list[tuple[int, str]] = []
    out: dict[int, list[str]] = {}
    heading_of = heading_elements(doc)
    for u, (k, e) in enumerate(zip(units.kind, units.elem)):
        o = units.owner[u]
        h = heading_of[o]
        if h >= 0 and k != TAIL:
            level = int(doc.tags[h][1])
            trail = [(lv, t) for lv, t in trail if lv < level]
            out[u] = [t for _, t in trail]  # a chunk that starts with a heading: its parents
            trail.append((level, " ".join(doc.text[e].split())[:120]))
        else:
            out[u] = [t for _, t in trail]
    return out


def _make(
    doc: Document,
    units_owner: list[int],
    out: str,
    tokens: int,
    us: list[int],
    heading_text: dict[int, list[str]],
    index: int,
) -> Chunk:
    # the path: the deepest element that holds every unit of the chunk (their common ancestor)
    owners = {units_owner[u] for u in us}
    common: list[int] = []
    for o in owners:
        chain = []
        while o >= 0:
            chain.append(o)
            o = doc.parent[o]
        chain.reverse()
        if not common:
            common = chain
        else:
            k = 0
            while k < min(len(common), len(chain)) and common[k] == chain[k]:
                k += 1
            common = common[:k]
    path = [_describe(doc, i) for i in common if not doc.transparent[i]]
    return Chunk(index, out, tokens, path, heading_text.get(us[0], []) if us else [])
