"""HTML text parsed straight into the flat table, with no lxml tree in between.

libxml2's HTML parser reports each element's start and end and each run of text to a target
object (lxml's parser target interface); :func:`parse_to_document` records them into the lists
of a :class:`~domprune.document.Document` as they come. The result equals what
:func:`~domprune.document.flatten` makes of the parsed tree (the parser and its fix-ups are the
same; the tree is never built), at a fraction of the memory: a libxml2 tree costs 12 to 13 times
the size of an element-dense page, and the walk over it held a proxy per element on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .document import _EMPTY_JSON, Attrs, Document, collapse, compact_json_ld, flags, ints, needs_collapse

_LD = "application/ld+json"
# libxml2's tree builder refuses nesting past a limit (2048 levels) that its events alone do not
# check: a deeper page is read through the tree, which says how it fails
MAX_DEPTH = 1024
# attributes that libxml2's tree builder writes as name="name" when they have no value
# (``<input disabled>``); its parser reports them to a target with an empty value
BOOLEAN_ATTRS = frozenset(
    "checked compact declare defer disabled ismap multiple nohref noresize noshade nowrap readonly selected".split()
)
# attribute pairs whose value is at most this long are shared between the elements that repeat them
# (classes, roles, types), up to this many distinct pairs a page (their dict lives while parsing)
SHARED_VALUE_CHARS = 40
MAX_SHARED_PAIRS = 1 << 16
_IN_TAG_LOOKBACK = 4096  # characters searched back for the "<" of the tag an attribute is in


@dataclass(frozen=True)
class TableOptions:
    """What the walk into the table does besides recording (as :func:`~domprune.document.flatten`'s
    keyword arguments)."""

    collapse_whitespace: bool = True
    drop_tags: tuple[str, ...] = ()
    json_ld_chars: int = 0


MIN_CHARS = 4_000_000
"""Pages of at least this many characters are parsed straight into the table. Smaller ones go
through the tree, which is faster to parse and walk than the parser's events are to record (each
is a Python call: 10-20% on corpus pages, up to 3 times on pages of 1-3 MB with many elements and
boolean attributes); their tree costs 150 MB at most."""


class TreeNeeded(Exception):
    """The events alone cannot make the table the tree would (an ambiguous attribute, nesting past
    :data:`MAX_DEPTH`, an end without a start): read the page through the lxml tree."""


class _Table:
    """The parser's target: one row per element, in document order (the order of start events)."""

    def __init__(self, drop_tags: tuple[str, ...], json_ld_chars: int) -> None:
        self.tags: list[str] = []
        self.n = 0  # elements so far
        self.attrs: list[Attrs] = []
        self.text: list[str] = []
        self.tail: list[str] = []
        self.parent = ints()
        self.ends = ints()
        self.stack: list[int] = []
        self.last = -1  # the element whose tail the next text extends (-1: the open element's text)
        self.buf: list[str] = []  # text not yet stored (the parser may report one text in pieces)
        self.drop = frozenset(drop_tags)
        self.json_ld = json_ld_chars > 0 and "script" in self.drop
        self.json_ld_chars = json_ld_chars
        self.skip = 0  # depth inside a dropped element
        self.done = False  # the root element has ended
        self.dropped = 0
        self.ld = -1  # the JSON-LD script now open
        self.ld_last = -1  # ``last`` before it opened (where its tail goes if it is dropped)
        self.names: dict[str, str] = {}  # one string per tag name
        self.pairs: dict[tuple[str, str], tuple[str, str]] = {}  # one tuple per repeated short pair
        self.valueless: list[int] = []  # elements with a boolean attribute of empty value

    def _flush(self) -> None:
        buf = self.buf
        s = buf[0] if len(buf) == 1 else "".join(buf)
        buf.clear()
        if self.last >= 0:
            t = self.tail
            k = self.last
        elif self.stack:
            t = self.text
            k = self.stack[-1]
        else:
            return  # text outside the root element: the tree drops it too
        t[k] = t[k] + s if t[k] else s

    def start(self, tag: str, attrib: Any) -> None:
        if self.done:
            return
        if self.skip:
            self.skip += 1
            # (a JSON-LD script inside a dropped element is not counted, as flatten does not)
            if tag in self.drop and not (self.json_ld and tag == "script" and attrib.get("type") == _LD):
                self.dropped += 1
            return
        if self.buf:
            self._flush()
        if tag in self.drop:
            if not (self.json_ld and tag == "script" and attrib.get("type") == _LD):
                self.dropped += 1
                self.skip = 1
                return
            self.ld, self.ld_last = len(self.tags), self.last
        stack = self.stack
        if len(stack) >= MAX_DEPTH:
            raise TreeNeeded("nesting deeper than the table reads: the tree's parser sets the limit")
        i = self.n
        self.n = i + 1
        self.tags.append(self.names.setdefault(tag, tag))
        if attrib:
            name, pairs = self.names.setdefault, self.pairs
            items = []
            for k, v in attrib.items():
                kv = (name(k, k), v)  # one string per attribute name
                if len(v) <= SHARED_VALUE_CHARS:  # class="row" x 10^5: one tuple and one value string
                    kv = pairs.setdefault(kv, kv) if len(pairs) < MAX_SHARED_PAIRS else pairs.get(kv, kv)
                items.append(kv)
            self.attrs.append(tuple(items))
            if "" in attrib.values() and any(not v and k in BOOLEAN_ATTRS for k, v in items):
                self.valueless.append(i)
        else:
            self.attrs.append(())
        self.text.append("")
        self.tail.append("")
        self.parent.append(stack[-1] if stack else -1)
        self.ends.append(0)
        stack.append(i)
        self.last = -1

    def end(self, tag: str) -> None:
        if self.done:
            return
        if self.skip:
            self.skip -= 1
            return
        if self.buf:
            self._flush()
        if not self.stack:
            raise TreeNeeded("an end without a start")
        i = self.stack.pop()
        self.ends[i] = self.n
        self.last = i
        if not self.stack:  # the root: the tree's root is the first top-level element, the rest is dropped
            self.done = True
        if i == self.ld:
            self.ld = -1
            self._end_json_ld(i)

    def _end_json_ld(self, i: int) -> None:
        self.text[i] = compact_json_ld(self.text[i], self.json_ld_chars)
        if self.text[i] in _EMPTY_JSON and self.stack:  # {} says nothing: drop it, keep its tail
            for column in (self.tags, self.attrs, self.text, self.tail, self.parent, self.ends):
                column.pop()
            self.n = i
            self.dropped += 1
            self.last = self.ld_last

    def data(self, text: str) -> None:
        if not self.skip and not self.done:
            self.buf.append(text)

    def close(self) -> _Table:
        if self.buf:
            self._flush()
        while self.stack:
            self.ends[self.stack.pop()] = self.n
        return self


def parse_to_document(
    text: str, parser_options: dict[str, Any], options: TableOptions, *, dialect: str = "html"
) -> tuple[Document, int, Any]:
    """``text`` parsed into a :class:`Document` (and the count of elements dropped, and the
    parser's error log), as :func:`~domprune.document.flatten` would make it of the parsed tree.

    Raises :class:`TreeNeeded` when the parser's events do not make one tree of elements, and
    lxml's errors where parsing fails.

    >>> opts = TableOptions(drop_tags=("script",))
    >>> doc, dropped, _ = parse_to_document("<p>Hi <script>x()</script><b>there</b></p>", {}, opts)
    >>> doc.tags, doc.text, doc.tail, dropped
    (['html', 'body', 'p', 'b'], ['', '', 'Hi ', 'there'], ['', '', '', ''], 1)
    """
    table = _Table(options.drop_tags, options.json_ld_chars)
    parser = etree.HTMLParser(target=table, **parser_options)
    etree.fromstring(text, parser)  # (one read of the whole text: libxml2's push parser is slower)
    if table.valueless:
        _boolean_values(table, text)
    n = len(table.tags)
    tags = table.tags
    if not all(t.islower() and t[0] != "{" for t in table.names):
        tags = [(t.rpartition("}")[2] if t[0] == "{" else t).lower() for t in tags]
    txt, tail = table.text, table.tail
    if n:
        tail[0] = ""  # the root has no tail
    if options.collapse_whitespace:  # white space between tags becomes one space; other texts only if needed
        txt = [(" " if t.isspace() else collapse(t) if needs_collapse(t) else t) if t else t for t in txt]
        tail = [(" " if t.isspace() else collapse(t) if needs_collapse(t) else t) if t else t for t in tail]
    attrs = table.attrs
    doc = Document(
        tags=tags,
        attrs=attrs,
        text=txt,
        tail=tail,
        parent=table.parent,
        end=table.ends,
        dialect=dialect,
        removed=flags(n),
        transparent=flags(n),
        kept_attrs=attrs,
    )
    dropped = table.dropped
    # the parser and its target stay alive until the garbage collector breaks their cycle: the
    # columns the document does not share (the texts before collapsing, the dict of shared pairs)
    # go now
    table.__dict__.clear()
    return doc, dropped, parser.error_log


def _boolean_values(table: _Table, text: str) -> None:
    """Boolean attributes as the tree has them: ``name="name"`` where the page wrote the name alone.

    The parser's events say "empty" for ``disabled`` and ``disabled=""`` alike; when the page has
    only one of the two forms, that form is the answer, else the tree must be read.
    """
    attrs = table.attrs
    names = {k for i in table.valueless for k, v in attrs[i] if not v and k in BOOLEAN_ATTRS}
    bare, empty = _boolean_forms(text.lower(), names)
    if bare and empty:
        raise TreeNeeded("boolean attributes both with and without an empty value")
    if not empty:
        for i in table.valueless:
            attrs[i] = tuple([(k, k if not v and k in BOOLEAN_ATTRS else v) for k, v in attrs[i]])


def _boolean_forms(low: str, names: set[str]) -> tuple[bool, bool]:
    """Whether the lower-cased page writes any of the attributes ``names`` bare, and with an empty
    value. A word that may or may not sit in a tag counts as both forms (the tree then decides).

    >>> _boolean_forms('<input disabled><p>it is disabled.</p>', {"disabled"})
    (True, False)
    >>> _boolean_forms("<input disabled = ''>", {"disabled"})
    (False, True)
    """
    if not names:
        return False, False
    pattern = re.compile(
        r"(?:" + "|".join(sorted(names)) + r"""(?![\w:.-]))(\s*=\s*(?:""|''|(?=[\s>])|$))?"""
    )
    bare = empty = False
    for m in pattern.finditer(low):
        at = m.start()
        if at == 0 or not low[at - 1].isspace():
            continue  # an attribute follows white space (names first: the regex skips ahead fast)
        lo = max(0, at - _IN_TAG_LOOKBACK)
        lt, gt = low.rfind("<", lo, at), low.rfind(">", lo, at)
        if gt > lt:
            continue  # in text, not in a tag
        if lt < 0:  # too far from any tag mark to tell
            bare = empty = True
        elif m.group(1) is not None:
            empty = True
        elif not low[m.end() : m.end() + 64].lstrip().startswith("="):  # (="value" is neither)
            bare = True
        if bare and empty:
            break
    return bare, empty
