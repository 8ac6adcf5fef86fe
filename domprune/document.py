"""A flat, preorder table of a page's elements, and its serialization.

Python loops over lxml proxies dominate the run time, so the tree is walked once into plain
lists; every step after that works on integers and strings. Element ``i``'s subtree is the range
``i .. end[i]-1``. Element ``i`` owns its ``text``; its ``tail`` belongs to its parent's content.
"""

from __future__ import annotations

import json
import re
from array import array
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from lxml import etree

from .markdown import write_markdown
from .safety import neutralize
from .tags import BLOCK, TEXT_ATTRS, VOID


def escape_text(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def escape_attr(s: str) -> str:
    if "&" in s or '"' in s or "<" in s:
        return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return s


Attrs = tuple[tuple[str, str], ...]
"""An element's attributes, ``(name, value)`` pairs in page order (tuples: a list costs more, and a
huge page has hundreds of thousands)."""


Flags = bytearray
"""One flag per element (or per unit), 0 or 1: alive, kept, removed... (see :func:`flags`)."""


def flags(n: int, value: bool = False) -> bytearray:
    """``n`` flags, all ``value``: one byte each (a list holds an 8-byte pointer per flag, and a
    huge page has hundreds of thousands of elements).

    >>> f = flags(3); f[1] = True; list(f), bool(f[1])
    ([0, 1, 0], True)
    """
    return bytearray(b"\x01") * n if value else bytearray(n)


def ints(values: Any = ()) -> array:
    """A column of element numbers as C ints (4 bytes each, against a pointer and an int object).

    >>> ints([3, -1]).tolist()
    [3, -1]
    """
    return array("i", values)


def filled(n: int, value: float = 0, typecode: str = "i") -> array:
    """A column of ``n`` entries all ``value`` (C ints, or ``typecode``'s type: "d" for floats).

    >>> filled(3, -1).tolist(), filled(2, 0.0, "d").tolist()
    ([-1, -1, -1], [0.0, 0.0])
    """
    return array(typecode, (value,)) * n


@dataclass
class Document:
    """The flat table, indexed by element number in document order: strings and attribute lists in
    lists, numbers and flags in typed columns (:func:`ints`, :func:`flags`)."""

    tags: list[str]
    attrs: list[Attrs]
    text: list[str]
    tail: list[str]
    parent: array  # of int: the parent element (-1 for the root)
    end: array  # of int: one past the last element of the subtree
    dialect: str = "html"
    removed: bytearray = field(default_factory=bytearray)  # subtree dropped by filtering
    transparent: bytearray = field(default_factory=bytearray)  # tags not written, content kept
    wrap_blocks: set[int] = field(default_factory=set)  # bare inline wrappers written only around blocks
    kept_attrs: list[Attrs] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)  # comment written after element i
    why: dict[int, str] = field(default_factory=dict)  # why filtering removed element i
    open_s: dict[int, str] = field(default_factory=dict)  # open tags written so far, by element
    closes: dict[str, str] = field(default_factory=dict)  # each tag's close tag ("" if void), once final
    markdown_layout: Any = None  # tables and lists as Markdown writes them (built on first use)

    def finalize_tags(self) -> None:
        """Start writing tags, once attributes and unwrapping are final: close tags now, open tags
        on first use (:meth:`open_of`; a fit writes a part of the page only)."""
        self.open_s = {}
        self.closes = {t: "" if t in VOID else f"</{t}>" for t in set(self.tags)}

    def open_of(self, i: int) -> str:
        """Element ``i``'s open tag as written (kept once written)."""
        o = self.open_s.get(i)
        if o is None:
            o = self.open_s[i] = self.open_tag(i)
        return o

    def __len__(self) -> int:
        return len(self.tags)

    def open_tag(self, i: int) -> str:
        attrs = self.kept_attrs[i] if self.kept_attrs else []
        if not attrs:
            return f"<{self.tags[i]}>"
        return (
            "<"
            + self.tags[i]
            + " "
            + " ".join([f'{k}="{escape_attr(v)}"' if v else k for k, v in attrs])
            + ">"
        )

    def live(self) -> bytearray:
        """Elements not inside a removed subtree."""
        n = len(self.tags)
        alive = bytearray(b"\x01") * n
        removed, end = self.removed, self.end
        i = removed.find(1)
        while i >= 0:
            e = end[i]
            alive[i:e] = bytes(e - i)
            i = removed.find(1, e)
        return alive


_JSON_LD_DROP = frozenset(
    {"@context", "articleBody", "text", "image", "thumbnailUrl", "logo", "sameAs", "potentialAction",
     "url", "@id", "mainEntityOfPage", "video", "associatedMedia", "contentUrl", "embedUrl", "hasPart",
     "breadcrumb", "isPartOf", "speakable", "thumbnail", "encoding", "width", "height"}
)  # fmt: skip


_EMPTY_JSON = frozenset({"", "{}", "[]", "null", '""', "[{}]"})


def _drop(el: Any) -> None:
    """Remove ``el`` from its parent, keeping its tail text."""
    parent = el.getparent()
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def compact_json_ld(text: str, max_chars: int) -> str:
    """JSON-LD metadata without bodies, images and links (which cost much and answer little).

    Values are kept as they are; long strings end with "…"; the result is cut at ``max_chars``.
    Text that is not JSON is only white-space-collapsed and cut.
    """
    raw = text.strip()
    if raw.startswith("<![CDATA[") and raw.endswith("]]>"):
        raw = raw[9:-3]
    try:
        data = json.loads(raw)
    except ValueError:
        out = " ".join(raw.split())
    else:

        def prune(v: Any, depth: int) -> Any:
            if isinstance(v, dict):
                kept = {k: prune(x, depth + 1) for k, x in v.items() if k not in _JSON_LD_DROP and depth < 6}
                kept = {k: x for k, x in kept.items() if x not in ({}, [], "", None)}
                return {} if set(kept) <= {"@type"} else kept  # {"@type": "ImageObject"} says nothing
            if isinstance(v, list):
                items = [prune(x, depth + 1) for x in v[:5]]
                return [x for x in items if x not in ({}, [], "", None)]
            if isinstance(v, str) and len(v) > 300:
                return v[:300] + "…"
            return v

        # "<" as \u003c: the same JSON, and no "</script>" or "<|im_start|>" in the raw script text
        out = json.dumps(prune(data, 0), ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return out if len(out) <= max_chars else out[:max_chars] + "…"


NEEDS_COLLAPSE = re.compile(r"[^\S ]|  ")  # white space other than single spaces


def needs_collapse(s: str) -> bool:
    """Whether ``s`` has white space other than single spaces (every other white space character
    is unprintable, so two C scans tell; :func:`collapse` leaves other texts as they are)."""
    return not s.isprintable() or "  " in s


def collapse(s: str) -> str:
    """Runs of white space become one space (kept at the edges: they separate words)."""
    parts = s.split()
    if not parts:
        return " "
    out = " ".join(parts)
    if s[0].isspace():
        out = " " + out
    if s[-1].isspace():
        out += " "
    return out


_PARENT = etree._Element.getparent


def flatten(
    root: Any,
    *,
    collapse_whitespace: bool = True,
    dialect: str = "html",
    drop_tags: tuple[str, ...] = (),
    json_ld_chars: int = 0,
) -> tuple[Document, int]:
    """Walk ``root`` once into a :class:`Document` (iteratively: any depth is fine).

    ``drop_tags`` are removed first, in C (their tails stay); the count removed is returned too.
    JSON-LD scripts survive a dropped ``script`` when ``json_ld_chars`` > 0 (cut to that length).
    The caller's tree is not changed: a tree passed in is copied before anything is dropped.
    """
    dropped = 0
    json_ld = []
    if drop_tags and "script" in drop_tags and json_ld_chars:
        json_ld = [el for el in root.iter("script") if el.get("type") == "application/ld+json"]
        for el in json_ld:
            el.tag = "domprune-json-ld"
    if drop_tags:
        dropped = sum(1 for _ in root.iter(*drop_tags))
        if dropped:
            etree.strip_elements(root, *drop_tags, with_tail=False)
        for el in json_ld:
            el.tag = "script"
            el.text = compact_json_ld(el.text or "", json_ld_chars)
            for child in list(el):
                el.remove(child)
            if el.text in _EMPTY_JSON and el.getparent() is not None:  # {} says nothing
                _drop(el)
                dropped += 1
    # the elements in document order (root.iter() is C), then each field in one comprehension;
    # parents through a dict of the proxies, which stay alive in ``elements`` so lxml hands back
    # the same objects
    elements = list(root.iter())
    n = len(elements)
    index = dict(zip(elements, range(n)))
    raw_tags = [el.tag for el in elements]
    removed = flags(n)
    if all(isinstance(t, str) and t.islower() and t[0] != "{" for t in set(raw_tags)):
        tags: list[str] = raw_tags
    else:
        tags = []
        for i, tag in enumerate(raw_tags):
            if isinstance(tag, str):
                tags.append((tag.rpartition("}")[2] if tag[0] == "{" else tag).lower())
            else:  # comment, processing instruction or entity in a caller's tree
                tags.append("#comment")
                removed[i] = True
    attrs: list[Attrs] = [tuple(el.items()) for el in elements]
    text = [el.text or "" for el in elements]
    tail = [""] + [el.tail or "" for el in elements[1:]]
    for i, t in enumerate(raw_tags):
        if not isinstance(t, str):  # a comment's text and attributes are not the page's
            attrs[i], text[i] = (), ""
    if collapse_whitespace:  # white space between tags becomes one space; other texts only if needed
        text = [(" " if t.isspace() else collapse(t) if needs_collapse(t) else t) if t else t for t in text]
        tail = [(" " if t.isspace() else collapse(t) if needs_collapse(t) else t) if t else t for t in tail]
    # (the parents looked up by lxml's method mapped in C: no Python call per element)
    parent = (
        ints(chain((-1,), map(index.__getitem__, map(_PARENT, islice(elements, 1, None))))) if n else ints()
    )
    end = ints(range(1, n + 1))
    for i in range(n - 1, 0, -1):
        p = parent[i]
        if end[i] > end[p]:
            end[p] = end[i]
    doc = Document(
        tags=tags,
        attrs=attrs,
        text=text,
        tail=tail,
        parent=parent,
        end=end,
        dialect=dialect,
        removed=removed,
        transparent=flags(n),
        kept_attrs=attrs,
    )
    return doc, dropped


def serialize(
    doc: Document,
    keep: Flags | None = None,
    keep_text: Flags | None = None,
    keep_tail: Flags | None = None,
    *,
    fmt: str = "html",
    mark_removed: bool = False,
    span: tuple[int, int] | None = None,
) -> str:
    """Write the kept part of ``doc`` as compact HTML, plain text or Markdown (``fmt``).

    ``keep[i]`` keeps element ``i``'s tags (the caller keeps it consistent: a kept element's parent
    is kept); ``keep_text[i]`` / ``keep_tail[i]`` keep its text / tail. ``None`` keeps everything that
    filtering left. ``span=(lo, hi)`` says that nothing is kept below element ``lo`` or from ``hi`` on
    but ancestors, so the walk can jump over the rest (chunks of wide pages). Markdown and text
    leave ``mark_removed``'s comments out.
    """
    n = len(doc.tags)
    if keep is None:
        keep = doc.live()
    if keep_text is None:
        keep_text = keep
    if keep_tail is None:
        keep_tail = [keep[doc.parent[i]] if i else False for i in range(n)]
    skip = _Skipper(doc, span) if span is not None and not mark_removed else None
    if fmt == "markdown":
        return write_markdown(doc, keep, keep_text, keep_tail, skip)
    return (_serialize_text if fmt == "text" else _serialize_html)(
        doc, keep, keep_text, keep_tail, mark_removed, skip
    )


class _Skipper:
    """Where to go next from an element that is not kept, given that only ``lo..hi`` holds content."""

    def __init__(self, doc: Document, span: tuple[int, int]) -> None:
        self.lo, self.hi, self.end, self.parent = span[0], span[1], doc.end, doc.parent
        self.child_on_path: dict[int, int] = {}
        a = span[0]
        while a > 0:
            self.child_on_path[doc.parent[a]] = a
            a = doc.parent[a]

    def next(self, i: int, stack: list[int], n: int) -> int:
        if self.end[i] <= self.lo:
            nxt = self.child_on_path.get(self.parent[i], -1)
            if nxt > i:
                return nxt
        elif i >= self.hi:
            return self.end[stack[-1]] if stack else n
        return self.end[i]


def _serialize_html(
    doc: Document,
    keep: Flags,
    keep_text: Flags,
    keep_tail: Flags,
    mark_removed: bool,
    skip: _Skipper | None = None,
) -> str:
    out: list[str] = []
    tags, end, text, tail, transparent, notes = (
        doc.tags,
        doc.end,
        doc.text,
        doc.tail,
        doc.transparent,
        doc.notes,
    )
    stack: list[int] = []
    n = len(tags)
    if not doc.closes:
        doc.finalize_tags()
    open_written, closes, open_of = doc.open_s.get, doc.closes, doc.open_of
    wrap_blocks = doc.wrap_blocks
    hidden: set[int] = set()  # wrap_blocks elements written without tags this time

    def sep(force: bool = False) -> None:
        """A space between words. ``force``: also after an inline tag (a removed <br> or an unwrapped
        <div> between "</b>" and "March" still separates the words)."""
        if not out:
            return
        last = out[-1]
        if last[-1:].isspace():
            return
        if last[-1:] == ">":
            if not force or last.startswith("<!--"):
                return
            name = last[1:].lstrip("/").split(" ", 1)[0].split(">", 1)[0]
            if name in BLOCK:
                return
        out.append(" ")

    def put(t: str) -> None:
        if t.isspace():
            sep()
            return
        if t[0] == " " and out and out[-1][-1:].isspace():
            t = t[1:]
            if not t:
                return
        out.append(escape_text(t))

    # the loop below inlines sep() and put() for the common cases (white space between tags, a text
    # without a leading space): a page has thousands of elements and this runs once per fill
    append = out.append
    i = 0
    pending_gap = False
    while i < n:
        while stack and end[stack[-1]] <= i:
            k = stack.pop()
            if transparent[k] or k in hidden:
                if tags[k] in BLOCK:
                    sep(force=True)
            else:
                append(closes[tags[k]])
            if notes and k in notes:
                append(f"<!-- {notes[k]} -->")
            t = tail[k]
            if t:
                if t.isspace():
                    last = out[-1][-1:] if out else " "
                    if last != ">" and not last.isspace():
                        append(" ")
                elif keep_tail[k]:
                    put(t)
        if not keep[i]:
            if skip is not None and (end[i] <= skip.lo or i >= skip.hi):
                i = skip.next(i, stack, n)
                continue
            if mark_removed and not doc.removed[i] and not pending_gap:
                append("<!-- removed -->")
                pending_gap = True
            t = tail[i]
            if t:
                if t.isspace():
                    sep()
                elif keep_tail[i]:
                    if tags[i] in BLOCK and t[0] != " ":
                        sep(force=True)
                    put(t)
            i = end[i]
            continue
        pending_gap = False
        if wrap_blocks and i in wrap_blocks and not holds_block(doc, i, keep):
            hidden.add(i)
        if transparent[i] or i in hidden:
            if tags[i] in BLOCK:
                sep(force=True)
        else:
            append(open_written(i) or open_of(i))
        t = text[i]
        if t and keep_text[i]:
            if tags[i] == "script":  # raw text: entities are not decoded inside <script>
                append(t.replace("</", "<\\/"))
            elif t[0] != " " and not t.isspace():
                append(escape_text(t))
            else:
                put(t)
        stack.append(i)
        i += 1
    while stack:
        k = stack.pop()
        if transparent[k] or k in hidden:
            if tags[k] in BLOCK:
                sep(force=True)
        else:
            append(closes[tags[k]])
        if stack:
            if notes and k in notes:
                append(f"<!-- {notes[k]} -->")
            t = tail[k]
            if t:
                if t.isspace():
                    sep()
                elif keep_tail[k]:
                    put(t)
    return "".join(out).strip()


def holds_block(doc: Document, i: int, keep: Flags) -> bool:
    """Whether a child of ``i`` with ``keep[child]`` set is a block element (other than <br>)."""
    j, end = i + 1, doc.end[i]
    while j < end:
        if keep[j] and doc.tags[j] in BLOCK and doc.tags[j] != "br":
            return True
        j = doc.end[j]
    return False


def _serialize_text(
    doc: Document,
    keep: Flags,
    keep_text: Flags,
    keep_tail: Flags,
    mark_removed: bool,
    skip: _Skipper | None = None,
) -> str:
    out: list[str] = []
    tags, end, text, tail = doc.tags, doc.end, doc.text, doc.tail
    stack: list[int] = []
    n = len(tags)

    def brk() -> None:
        if out and out[-1] != "\n":
            out.append("\n")

    def add(s: str) -> None:
        s = s.strip() if (not out or out[-1] == "\n") else s
        if s:
            out.append(s)

    def close(k: int) -> None:
        if tags[k] in BLOCK:
            brk()
        if tail[k] and tail[k].isspace():
            if out and not out[-1][-1:].isspace():
                out.append(" ")
        elif keep_tail[k] and tail[k]:
            add(tail[k])

    i = 0
    while i < n:
        while stack and end[stack[-1]] <= i:
            close(stack.pop())
        if not keep[i]:
            if skip is not None and (end[i] <= skip.lo or i >= skip.hi):
                i = skip.next(i, stack, n)
                continue
            if keep_tail[i] and tail[i]:
                if tags[i] in BLOCK:
                    brk()
                add(tail[i])
            i = end[i]
            continue
        if tags[i] in BLOCK:
            brk()
        if keep_text[i] and text[i]:
            add(text[i])
        elif keep_text[i] and doc.kept_attrs[i]:
            # an element whose label is in an attribute (img alt, input value...) prints it
            for k, v in doc.kept_attrs[i]:
                if k in TEXT_ATTRS and v.strip():
                    add(v if not out or out[-1] == "\n" else " " + v)
                    out.append(" ")
                    break
        stack.append(i)
        i += 1
    while stack:
        k = stack.pop()
        if tags[k] in BLOCK:
            brk()
        if stack and keep_tail[k] and tail[k]:
            add(tail[k])
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    # pieces joined across inline elements can re-form a chat special token: break it here
    return neutralize("\n".join(line for line in lines if line))
