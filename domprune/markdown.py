"""Markdown output: the kept part of a page as GitHub-flavoured Markdown.

What is written:

- headings ``#`` to ``######``; paragraphs, one block each, separated by a blank line;
- lists ``-`` and ``1.`` (an ordered item keeps its number in the page's list), nested by indent;
- tables of data as GitHub tables (``| a | b |``, the first row as the header row); tables of
  two-cell rows (label and value) and ``<dt>``/``<dd>`` as ``Label: value`` lines, and so a form
  label and its control's value, and a ``<meta>``'s name and content; layout tables (a table in a
  cell, sections or headings in cells, one column) as the blocks they hold;
- links as ``[text](url)`` and images as ``![alt](src)``, with the URLs as attribute stripping
  left them (shortened); JSON-LD in a fenced block;
- the element's id as ``{#id}`` before its content where the settings keep ids (Mind2Web's
  ``backend_node_id``, or ``id``).

Page text is escaped only where Markdown would read it as syntax (``*``, a ``_`` that is not inside
a word, ``[x](`` ..., a ``#`` or ``1.`` at the start of a line...), so the output is the page's text
plus Markdown syntax.

>>> from domprune import PruneSettings, prune
>>> md = PruneSettings(format="markdown")
>>> print(prune("<h2>Specs</h2><ul><li>Light *and* dry</li></ul><dl><dt>Weight</dt><dd>200 g</dd></dl>",
...             settings=md).output)
## Specs
<BLANKLINE>
- Light \\*and\\* dry
<BLANKLINE>
Weight: 200 g
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .safety import neutralize
from .tags import BLOCK, HEADINGS, TEXT_ATTRS

if TYPE_CHECKING:
    from .document import Document, Flags, _Skipper

__all__ = ["header_cells", "write_markdown"]

# a table whose cells hold these is laid out with a table, not a table of data
_STRUCTURAL = frozenset(
    {"table", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "main", "nav", "header", "footer",
     "aside", "form", "blockquote", "pre"}
)  # fmt: skip
_CONTROLS = frozenset({"input", "select", "textarea"})
_MARKED = frozenset({"a", "img", "input", "select", "textarea", "button", "option", "label"})
_ID_ATTRS = ("backend_node_id", "id")
_META_NAMES = ("name", "property", "itemprop", "http-equiv")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SPECIAL = re.compile(r"[\\`*_~\[\]<&|]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ORDERED_START = re.compile(r"\d{1,9}(?=[.)](?: |$))")
_WS = re.compile(r"\s+")


@dataclass
class _Layout:
    """Tables and ordered lists of a page as Markdown writes them (structure only: built once)."""

    kind: dict[int, str] = field(default_factory=dict)  # table -> "data" | "pairs" | "layout"
    cell: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # td/th -> (table, row, column)
    row_cells: dict[int, list[int]] = field(default_factory=dict)  # tr -> its cells
    head: dict[int, dict[int, int]] = field(default_factory=dict)  # table -> column -> first row's cell
    role: dict[int, str] = field(default_factory=dict)  # cell of a pairs table -> "label" | "value"
    number: dict[int, int] = field(default_factory=dict)  # li of an <ol> -> its number


def _colspan(doc: Document, i: int) -> int:
    for k, v in doc.attrs[i]:
        if k == "colspan":
            return min(max(int(v), 1), 50) if v.strip().isdigit() else 1
    return 1


def _children(doc: Document, i: int, alive: Flags) -> list[int]:
    out, j, end = [], i + 1, doc.end[i]
    while j < end:
        if alive[j]:
            out.append(j)
        j = doc.end[j]
    return out


def _layout(doc: Document) -> _Layout:
    """The page's tables and ordered lists (kept on the document: it depends on filtering only)."""
    lay = doc.markdown_layout
    if isinstance(lay, _Layout):
        return lay
    lay = _Layout()
    alive = doc.live()
    tags, end = doc.tags, doc.end
    for t, tag in enumerate(tags):
        if not alive[t]:
            continue
        if tag == "ol":
            number = 0
            for c in _children(doc, t, alive):
                if tags[c] == "li":
                    number += 1
                    lay.number[c] = number
            continue
        if tag != "table":
            continue
        rows: list[int] = []
        structural = any(k == "role" and v == "presentation" for k, v in doc.attrs[t])
        j = t + 1
        while j < end[t]:
            if not alive[j]:
                j = end[j]
                continue
            if tags[j] in _STRUCTURAL:
                structural = True
                if tags[j] == "table":  # a nested table's rows are its own
                    j = end[j]
                    continue
            if tags[j] == "tr":
                rows.append(j)
            j += 1
        width = 0
        all_th_pair = False
        for r, row in enumerate(rows):
            cells = [c for c in _children(doc, row, alive) if tags[c] in ("td", "th")]
            lay.row_cells[row] = cells
            col = 0
            for c in cells:
                lay.cell[c] = (t, r, col)
                col += _colspan(doc, c)
            width = max(width, col)
            if len(cells) == 2 and all(tags[c] == "th" for c in cells):
                all_th_pair = True
        if structural or width <= 1:
            kind = "layout"
        elif width == 2 and not all_th_pair and all(len(lay.row_cells[r]) <= 2 for r in rows):
            kind = "pairs"
            for row in rows:
                cells = lay.row_cells[row]
                if len(cells) == 2:
                    lay.role[cells[0]], lay.role[cells[1]] = "label", "value"
        else:
            kind = "data"
            if rows:
                lay.head[t] = {lay.cell[c][2]: c for c in lay.row_cells[rows[0]]}
        lay.kind[t] = kind
    doc.markdown_layout = lay
    return lay


def header_cells(doc: Document, e: int) -> list[int]:
    """The cells that give element ``e``'s table cell its meaning in Markdown: the label cell of
    its row in a table of label/value rows; the first cell of its row and the header cell of its
    column in a table of data. Empty outside such tables.

    >>> from domprune.document import flatten
    >>> from lxml import html
    >>> doc, _ = flatten(html.fromstring(
    ...     "<table><tr><th>Model</th><th>Weight</th></tr><tr><td>A</td><td>200 g</td></tr></table>"))
    >>> [doc.text[c] for c in header_cells(doc, doc.text.index("200 g"))]
    ['A', 'Weight']
    """
    lay = _layout(doc)
    cell = e
    while cell >= 0 and cell not in lay.cell:
        if doc.tags[cell] == "table":
            return []
        cell = doc.parent[cell]
    if cell < 0:
        return []
    table, row, col = lay.cell[cell]
    kind = lay.kind[table]
    if kind == "layout":
        return []
    out = []
    first = lay.row_cells[doc.parent[cell]][0]
    if first != cell:
        out.append(first)
    if kind == "data" and row > 0:
        head = lay.head[table].get(col)
        if head is not None and head != first:
            out.append(head)
    return out


def escape(s: str, *, line_start: bool = False, cell: bool = False, link: bool = False) -> str:
    r"""``s`` with the characters Markdown would read as syntax escaped by a backslash.

    ``line_start``: ``s`` starts a line (a ``#``, ``>``, ``-`` or ``1.`` there would start a block);
    ``cell``: ``s`` is in a table cell (``|`` ends it); ``link``: ``s`` is a link's text (brackets).

    >>> escape("snake_case is *fine* [1](x) <b> &amp; a_")
    'snake_case is \\*fine\\* [1\\](x) \\<b> \\&amp; a\\_'
    >>> escape("1. Open the box", line_start=True), escape("# of items", line_start=True)
    ('1\\. Open the box', '\\# of items')
    """
    if _SPECIAL.search(s):
        n = len(s)

        def repl(m: re.Match[str]) -> str:
            c, i = m.group(), m.start()
            nxt = s[i + 1] if i + 1 < n else ""
            if c == "_":
                return c if i and s[i - 1].isalnum() and nxt.isalnum() else "\\_"
            if c == "\\":
                return "\\\\" if not nxt or nxt in _ASCII_PUNCT else c
            if c == "[":
                return "\\[" if link else c
            if c == "]":
                return "\\]" if link or not nxt or nxt in "([:" else c
            if c == "<":
                return "\\<" if not nxt or nxt in "/!?" or (nxt.isascii() and nxt.isalpha()) else c
            if c == "&":
                return "\\&" if _ENTITY.match(s, i) else c
            if c == "|":
                return "\\|" if cell else c
            return "\\" + c  # ` * ~

        s = _SPECIAL.sub(repl, s)
    if line_start and s:
        c = s[0]
        if c in "#>" or (c in "-+" and (len(s) == 1 or s[1] == " ")):
            return "\\" + s
        if c in "-=" and not s.rstrip().strip(c):  # a line of - or = (a rule or a heading underline)
            return "\\" + s
        if c.isdigit():
            m = _ORDERED_START.match(s)
            if m:
                return s[: m.end()] + "\\" + s[m.end() :]
    return s


def _destination(url: str) -> str:
    """A link destination: as it is, or in ``<...>`` when it has spaces or unbalanced parentheses."""
    depth = 0
    for c in url:
        depth += 1 if c == "(" else -1 if c == ")" else 0
        if depth < 0:
            break
    if depth or " " in url or "<" in url or ">" in url:
        return "<" + url.replace("\\", "\\\\").replace("<", "\\<").replace(">", "\\>") + ">"
    return re.sub(r"\\(?=[!-/:-@\[-`{-~]|$)", r"\\\\", url)


class _Frame:
    """Inline content being gathered: text pieces and syntax, written when the frame closes."""

    __slots__ = ("indent", "kind", "label_at", "level", "marker", "parts", "written")

    def __init__(self, kind: str, level: int = 0, indent: int = 0, marker: str = "") -> None:
        self.kind = kind  # para | heading | item | cell | link | caption
        self.parts: list[tuple[bool, str]] = []  # (is syntax, string)
        self.level, self.indent, self.marker = level, indent, marker
        self.written = False  # an item's marker line is out
        self.label_at = -1  # parts after a form label that closed (a control's value joins it)

    def has_content(self) -> bool:
        return any(syntax or not s.isspace() for syntax, s in self.parts)

    def strip_end(self) -> None:
        while self.parts and not self.parts[-1][0] and self.parts[-1][1].isspace():
            self.parts.pop()

    def finish(self, *, line_start: bool = False, cell: bool = False, link: bool = False) -> str:
        out: list[str] = []
        run: list[str] = []

        def put_run() -> None:
            s = _WS.sub(" ", "".join(run))
            run.clear()
            if not out or out[-1].endswith(" "):
                s = s.lstrip(" ")
            if s:
                out.append(escape(s, line_start=line_start and not out, cell=cell, link=link))

        for syntax, s in self.parts:
            if syntax:
                if run:
                    put_run()
                out.append(s)
            else:
                run.append(s)
        if run:
            put_run()
        return "".join(out).strip()


@dataclass
class _Table:
    table: int
    rows: dict[int, dict[int, str]] = field(default_factory=dict)  # row -> column -> cell text
    caption: str = ""

    def write(self) -> str:
        cols = sorted({c for row in self.rows.values() for c, s in row.items() if s})
        if not cols:
            return ""
        lines = []
        for r in [0, *sorted(r for r in self.rows if r)]:
            row = self.rows.get(r, {})
            lines.append("| " + " | ".join(row.get(c, "") for c in cols) + " |")
            if r == 0:
                lines.append("|" + "---|" * len(cols))
        return "\n".join(lines)


class _Writer:
    def __init__(self, doc: Document, keep: Flags, keep_text: Flags, keep_tail: Flags) -> None:
        self.doc, self.keep, self.keep_text, self.keep_tail = doc, keep, keep_text, keep_tail
        self.lay = _layout(doc)
        self.blocks: list[tuple[str, int]] = []  # (text, the list of a list item line; -1: not one)
        self.lists = 0
        self.frames = [_Frame("para")]
        self.tables: list[_Table] = []
        self.strict = 0  # open frames whose content is one line (heading, cell, link, caption)
        self.items = 0  # open list items
        self.pending_value = False  # a label ended the paragraph so far: a value may join it
        self.closes: list[str] = []  # what each open element does when it closes

    # ------------------------------------------------------------------ writing pieces

    def text(self, s: str) -> None:
        if s.isspace():
            self.space()
            return
        if self.pending_value:
            self.flush()
        self.frames[-1].parts.append((False, s))

    def space(self) -> None:
        parts = self.frames[-1].parts
        if parts and not (not parts[-1][0] and parts[-1][1][-1:].isspace()):
            parts.append((False, " "))

    def syntax(self, s: str) -> None:
        if self.pending_value:
            self.flush()
        self.frames[-1].parts.append((True, s))

    def block(self, text: str, item: bool = False) -> None:
        if text:
            self.blocks.append((text, self.lists if item else -1))

    def flush(self) -> None:
        """End the paragraph gathered at the top level (nothing inside a list item or a line)."""
        self.pending_value = False
        para = self.frames[0]
        if len(self.frames) == 1 and para.parts:
            self.block(para.finish(line_start=True))
            para.parts.clear()
            para.label_at = -1

    def item_line(self, frame: _Frame) -> None:
        if not frame.has_content():
            frame.parts.clear()
            return
        lead = frame.marker if not frame.written else " " * len(frame.marker)
        self.block(" " * frame.indent + lead + " " + frame.finish(line_start=True), item=True)
        frame.parts.clear()
        frame.written = True

    def boundary(self) -> None:
        """A block starts or ends: a new paragraph at the top level, a space within a line."""
        if self.strict or self.items:
            self.space()
        else:
            self.flush()
            self.lists += 1  # list items on either side are in different lists

    # ------------------------------------------------------------------ elements

    def mark(self, i: int) -> None:
        """``{#id}`` before element ``i``'s content, where the settings kept its id."""
        doc = self.doc
        attrs = doc.kept_attrs[i]
        if not attrs:
            return
        if not (doc.tags[i] in _MARKED or (self.keep_text[i] and doc.text[i] and not doc.text[i].isspace())):
            return
        for name in _ID_ATTRS:
            for k, v in attrs:
                if k == name and v.strip():
                    self.space()
                    self.syntax("{#" + v.strip() + "}")
                    self.space()
                    return

    def label_of(self, i: int) -> str:
        for k, v in self.doc.kept_attrs[i]:
            if k in TEXT_ATTRS and v.strip():
                return v
        return ""

    def attr(self, i: int, name: str) -> str:
        for k, v in self.doc.kept_attrs[i]:
            if k == name:
                return v
        return ""

    def open(self, i: int) -> None:
        doc, tag = self.doc, self.doc.tags[i]
        code = ""
        if tag == "a" and self.attr(i, "href") and not any(f.kind == "link" for f in self.frames):
            self.mark(i)
            self.frames.append(_Frame("link"))
            self.strict += 1
            code = "link"
        elif tag == "img":
            self.mark(i)
            alt, src = self.label_of(i), self.attr(i, "src")
            if alt or src:
                self.space()
                self.syntax(f"![{escape(_WS.sub(' ', alt).strip(), link=True)}]({_destination(src)})")
                self.space()
        elif tag == "table" and not self.strict and not self.items and self.lay.kind.get(i) == "data":
            self.flush()
            self.tables.append(_Table(i))
            code = "table"
        elif tag in ("td", "th", "caption") and self.tables and self._in_table(i):
            self.frames.append(_Frame("cell"))
            self.strict += 1
            code = "cell" if tag != "caption" else "caption"
        elif self.tables and tag in ("tr", "thead", "tbody", "tfoot") and self._in_table(i):
            pass
        elif tag in HEADINGS and not self.strict and not self.items:
            self.flush()
            self.frames.append(_Frame("heading", level=int(tag[1])))
            self.strict += 1
            code = "heading"
        elif tag == "li" and not self.strict:
            self._open_item(i)
            code = "item"
        elif tag == "label":
            code = "label"
        elif tag in BLOCK:
            value = tag == "dd" or self.lay.role.get(i) == "value"
            if value and self.pending_value and not self.strict and not self.items:
                self.pending_value = False
                self.frames[0].strip_end()
                self.frames[0].parts.append((True, ": "))
                code = "block"
            else:
                self.boundary()
                code = "label-end" if tag == "dt" or self.lay.role.get(i) == "label" else "block"
        if tag not in ("a", "img"):
            self.mark(i)
        self.closes.append(code)
        if not self.keep_text[i]:
            return
        t = doc.text[i]
        if t and not t.isspace():
            if tag == "script":
                self._code_block(t)
            else:
                self.text(t)
        elif t:
            self.space()
        elif tag == "meta":
            self._meta(i)
        elif tag != "img" and doc.kept_attrs[i]:
            label = self.label_of(i)
            if label:
                if tag in _CONTROLS:
                    self._join_label()
                self.text(label)
                self.space()

    def close(self, k: int) -> None:
        code = self.closes.pop()
        if code == "link":
            frame = self.frames.pop()
            self.strict -= 1
            self.syntax(f"[{frame.finish(link=True)}]({_destination(self.attr(k, 'href'))})")
        elif code == "heading":
            frame = self.frames.pop()
            self.strict -= 1
            text = frame.finish()
            if text.endswith("#"):  # a closing sequence of #s would be dropped
                j = len(text.rstrip("#"))
                if j == 0 or text[j - 1] == " ":
                    text = text[:j] + "\\" + text[j:]
            self.block("#" * frame.level + " " + text if text else "")
        elif code in ("cell", "caption"):
            frame = self.frames.pop()
            self.strict -= 1
            table = self.tables[-1]
            text = frame.finish(cell=code == "cell")
            if code == "caption":
                table.caption = text
            else:
                _, row, col = self.lay.cell[k]
                table.rows.setdefault(row, {})[col] = text
        elif code == "table":
            table = self.tables.pop()
            self.flush()
            self.block(table.caption)
            self.block(table.write())
        elif code == "item":
            frame = self.frames.pop()
            self.items -= 1
            self.item_line(frame)
        elif code == "label":
            frame = self.frames[-1]
            frame.label_at = len(frame.parts) if frame.has_content() else -1
        elif code == "label-end":
            if self.strict or self.items:
                self.space()
            elif self.frames[0].has_content():
                self.pending_value = True
        elif code == "block":
            self.boundary()

    def _in_table(self, i: int) -> bool:
        """Whether element ``i`` (a cell, row or caption) belongs to the table being written."""
        table = self.tables[-1].table
        if i in self.lay.cell:
            return self.lay.cell[i][0] == table and not self.strict
        p = self.doc.parent[i]
        while p >= 0 and self.doc.tags[p] != "table":
            p = self.doc.parent[p]
        return p == table and not self.strict

    def _open_item(self, i: int) -> None:
        indent = 0
        for f in reversed(self.frames):
            if f.kind == "item":
                self.item_line(f)  # a nested list starts on its own line
                indent = f.indent + len(f.marker) + 1 if f.written else f.indent
                break
        else:
            self.flush()
        number = self.lay.number.get(i)
        self.frames.append(_Frame("item", indent=indent, marker=f"{number}." if number else "-"))
        self.items += 1

    def _join_label(self) -> None:
        """A form control's value right after its label: ``Label: value``."""
        frame = self.frames[-1]
        if frame.label_at >= 0 and all(not s.strip() for _, s in frame.parts[frame.label_at :]):
            frame.strip_end()
            frame.parts.append((True, ": "))
        frame.label_at = -1

    def _meta(self, i: int) -> None:
        content = self.attr(i, "content") or self.label_of(i)  # some pages write value=
        if not content.strip():
            return
        name = next((v for n in _META_NAMES for k, v in self.doc.kept_attrs[i] if k == n and v.strip()), "")
        self.boundary()
        if name:
            self.text(name)
            self.syntax(": ")
        self.text(content)
        self.boundary()

    def _code_block(self, code: str) -> None:
        if self.strict or self.items:
            self.text(code)
            return
        self.flush()
        longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
        fence = "`" * max(3, longest + 1)
        self.block(f"{fence}\n{code.strip()}\n{fence}")

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        prev = -1
        for text, in_list in self.blocks:
            if out:
                out.append("\n" if in_list >= 0 and in_list == prev else "\n\n")  # a list's items: tight
            out.append(text)
            prev = in_list
        return neutralize("".join(out))


def write_markdown(
    doc: Document,
    keep: Flags,
    keep_text: Flags,
    keep_tail: Flags,
    skip: _Skipper | None = None,
) -> str:
    """The kept part of ``doc`` as Markdown (the flags as for :func:`domprune.document.serialize`)."""
    w = _Writer(doc, keep, keep_text, keep_tail)
    tags, end, tail = doc.tags, doc.end, doc.tail
    stack: list[int] = []
    n = len(tags)

    def close(k: int) -> None:
        w.close(k)
        t = tail[k]
        if t:
            if t.isspace():
                w.space()
            elif keep_tail[k]:
                w.text(t)

    i = 0
    while i < n:
        while stack and end[stack[-1]] <= i:
            close(stack.pop())
        if not keep[i]:
            if skip is not None and (end[i] <= skip.lo or i >= skip.hi):
                i = skip.next(i, stack, n)
                continue
            t = tail[i]
            if t and keep_tail[i] and not t.isspace():
                if tags[i] in BLOCK:
                    w.boundary()
                w.text(t)
            elif t and t.isspace():
                w.space()
            i = end[i]
            continue
        w.open(i)
        stack.append(i)
        i += 1
    while stack:
        k = stack.pop()
        if stack:
            close(k)
        else:
            w.close(k)
    return w.result()
