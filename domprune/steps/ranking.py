"""Ranking the units of a page: what to keep first when not everything fits.

Header units (title, h1, informative meta, JSON-LD, bylines) come first, within a share of the
budget; then, with a question, relevance (BM25 over blocks, own words, class/id hints, answer
patterns) with the context that gives a relevant value its meaning (label, row and column headers,
nearest heading); then main content before navigation, footers and sidebars; then earlier first.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import accumulate, compress, islice
from operator import add, mul, sub
from typing import Any, TypeVar

from ..document import Document, Flags, filled, flags, ints
from ..settings import BudgetSettings
from ..tags import BLOCK, HEADINGS
from .dense import MAX_BLOCK_CHARS, block_similarities, get_embedder
from .relevance import (
    JoinedTexts,
    Query,
    bm25_blocks,
    candidate_pattern,
    kinds_pattern,
    match_terms,
    matcher,
    stem,
    strings_matching,
    texts_matching,
    words,
)
from .units import ATTR, TEXT, UnitModel

T = TypeVar("T")

_BOILERPLATE_TAGS = frozenset({"nav", "footer", "aside", "menu", "dialog"})
_BOILERPLATE_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog",
     "toolbar", "alertdialog"}
)  # fmt: skip
# class, id and role words (patterns in lower case, run over all of a page's distinct hints at once)
_BOILERPLATE_HINT = matcher(
    r"(?:^|[\s_-])(?P<key>nav|navbar|navigation|menu|footer|sidebar|side-bar|cookie|consent|banner"
    r"|breadcrumbs?|social|share|sharing|related|promo|advert|ads?|sponsor|subscribe|newsletter|popup"
    r"|modal|skip|comments?|widget|masthead|toolbar|pagination|filters?|facets?|refine(ments)?)(?:$|[\s_-])",
    True,
    re.MULTILINE,
)
_MAIN_HINT = matcher(
    r"(?:^|[\s_-])(?P<key>main|content|article|post|entry|story|body|text|prose|blog-post|product)(?:$|[\s_-])",
    True,
    re.MULTILINE,
)
_BYLINE_HINT = matcher(
    r"(?P<key>byline|author|autor|auteur|date|published|posted|time|dateline|creator|writer|reporter)", True
)
DENSE_FLOOR = 0.25  # a block less similar to the question than this gains nothing by meaning
DENSE_TOP = 8  # blocks that gain relevance by meaning, the most similar first
RELEVANT_SHARE = 0.15
"""A unit is relevant to the question when its relevance is at least this share of the page's top;
relevant units lift their context (and ``explain`` marks them)."""
_MAIN_TAGS = frozenset({"main", "article"})
_PAGE_TAGS = frozenset({"html", "body"})
_HEADER_TAGS = frozenset({"title", "h1", "meta", "script"})
_KEY_META = re.compile(r"site_name|author|creator|publish|date|byline", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_THREE_WORDS = re.compile(r"\W*(\w+)(?:\W+(\w+))?(?:\W+(\w+))?")  # the first three of _WORD's matches
_HINT_ATTRS = frozenset({"class", "id", "role", "itemprop", "rel", "name", "property", "aria-label"})
_BROAD_KINDS = frozenset({"date", "money", "isbn", "number"})
_LINK_TAGS = frozenset({"a", "button", "option", "select", "label"})
_HEAD_TAGS = frozenset({"meta", "title", "script"})
# a label and its value in a small box: <div><div>Brand</div><div>Acme</div></div>, <li><p>..</p><p>..</p></li>
_PAIR_BOXES = frozenset({"div", "li", "section", "p", "span", "a", "dd", "header"})
_BLOCK_PARENTS = frozenset({"tr", "dl"}) | _PAIR_BOXES  # elements whose children may join one block
_PAIR_PARTS = frozenset(
    {"div", "p", "span", "label", "strong", "b", "em", "dt", "dd", "h3", "h4", "h5", "h6"}
)
# a fact run: "Label: value" pairs one after another in one block, written with inline labels
# (<b>Pages:</b> 304<br><b>Publisher:</b> Orbit) or as lines (Pages: 304<br>Publisher: Orbit)
_LABEL_TAGS = frozenset({"b", "strong", "span", "em", "i", "u", "label", "font", "small", "dt", "th"})
_LABEL_ONLY = re.compile(r"^\s*[^\W\d][^:]{0,38}:\s*$")
_LABEL_VALUE = re.compile(r"^\s*[^\W\d][^:\n]{0,38}:\s+\S")
_PAIR_UNITS = 4  # a pair: its label and at most this many units of value after it
_SHORT_CELL = 160  # characters: a row or column header cell longer than this is a layout column


@dataclass
class Ranking:
    """Per unit: priority (higher first), header rank (of the header units), question relevance."""

    prio: array  # of float, as every per-unit column here (a huge page has 10^5 units)
    header: dict[int, float]  # header rank of the header units (title, h1, meta, JSON-LD, byline)
    rel: array  # empty without a question
    structure: Callable[[], array]  # priority from structure and position alone (see ``base``)
    boilerplate: Flags = field(default_factory=bytearray)  # unit in navigation, footer, sidebar...
    terms: dict[str, float] = field(default_factory=dict)  # the question's terms and page words matched

    @cached_property
    def base(self) -> array:
        """Priority from structure and position alone, before the question: the page's, kept for
        its questions once it has a second one; else computed when asked for (a copy of ``prio``
        per ranking is 8 bytes a unit)."""
        return self.structure()


class SparseHints(dict[int, str]):
    """The hint words of the elements that have any, "" for the others: on a page where few
    elements have a class, id or role, a list would hold a pointer for each of its elements.

    >>> h = SparseHints({3: "nav"}); h[3], h[4]
    ('nav', '')
    """

    def __missing__(self, key: int) -> str:
        return ""


Hints = list[str] | SparseHints
"""Each element's hint words, indexed by element (see :func:`element_flags`)."""


def _distinct_hints(hints: Hints) -> list[str]:
    """The distinct hint words of a page (class strings repeat down a page: match each once)."""
    return [h for h in set(hints.values() if isinstance(hints, dict) else hints) if h]


def _elements_with(hints: Hints, wanted: set[str]) -> list[int]:
    """The elements whose hint words are among ``wanted``, in order."""
    if isinstance(hints, dict):
        return sorted(i for i, h in hints.items() if h in wanted)
    return [i for i, h in enumerate(hints) if h in wanted]


def element_flags(doc: Document, alive: Flags) -> tuple[Flags, Flags, Hints]:
    """Boilerplate and main-content flags (inherited down the tree) and each element's hint words."""
    n = len(doc.tags)
    hints: Hints = [""] * n
    tags, attrs, end = doc.tags, doc.attrs, doc.end
    roles: dict[int, str] = {}
    count = 0
    for i in (i for i, a in enumerate(attrs) if a and alive[i]):  # (no list: 10^5 on a huge page)
        vals = []
        for k, v in attrs[i]:
            if k in _HINT_ATTRS:
                vals.append(v)
                if k == "role":
                    roles[i] = v.lower()
        if vals:
            hints[i] = " ".join(vals)
            count += 1
    if count * 8 < n:  # (a dict entry costs about eight list entries)
        hints = SparseHints((i, h) for i, h in enumerate(hints) if h)
    distinct = _distinct_hints(hints)
    main_hint = {distinct[k] for k in strings_matching(_MAIN_HINT, distinct)}
    bp_hint = {distinct[k] for k in strings_matching(_BOILERPLATE_HINT, distinct)}
    # an element marks its whole subtree (slices: the marks are few, the subtrees contiguous)
    main = flags(n)
    marks = _positions(tags, _MAIN_TAGS, 0, n) + [i for i, r in roles.items() if r == "main"]
    link_text = _LinkText(doc, alive)  # (its sums are made when first read)
    if main_hint:
        # a class that says "main" on a list of links (id="category-main", "main-menu") names
        # navigation: an element whose text is mostly link text is not main content by its hint
        # (a head element's class says nothing of the page: <script class="yoast-schema-graph--main">)
        hinted = [i for i in _elements_with(hints, main_hint) if tags[i] not in _HEAD_TAGS]
        marks += _not_link_lists(doc, link_text, hinted)
    regions = []  # the outermost elements that make main content
    for i in sorted(marks):
        if not main[i] and alive[i]:
            main[i : end[i]] = _ONES * (end[i] - i)
            regions.append(i)
    if regions:
        # a menu, a facet tree or a list of teasers inside main content is not main content
        for i in _link_lists_within(doc, link_text, main, regions):
            main[i : end[i]] = bytes(end[i] - i)
    bp = flags(n)
    marks = _positions(tags, _BOILERPLATE_TAGS, 0, n)
    marks += [i for i in _positions(tags, _HEADER, 0, n) if not main[i]]
    marks += [i for i, r in roles.items() if r in _BOILERPLATE_ROLES]
    if bp_hint:
        # a class names navigation, but the element wraps most of the page (<body class="has_nav">,
        # a layout div): it is the page, not its navigation
        wrapper = n // 2
        marks += [
            i for i in _elements_with(hints, bp_hint) if tags[i] not in _PAGE_TAGS and end[i] - i <= wrapper
        ]
    for i in sorted(marks):
        if not bp[i] and alive[i]:
            bp[i : end[i]] = _ONES * (end[i] - i)
    return bp, main, hints


_LINK_LIST_CHARS = 30  # a list of links has more link text than "By: <a>Jane Doe</a>"
# link text, for the density: the text of links and of the controls that choose or go somewhere
_LINK_TEXT = frozenset({"a", "option", "button"})
_HEADER, _H1 = frozenset({"header"}), frozenset({"h1"})


def _not_link_lists(doc: Document, link_text: _LinkText, elements: list[int]) -> list[int]:
    """``elements`` less those whose text is more than half link text (the link density that
    Readability and boilerpipe read), with more than :data:`_LINK_LIST_CHARS` characters of it. A
    list item is judged by its list (``<li class="main"><a>Fiction</a></li>``: a menu's entry)."""
    tags, parent = doc.tags, doc.parent
    judged = [parent[i] if tags[i] == "li" and parent[i] >= 0 else i for i in elements]
    distinct = list(set(judged))
    sizes = dict(zip(distinct, link_text.sizes(distinct)))
    return [i for i, j in zip(elements, judged) if not _mostly_links(*sizes[j])]


def _mostly_links(chars: int, link: int) -> bool:
    """Whether text of ``chars`` characters, ``link`` of them link text, is a list of links: more
    than half link text, with more than :data:`_LINK_LIST_CHARS` characters of it."""
    return link > _LINK_LIST_CHARS and 2 * link > chars


_LISTS = frozenset({"ul", "ol", "dl", "select"})
_COLUMNS = frozenset({"div", "section", "td", "table"})  # layout columns, when over _SHORT_CELL characters
_PARTS = _LISTS | _COLUMNS


def _link_lists_within(doc: Document, link_text: _LinkText, main: Flags, regions: list[int]) -> list[int]:
    """The parts of main content that are lists of links: a list (``ul``, ``ol``, ``dl``,
    ``select``), or a column (``div``, ``section``, ``td``, ``table`` of more than
    :data:`_SHORT_CELL` characters: not a value cell), that is mostly links (:func:`_mostly_links`)
    and holds less than half of its main-content region's text (the region itself, an article
    whose every product name is a link, stays main content) and no ``h1`` (an article's head: its
    title, byline and linked tags).

    ``regions``: the outermost elements that made main content, in document order."""
    tags, end, parent, alive = doc.tags, doc.end, doc.parent, link_text.alive
    heads = set()  # the elements that hold an h1
    for r in regions:
        for k in _positions(tags, _H1, r, end[r]):
            while k >= 0 and k not in heads:
                heads.add(k)
                k = parent[k]
    parts = [
        i
        for r in regions
        for i in _positions(tags, _PARTS, r + 1, end[r])
        if (end[i] - i > 2 or tags[i] in _LISTS) and alive[i] and main[i] and i not in heads
    ]
    if not parts:
        return []
    judged = list(set(parts) | set(regions))
    sizes = dict(zip(judged, link_text.sizes(judged)))
    out = []
    for i in parts:
        chars, link = sizes[i]
        if not _mostly_links(chars, link) or (tags[i] in _COLUMNS and chars <= _SHORT_CELL):
            continue
        region = regions[bisect.bisect_right(regions, i) - 1]
        if 2 * chars < sizes[region][0]:
            out.append(i)
    return out


def _positions(tags: list[str], wanted: frozenset[str], lo: int, hi: int) -> list[int]:
    """The indices in ``[lo, hi)`` of the ``wanted`` tags, in order (one pass, in C)."""
    return list(compress(range(lo, hi), map(wanted.__contains__, tags[lo:hi])))


class _LinkText:
    """Characters of text in an element's subtree, and of them those of link text (in a link, an
    option or a button: :data:`_LINK_TEXT`): the link density that Readability and boilerpipe read.

    The texts of the live elements (a removed script's text is not the element's), summed once for
    the page along the document order (a subtree is a contiguous range), in C: maps over the
    columns and slices; made when first read, then shared by every element asked about.

    >>> from domprune.document import flatten
    >>> from domprune.parse import parse_page
    >>> doc, _ = flatten(parse_page("<div>By <a>Ada</a>, <a>Bo</a></div>").root)
    >>> _LinkText(doc, flags(len(doc.tags), True)).sizes([doc.tags.index("div")])
    [(10, 5)]
    """

    def __init__(self, doc: Document, alive: Flags) -> None:
        self.doc, self.alive = doc, alive

    @cached_property
    def _sums(self) -> tuple[array, array, array, Flags]:
        """Running sums of characters and of link characters in document order, each element's
        tail, and whether each element is inside a live link (below its top)."""
        doc, alive = self.doc, self.alive
        end, parent = doc.end, doc.parent
        n = len(doc.tags)
        # characters at each element: its own text and its tail (the parser writes a run of white
        # space as one space: lengths need no stripping); subtree i holds its elements' texts and
        # tails, less i's own tail (that is its parent's). A removed element's text is not counted,
        # a tail only under a live parent (the root's tail cancels out: no subtree holds it alone)
        after = list(map(mul, map(len, doc.tail), map(alive.__getitem__, parent)))
        both = list(map(add, map(mul, map(len, doc.text), alive), after))
        # the same characters where they are link text: each outermost live link's subtree
        linked_both = [0] * n
        inside = flags(n)
        covered = 0  # (a link's inner links are skipped; a removed link's subtree is removed too)
        for k in _positions(doc.tags, _LINK_TEXT, 0, n):
            if k < covered:
                continue
            if alive[k]:
                linked_both[k : end[k]] = both[k : end[k]]
                linked_both[k] -= after[k]  # the link's own tail is not link text
                inside[k + 1 : end[k]] = _ONES * (end[k] - k - 1)
            covered = end[k]
        # (machine ints: running sums are large numbers, an object each in a list)
        return (
            array("q", accumulate(both, initial=0)),
            array("q", accumulate(linked_both, initial=0)),
            array("q", after),
            inside,
        )

    def sizes(self, elements: Sequence[int]) -> list[tuple[int, int]]:
        """(characters, link characters) of each of ``elements``."""
        chars, linked, after, inside = self._sums
        ends = list(map(self.doc.end.__getitem__, elements))
        total = map(sub, map(chars.__getitem__, ends), map(chars.__getitem__, elements))
        total = map(sub, total, map(after.__getitem__, elements))
        link = list(map(sub, map(linked.__getitem__, ends), map(linked.__getitem__, elements)))
        for k in compress(range(len(elements)), map(inside.__getitem__, elements)):
            link[k] -= after[elements[k]]  # inside a link: its own tail is link text, but its parent's
        return list(zip(total, link))


def _structure_priority(
    owner: Sequence[int], elem: Sequence[int], bp: Flags, main: Flags, n_elements: int, boiler: bool
) -> array:
    """Each unit's priority from structure and position: main content first, then the rest,
    boilerplate last (with ``boiler``); earlier before later within each."""
    n_el = max(1, n_elements)
    return array(
        "d",
        (
            0.1 * (1 - e / n_el)
            if boiler and bp[o]
            else 0.6 + 0.4 * (1 - e / n_el)
            if main[o]
            else 0.3 + 0.3 * (1 - e / n_el)
            for o, e in zip(owner, elem)
        ),
    )


def heading_elements(doc: Document) -> array:
    """For each element, the heading element (h1-h6) it sits in, or -1."""
    out = filled(len(doc.tags), -1)
    end = doc.end
    for i in [i for i, t in enumerate(doc.tags) if t in HEADINGS]:  # in document order: inner ones last
        out[i : end[i]] = array("i", (i,)) * (end[i] - i)
    return out


def rank_units(model: UnitModel, query: Query | None, settings: BudgetSettings) -> Ranking:
    """Rank ``model``'s units for ``query`` (``None``: no question)."""
    return _Ranker(model, settings).rank(query)


_ONES = b"\x01"
_DIGITS = str.maketrans("123456789", "000000000")
_MIXED = re.compile(r"\d[^\W\d]|[^\W\d]\d")  # a word of both digits and other word characters
_MEMO_SIZE = 65536
_MEMO_AFTER = 2000


class _Memo:
    """Values of a function of a text that depends on its digits only through which words are all
    digits: texts that differ only in such digits ("Item 12 name", "Item 47 name") share one entry.

    Exact for any function that treats a word of digits the same whatever its digits and length
    above one (as :func:`_leading_words` does, and :func:`_only_names` of :func:`_first_words`:
    every number counts as a name, whatever its digits); texts with a word mixing
    digits and letters are computed alone. Holds at most ``_MEMO_SIZE`` entries, and starts after
    ``_MEMO_AFTER`` calls (a page of a few hundred units gains nothing from it).
    """

    def __init__(self) -> None:
        self.known: dict[str, Any] = {}
        self.direct = _MEMO_AFTER  # calls computed directly first: a normal page never pays for keys

    def get(self, text: str, fn: Callable[[str], T]) -> T:
        if self.direct:
            self.direct -= 1
            return fn(text)
        key = text.translate(_DIGITS)
        hit = self.known.get(key, _MISSING)  # (a key is stored only when it mixes no digits and letters)
        if hit is _MISSING:
            hit = fn(text)
            # the key mixes digits and letters exactly where the text does (\d matches the digits
            # it does not translate too)
            if len(self.known) < _MEMO_SIZE and _MIXED.search(key) is None:
                self.known[key] = hit
        return hit  # type: ignore[no-any-return]


_MISSING = object()


_NAMING_WORDS = 6  # a link or filter of at most this many words that names a field only names it


def _first_words(text: str) -> tuple[str, ...]:
    """The stems of the words of ``text`` longer than one character, up to one more than
    :data:`_NAMING_WORDS` (a longer text is not a field's name, and its words need no reading).

    >>> _first_words("Brand A-Z 12")
    ('brand', '12')
    >>> len(_first_words("one two three four five six seven eight nine"))
    7
    """
    low = text.lower()
    # (a short text's words in one C call; a long one's read only as far as needed)
    found = _WORD.findall(low) if len(low) <= 200 else (m.group() for m in _WORD.finditer(low))
    return tuple(islice((w for w in map(stem, found) if len(w) > 1), _NAMING_WORDS + 1))


def _only_names(words: tuple[str, ...], term_keys: Iterable[str] | Any) -> bool:
    """Whether ``words`` (a text's :func:`_first_words`) only name what the question asks: a few
    words, half of them or more a query term or a number ("Brand A-Z", "Sort by release date").

    >>> _only_names(("brand", "12"), {"brand"}), _only_names(("acme", "boots", "black"), {"brand"})
    (True, False)
    """
    named = sum(1 for w in words if w in term_keys or w.isdigit())
    return len(words) <= _NAMING_WORDS and 2 * named >= len(words)


def _leading_words(low: str) -> tuple[str, ...]:
    """The stems of the first three words of a lower-cased text, numbers left out.

    >>> _leading_words("item 12 names and more")
    ('item', 'name')
    """
    m = _THREE_WORDS.match(low)  # (the first three words in one C call)
    return () if m is None else tuple(w for w in map(stem, filter(None, m.groups())) if not w.isdigit())


def _counts_of(values: Iterable[int], n: int) -> array:
    """How many times each of ``0 .. n - 1`` is in ``values``.

    >>> _counts_of([2, 0, 2], 3).tolist()
    [1, 0, 2]
    """
    out = filled(n)
    for v in values:
        out[v] += 1
    return out


def _dense_blocks(blocks: Sequence[int], n_elements: int) -> tuple[array, int]:
    """Each unit's block numbered 0, 1, ... in order of first appearance, and the number of blocks.

    ``blocks`` are element numbers, or ``-2 - i`` for a fact pair labelled by element ``i``. Arrays
    indexed by these numbers replace dicts keyed by block, one entry each, 200,000 on a huge page.

    >>> ix, k = _dense_blocks([5, 5, -9, 2, 5], 10); ix.tolist(), k
    ([0, 0, 1, 2, 0], 3)
    """
    slot = filled(2 * n_elements + 2, -1)  # elements, then pairs
    out = filled(len(blocks))
    k = 0
    for u, b in enumerate(blocks):
        j = b if b >= 0 else n_elements - 2 - b
        s = slot[j]
        if s < 0:
            s = slot[j] = k
            k += 1
        out[u] = s
    return out, k


def _block_lengths(blocks: Sequence[int], n_blocks: int, n_words: Sequence[int]) -> array:
    """Words of each block (the sum over its units), by dense block number.

    >>> _block_lengths([0, 0, 1], 2, [3, 4, 5]).tolist()
    [7, 5]
    """
    out = filled(n_blocks)
    for b, k in zip(blocks, n_words):
        out[b] += k
    return out


def _mark_within(
    starts: list[int], marks: Flags, end: Sequence[int], depth: Sequence[int], levels: int = 3
) -> None:
    """Set ``marks`` of each start element and of its descendants down to ``levels`` levels below it."""
    for m in starts:
        j, top = m, depth[m] + levels
        while j < end[m]:
            marks[j] = True
            j = end[j] if depth[j] >= top else j + 1


class _Ranker:
    def __init__(self, model: UnitModel, settings: BudgetSettings) -> None:
        self.model, self.doc, self.units, self.settings = model, model.doc, model.units, settings

    def _page_part(self, name: str, build: Callable[[], T]) -> T:
        """``build()`` once per page: the parts of the ranking that do not depend on the question
        (nor on anything else that differs between a page's questions: they share its settings).
        Kept only when the page has more questions to come (``keep_page_parts``); read-only."""
        parts = self.model.page_parts
        if name in parts:
            return parts[name]  # type: ignore[no-any-return]
        value = build()
        if self.model.keep_page_parts:
            parts[name] = value
        return value

    def rank(self, query: Query | None) -> Ranking:
        doc, units = self.doc, self.units
        bp, main, hints = self._page_part("flags", lambda: element_flags(doc, self.model.alive))
        boiler = self.settings.boilerplate_last
        structure = partial(_structure_priority, units.owner, units.elem, bp, main, len(doc.tags), boiler)
        parts = self.model.page_parts
        base = self._page_part("structure", structure)
        kept = "structure" in parts  # (the page's: the question's priority is a copy)
        prio = array("d", base) if kept else base
        header = self._page_part("header", lambda: self._header_ranks(hints))
        rel = array("d")
        self.terms: dict[str, float] = {}
        if query is not None:
            heading_of = self._page_part("headings", lambda: heading_elements(doc))
            rel = self._add_relevance(query, prio, hints, heading_of, bp if boiler else None)
        unit_bp = self._page_part("unit_boilerplate", lambda: bytearray(map(bp.__getitem__, units.owner)))
        if query is None:
            base_of: Callable[[], array] = lambda: prio  # noqa: E731
        else:  # (the page's, else computed again when asked for: relevance changed prio)
            base_of = (lambda: base) if kept else structure
        return Ranking(prio, header, rel, base_of, unit_bp, self.terms)

    def _header_ranks(self, hints: Hints) -> dict[int, float]:
        """The header rank of each header unit: title and h1, meta, JSON-LD, bylines (few units: a
        dict, not a column)."""
        doc, units = self.doc, self.units
        owner, tags = units.owner, doc.tags
        header: dict[int, float] = {}
        near_byline = self._near_byline(hints)
        bylines = 0
        for u in [u for u, o in enumerate(owner) if tags[o] in _HEADER_TAGS or near_byline[o]]:
            o = owner[u]
            tag = tags[o]
            if tag in ("title", "h1"):
                header[u] = 3.0
            elif tag == "meta":
                header[u] = 2.5 if _KEY_META.search(hints[o]) else 1.5
            elif tag == "script":
                header[u] = 2.0
            elif bylines < 8 and len(units.text_of(doc, u)) < 160:
                header[u] = 1.0
                bylines += 1
        return header

    def _near_byline(self, hints: Hints) -> Flags:
        """Whether each element or one of its three nearest ancestors is marked as a byline/date."""
        end, depth = self.doc.end, self.units.depth
        distinct = _distinct_hints(hints)
        marked = {distinct[k] for k in strings_matching(_BYLINE_HINT, distinct)}
        near = flags(len(self.doc.tags))
        if not marked:
            return near
        _mark_within(_elements_with(hints, marked), near, end, depth)
        return near

    def _blocks(self, texts: list[str]) -> array:
        """The block of each element: its nearest block ancestor, except that a label and its value
        are one block (a row of two or three cells, a <dt> with its <dd>, a small container of two or
        three blocks such as <div><div>Brand</div><div>Acme</div></div>)."""
        doc, units = self.doc, self.units
        n = len(doc.tags)
        tags, parent, end = doc.tags, doc.parent, doc.end
        alive = self.model.alive
        merge = flags(n)  # this block element joins its parent's block
        pair_with: dict[int, int] = {}  # a <dd> joins the block of the <dt> before it
        size_at: list[int] | None = None  # characters of text before each unit, in unit order
        for i in (i for i, t in enumerate(tags) if t in _BLOCK_PARENTS and alive[i]):
            tag = tags[i]
            ks = []
            j = i + 1
            while j < end[i]:
                if alive[j]:
                    ks.append(j)
                    if len(ks) > 3 and tag != "dl":
                        break
                j = end[j]
            if not ks:
                continue
            if tag == "tr":
                if 2 <= len(ks) <= 3:
                    for c in ks:
                        merge[c] = True
            elif tag == "dl":
                last_dt = -1
                for c in ks:
                    if tags[c] == "dt":
                        last_dt = c
                    elif tags[c] == "dd" and last_dt >= 0:
                        pair_with[c] = last_dt
            elif 2 <= len(ks) <= 3 and all(tags[c] in _PAIR_PARTS for c in ks):
                if size_at is None:
                    size_at = list(accumulate(map(len, texts), initial=0))
                lo, hi = units.span(i, end)
                if size_at[hi] - size_at[lo] <= 160 and not any(self._has_block_below(c) for c in ks):
                    for c in ks:
                        merge[c] = True
        # each block start marks its subtree (in document order: inner blocks mark theirs after)
        block_of = filled(n)
        starts = (
            i for i, t in enumerate(tags) if (t in BLOCK and not merge[i]) or i in pair_with or parent[i] < 0
        )
        for i in starts:
            b = block_of[pair_with[i]] if i in pair_with else i
            block_of[i : end[i]] = array("i", (b,)) * (end[i] - i)  # (as ints() makes)
        return block_of

    def _units_by_hint(self, hints: Hints) -> dict[str, array]:
        """The units of each hint (class, id, role... words): their owner's own, else its parent's."""
        parent = self.doc.parent
        out: dict[str, array] = {}
        for u, o in enumerate(self.units.owner):
            h = hints[o] or hints[parent[o]] if o > 0 else hints[o]
            if h:
                us = out.get(h)
                if us is None:
                    us = out[h] = array("i")
                us.append(u)
        return out

    def _unit_blocks(self, texts: list[str]) -> array:
        """The block element of each unit (its owner's block, by :meth:`_blocks`)."""
        block_of = self._blocks(texts)
        return ints(map(block_of.__getitem__, self.units.owner))

    def _has_block_below(self, i: int) -> bool:
        tags = self.doc.tags
        return any(tags[j] in BLOCK and tags[j] != "br" for j in range(i + 1, self.doc.end[i]))

    def _in_link(self) -> Flags:
        """Whether each element is inside a link, a button or an option (up to three levels)."""
        doc = self.doc
        end, depth = doc.end, self.units.depth
        out = flags(len(doc.tags))
        _mark_within([i for i, t in enumerate(doc.tags) if t in _LINK_TAGS], out, end, depth)
        return out

    def _add_relevance(
        self,
        query: Query,
        prio: array,
        hints: Hints,
        heading_of: Sequence[int],
        boilerplate: Flags | None,
    ) -> array:
        """Each unit's relevance to ``query``, added to ``prio`` (scaled to the page's best) and, with
        ``context``, lent to the label, headers and heading of each relevant unit; returned."""
        # (the scoring's working dicts, one entry per block on a huge page, are gone when it returns)
        rel, scored, texts, ub_el = self._relevance(query, hints, boilerplate)
        top = max(rel, default=0.0)
        if top <= 0:
            return rel
        for u in scored:
            prio[u] += 3.0 * rel[u] / top
        if self.settings.context:
            self._add_context(prio, rel, top, heading_of, ub_el, scored, texts)
        return rel

    def _relevance(
        self, query: Query, hints: Hints, boilerplate: Flags | None
    ) -> tuple[array, Sequence[int], list[str], array]:
        """Each unit's relevance to ``query``, the units that scored, in order, and the units' texts
        and block elements (the page parts the context step reads)."""
        doc, units = self.doc, self.units
        n = len(units)
        texts = self._page_part("texts", lambda: units.texts(doc))
        owner = units.owner
        ub_el = self._page_part("blocks", lambda: self._unit_blocks(texts))  # the block element of each unit
        # ... each pair of a fact run a block of its own
        ub = self._page_part("pairs", lambda: self._fact_pairs(texts, ub_el))
        n_words = self._page_part("n_words", lambda: ints(t.count(" ") + 1 for t in texts))  # words, about
        # the blocks numbered densely: the per-block counts below are arrays, not dicts
        bix, n_blocks = self._page_part("block_index", lambda: _dense_blocks(ub, len(doc.tags)))
        block_len = self._page_part("block_len", partial(_block_lengths, bix, n_blocks, n_words))
        # the words that may match the question (those starting like a query term), found by one
        # regex over all texts joined by a character no pattern matches; only they are stemmed
        joined = self._page_part("joined", lambda: JoinedTexts(texts))
        # each unit's matched words (one tuple for each distinct sequence: units share them)
        matched: list[tuple[str, ...] | None] = [None] * n
        same: dict[tuple[str, ...], tuple[str, ...]] = {}
        pattern, text = candidate_pattern(query.terms).on(joined.text, joined.low)
        run_u, run = -1, []
        for m in pattern.finditer(text):  # in text order: a unit's matches come together
            u = joined.text_at(m.start())
            if u != run_u:
                if run:
                    matched[run_u] = same.setdefault(tuple(run), tuple(run))
                run_u, run = u, []
            run.append(stem(m.group().lower()))
        if run:
            matched[run_u] = same.setdefault(tuple(run), tuple(run))
        del text, same
        # kinds of value: dates and money anywhere; the others (names, places, codes...) in short units
        broad = kinds_pattern([k for k in query.answer_kinds if k in _BROAD_KINDS])
        short = kinds_pattern([k for k in query.answer_kinds if k not in _BROAD_KINDS])
        # (found once per page for each set of kinds: a page's questions often ask the same kinds)
        kind_hits = self._page_part("kind_hits", dict)
        kind_hit = kind_hits.get(query.answer_kinds)
        if kind_hit is None:
            kind_hit = (
                texts_matching(broad, texts, bytearray(len(t) <= 300 for t in texts), joined)
                if broad
                else set()
            )
            if short:
                kind_hit |= texts_matching(
                    short, texts, bytearray(k <= 12 and len(t) <= 160 for k, t in zip(n_words, texts)), joined
                )
            kind_hits[query.answer_kinds] = kind_hit
        del joined, n_words
        hint_terms = {t: w for t, w in query.terms.items() if len(t) > 2}
        # hint words (class, id, itemprop...: own, else the parent's) that name a query term are
        # words of the unit too: class="product-publisher" labels its text as "Publisher:" would
        # (they hit a term only when they start like one: one regex over the distinct hints)
        by_hint = self._page_part("by_hint", lambda: self._units_by_hint(hints))
        distinct = list(by_hint)
        may_hit = (
            texts_matching(
                [candidate_pattern(hint_terms)],
                distinct,
                flags(len(distinct), True),
                self._page_part("joined_hints", lambda: JoinedTexts(distinct)),
            )
            if hint_terms
            else ()
        )
        hint_hit = dict.fromkeys(distinct, 0.0)
        for k in may_hit:
            h = distinct[k]
            hint_hit[h] = max((hint_terms.get(w, 0.0) for w in words(h)), default=0.0)
        hinted = {h for h, w in hint_hit.items() if w}
        with_hint: dict[tuple[tuple[str, ...], str], tuple[str, ...]] = {}  # (units share them)
        for h in hinted:
            named = tuple(w for w in words(h) if w in hint_terms)
            for u in by_hint[h]:
                key = (matched[u] or (), h)
                got = with_hint.get(key)
                if got is None:
                    got = with_hint[key] = key[0] + named
                matched[u] = got
        # each block's matched words, in order; blocks that matched the same words share one Counter
        # (a list of 200,000 "Item N" links has one, not 200,000)
        block_tf: list[Any] = [None] * n_blocks  # each block's matched words, then their Counter
        for u, ms in enumerate(matched):
            if ms:
                b = bix[u]
                got = block_tf[b]
                block_tf[b] = ms if got is None else got + ms
        counters: dict[tuple[str, ...], Counter[str]] = {}
        for b, ms in enumerate(block_tf):
            if ms is not None:
                tf = counters.get(ms)
                if tf is None:
                    tf = counters[ms] = Counter(ms)
                block_tf[b] = tf
        terms = match_terms([list(tf) for tf in counters.values()], query.terms)
        seen = set().union(*counters.values()) if counters else set()
        self.terms = {t: w for t, w in terms.items() if t in seen}
        scores = bm25_blocks(block_len, block_tf, terms)
        del block_len
        term_keys = terms.keys()
        parent = doc.parent
        # a unit scores only with a signal: its block matched, its hint words name a query term,
        # it is a date by markup, or it holds a value of a kind asked for
        cand = bytearray(scores[b] != 0.0 for b in bix)  # the units that may score (flags: 10^5 on a page)
        for h in hinted:
            for u in by_hint[h]:
                cand[u] = 1
        dates = "date" in query.answer_kinds
        if dates:
            timed, timed_units = self._page_part("timed", self._timed)
            for u in timed_units:
                cand[u] = 1
        for u in kind_hit:
            cand[u] = 1
        candidates = ints(compress(range(n), cand))
        del cand
        rel = filled(n, 0.0, "d")
        in_link = self._page_part("in_link", self._in_link) if candidates else []
        # the words the checks below read of a unit depend on its text alone: kept for the page's
        # further questions, if it has any (found through memos over texts that differ only in
        # their numbers)
        keep = self.model.keep_page_parts
        first_of = self._page_part("first_words", lambda: [None] * n) if keep else None
        lead_of = self._page_part("leading_words", lambda: [None] * n) if keep else None
        first_memo, lead_memo = self._page_part("word_memos", lambda: (_Memo(), _Memo()))
        names: dict[tuple[str, ...], bool] = {}  # by first words
        kinds = bool(broad or short)
        for u in candidates:
            o = owner[u]
            s = scores[bix[u]]
            r = s
            # own words count a little more than the block's (a label's words count for its value)
            if r and (ub[u] != o or not term_keys.isdisjoint(matched[u] or ())):
                r *= 1.2
            h = hints[o] or hints[parent[o]] if o > 0 else hints[o]
            if h:
                r += hint_hit[h]
            if dates and o in timed:
                r += 1.0  # a <time> element is a date by markup
            if kinds:
                if u in kind_hit:
                    # a value of the kind asked for, the more so next to a label that matched (a long
                    # text that mentions a year is not a value: citations, paragraphs)
                    r += 1.2 if s > 0 else 0.8
                else:
                    r *= 0.6  # the question's words but no value of the kind it asks for
            if r and (in_link[o] or (boilerplate is not None and boilerplate[o])):
                # a link or a filter that only names a field ("Brand", "Sort by release date") must
                # not outrank the field's value; other navigation counts a little less
                # "Brand A-Z": the letters say nothing
                ws = first_of[u] if first_of is not None else None
                if ws is None:
                    ws = first_memo.get(texts[u], _first_words)
                    if first_of is not None:
                        first_of[u] = ws
                only = names.get(ws)  # (decided once for each distinct sequence of words)
                if only is None:
                    only = names[ws] = _only_names(ws, term_keys)
                r *= 0.3 if only else 0.8
            rel[u] = r
        # a template repeated down the page ("Published by X" x 30) says less than a one-off label:
        # units that match the same query terms with the same leading words share their score
        del matched, scores, kind_hit  # (what the shapes need no more: a huge page's are large)
        shapes: dict[tuple[frozenset[str], tuple[str, ...]], int] = {}
        scored = ints(u for u in candidates if rel[u] > 0)
        del candidates
        shape_of: list[tuple[frozenset[str], tuple[str, ...]]] = []  # of each scored unit
        canonical: dict[tuple[frozenset[str], tuple[str, ...]], tuple[frozenset[str], tuple[str, ...]]] = {}
        tf_terms: dict[int, frozenset[str]] = {}  # by Counter: blocks share them
        no_tf: Counter[str] = Counter()
        for u in scored:
            # the query words of the unit's block (a label's count for its value)
            tf = block_tf[bix[u]] or no_tf
            hit = tf_terms.get(id(tf))
            if hit is None:
                hit = tf_terms[id(tf)] = frozenset(term_keys & tf.keys())
            lead = lead_of[u] if lead_of is not None else None
            if lead is None:
                lead = lead_memo.get(texts[u][:200].lower(), _leading_words)
                if lead_of is not None:
                    lead_of[u] = lead
            shape = (hit, lead)
            shape = canonical.setdefault(shape, shape)  # one tuple for each distinct shape
            shapes[shape] = shapes.get(shape, 0) + 1
            shape_of.append(shape)
        for u, shape in zip(scored, shape_of):
            if shapes[shape] > 2:
                rel[u] /= shapes[shape] ** 0.5
        del shape_of
        if self.settings.dense and self.settings.dense_weight > 0 and query.text:
            scored = self._add_dense(query.text, rel, texts, ub, scored)
        return rel, scored, texts, ub_el

    def _timed(self) -> tuple[set[int], list[int]]:
        """The elements that are dates by markup (``<time>``, a ``datetime`` attribute), and their units."""
        doc = self.doc
        timed = {i for i, t in enumerate(doc.tags) if t == "time"}
        timed.update(i for i, a in enumerate(doc.kept_attrs) if a and any(k == "datetime" for k, _ in a))
        return timed, [u for u, o in enumerate(self.units.owner) if o in timed]

    def _fact_pairs(self, texts: list[str], ub: Sequence[int]) -> Sequence[int]:
        """``ub`` with each pair of a fact run (two or more ``Label: value`` pairs in one block) as
        a block of its own, so that a pair whose label matches the question scores as a short block
        (a table row would) instead of sharing the whole run's score. A pair's block id is
        ``-2 - i``, ``i`` its label's element (negative: no element's block)."""
        units, tags = self.units, self.doc.tags
        kind, elem = units.kind, units.elem
        starts = [
            u
            for u, t in enumerate(texts)
            if len(t) <= 120
            and kind[u] != ATTR
            and (
                (kind[u] == TEXT and tags[elem[u]] in _LABEL_TAGS and _LABEL_ONLY.match(t))
                or _LABEL_VALUE.match(t)
            )
        ]
        runs = Counter(ub[u] for u in starts)
        starts = [u for u in starts if runs[ub[u]] >= 2]
        if not starts:
            return ub
        out = ints(ub)
        is_start = set(starts)
        n = len(ub)
        for u in starts:
            b, pair = ub[u], -2 - elem[u]
            out[u] = pair
            v = u + 1
            while v < n and v <= u + _PAIR_UNITS and ub[v] == b and v not in is_start:
                out[v] = pair
                v += 1
        return out

    def _add_dense(
        self, question: str, rel: array, texts: list[str], ub: Sequence[int], scored: Sequence[int]
    ) -> Sequence[int]:
        """Add relevance by meaning to the units of the blocks nearest ``question`` (the
        :data:`DENSE_TOP` most similar blocks above :data:`DENSE_FLOOR`, scaled from the floor to the
        page's best); the units that score, in order."""
        units_of: dict[int, list[int]] = {}
        for u, b in enumerate(ub):
            units_of.setdefault(b, []).append(u)
        block_text = {}
        for b, us in units_of.items():
            parts, size = [], 0
            for u in us:  # the block's first characters are all that is embedded
                parts.append(texts[u])
                size += len(texts[u]) + 1
                if size >= MAX_BLOCK_CHARS:
                    break
            block_text[b] = " ".join(parts)
        assert self.settings.dense is not None
        sims = block_similarities(get_embedder(self.settings.dense), question, block_text)
        near = sorted((b for b, s in sims.items() if s > DENSE_FLOOR), key=lambda b: (-sims[b], b))
        near = near[:DENSE_TOP]
        if not near:
            return scored
        best = sims[near[0]]
        scale = self.settings.dense_weight * (max(rel, default=0.0) or 1.0)
        added = set(scored)
        for b in near:
            d = scale * (sims[b] - DENSE_FLOOR) / (best - DENSE_FLOOR)
            for u in units_of[b]:
                rel[u] += d
                added.add(u)
        return sorted(u for u in added if rel[u] > 0)

    def _add_context(
        self,
        prio: array,
        rel: array,
        top: float,
        heading_of: Sequence[int],
        ub: Sequence[int],
        scored: Sequence[int],
        texts: list[str],
    ) -> None:
        """Give the label, headers and heading of a relevant unit nearly its priority.

        Neighbours count only inside the container of the unit's block (a label and its value, a
        list item and the next); head elements (meta, title, JSON-LD) lift nothing.
        """
        units, doc = self.units, self.doc
        parent, end, tags = doc.parent, doc.end, doc.tags
        owner = units.owner
        n = len(units)
        lifting = [u for u in scored if rel[u] >= RELEVANT_SHARE * top and tags[owner[u]] not in _HEAD_TAGS]
        if not lifting:
            return
        # the last unit in a heading at or before each unit; the units of each block element; the
        # header cells of an element (the page's: the same for every question)
        heading_unit = self._page_part(
            "heading_unit",
            lambda: ints(accumulate([u if heading_of[o] >= 0 else -1 for u, o in enumerate(owner)], max)),
        )
        block_size = self._page_part("block_size", partial(_counts_of, ub, len(tags)))
        table_context = self._page_part("table_context", dict)
        boosted = array("d", prio)

        def lift(v: int, p: float) -> None:
            if 0 <= v < n and boosted[v] < p:
                boosted[v] = p

        def near(v: int, lo: int, hi: int) -> bool:
            return 0 <= v < n and lo <= owner[v] < hi

        for u in lifting:
            p = prio[u]
            box = ub[u]
            if block_size[box] < 2:  # a block of its own: its neighbours in the container
                box = parent[box]
            lo, hi = (box, end[box]) if box >= 0 else (0, len(tags))
            for v, f in ((u - 1, 0.97), (u + 1, 0.97), (u + 2, 0.9)):
                if near(v, lo, hi):
                    lift(v, p * f)
            lift(heading_unit[u], p * 0.9)
            o = owner[u]
            got = table_context.get(o)
            if got is None:
                got = table_context[o] = self._table_context(o)
            cells, whole = got
            for c in cells:  # a header cell's units (a <dt>/<dd> neighbour's own units only)
                span = range(*units.span(c, end))
                if whole and sum(len(texts[v]) for v in span) > _SHORT_CELL:
                    continue  # a layout table's other column (a menu beside the content), no header
                for v in span:
                    if whole or owner[v] == c:
                        lift(v, p * 0.95)
        prio[:] = boosted

    def _table_context(self, e: int) -> tuple[list[int], bool]:
        """Row header and column header cells of the cell that contains element ``e`` (their whole
        subtrees count: True), or the <dt>/<dd> next to it (the elements alone: False)."""
        doc = self.doc
        cell = e
        while cell >= 0 and doc.tags[cell] not in ("td", "th", "dd", "dt"):
            cell = doc.parent[cell]
            if cell >= 0 and doc.tags[cell] in ("table", "body"):
                return [], True
        if cell < 0:
            return [], True
        row = doc.parent[cell]
        if doc.tags[cell] in ("dd", "dt"):
            sib = self._children(row)
            k = sib.index(cell)
            return [x for x in sib[max(0, k - 1) : k + 2] if x != cell], False
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
        return out, True

    def _children(self, i: int) -> list[int]:
        doc = self.doc
        out, j = [], i + 1
        while j < doc.end[i]:
            out.append(j)
            j = doc.end[j]
        return out
