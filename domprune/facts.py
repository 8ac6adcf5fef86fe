"""``Label: value`` pairs that a page states: the facts a short-answer question asks for.

Sources, in this order:

- table rows with exactly two cells (``<th>Label</th><td>value</td>``, or two ``<td>``);
- definition lists (``<dt>Label</dt><dd>value</dd>``);
- form labels (``<label for=ID>Label</label>`` and the ``value`` of the control with that id);
- small elements whose whole text reads ``Label: value``.

A label seen with two different values is ambiguous and dropped, and so is a "label" that holds a
``Label: value`` of its own (a product card's whole text beside its "Add to Cart" button is not a
field). Labels and values are the text a browser shows: descendants with the ``hidden`` attribute
or an inline ``display: none`` / ``visibility: hidden`` style are left out (Wikipedia writes an ISO
copy of every infobox date in such a span).

>>> label_value_pairs("<table><tr><th>Publisher</th><td>Orbit</td></tr></table><p>ISBN: 978-0</p>")
[('table', 'Publisher', 'Orbit'), ('text', 'ISBN', '978-0')]
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

from .steps.filtering import HIDDEN_STYLE

__all__ = ["label_value_pairs", "label_value_pairs_in", "parse_page"]

MAX_LABEL_CHARS = 40
MAX_VALUE_CHARS = 80
MAX_VALUE_WORDS = 12
WS = re.compile(r"\s+")
_LABEL_VALUE = re.compile(rf"^([^:]{{2,{MAX_LABEL_CHARS}}}?)\s*:\s+(\S.*)$")
_SKIP_TAGS = frozenset(
    {"script", "style", "template", "noscript", "head", "title", "option", "select", "a", "button"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INLINE = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "cite",
        "code",
        "em",
        "i",
        "mark",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
        "font",
        "br",
    }
)
_CONTROL_TYPES_SKIPPED = frozenset(
    {"hidden", "password", "submit", "button", "image", "reset", "checkbox", "radio"}
)


def _hidden(el: lxml.etree._Element) -> bool:
    return el.get("hidden") is not None or bool(HIDDEN_STYLE.search(el.get("style") or ""))


def _shown_text(el: lxml.etree._Element) -> str:
    """``el``'s text as a browser shows it: without hidden descendants (nor comments).

    >>> _shown_text(lxml.html.fragment_fromstring(
    ...     '<td>May 1, 1998<span style="display:none"> (1998-05-01)</span>!</td>'))
    'May 1, 1998!'
    """
    parts: list[str] = []

    def walk(e: lxml.etree._Element) -> None:
        parts.append(e.text or "")
        for child in e:
            if isinstance(child.tag, str) and not _hidden(child):
                walk(child)
            parts.append(child.tail or "")

    if not _hidden(el):
        walk(el)
    return "".join(parts)


def _text(el: lxml.etree._Element) -> str:
    return WS.sub(" ", _shown_text(el)).strip()


def _clean_label(label: str) -> str:
    return WS.sub(" ", label).strip().rstrip(":").strip()


def _valid(label: str, value: str) -> bool:
    if not (2 <= len(label) <= MAX_LABEL_CHARS) or not any(c.isalpha() for c in label):
        return False
    if not value or len(value) > MAX_VALUE_CHARS or len(value.split()) > MAX_VALUE_WORDS:
        return False
    return value.casefold() != label.casefold() and "://" not in label and not _LABEL_VALUE.match(label)


def parse_page(html: str) -> lxml.etree._Element | None:
    """The page's tree as :func:`label_value_pairs` reads it (an XML declaration dropped), or
    ``None`` when lxml cannot parse it."""
    try:
        return lxml.html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    except (lxml.etree.ParserError, ValueError):
        return None


def label_value_pairs(html: str) -> list[tuple[str, str, str]]:
    """All ``(source, label, value)`` pairs of a page, in document order (unambiguous labels only)."""
    root = parse_page(html)
    return [] if root is None else label_value_pairs_in(root)


def label_value_pairs_in(root: lxml.etree._Element) -> list[tuple[str, str, str]]:
    """:func:`label_value_pairs` of a page parsed already (by :func:`parse_page`)."""
    pairs: list[tuple[str, str, str]] = []
    for tr in root.iter("tr"):
        cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("th", "td")]
        if len(cells) == 2 and cells[1].tag == "td":
            pairs.append(("table", _clean_label(_text(cells[0])), _text(cells[1])))
    for dt in root.iter("dt"):
        dd = dt.getnext()
        if dd is not None and dd.tag == "dd":
            pairs.append(("dl", _clean_label(_text(dt)), _text(dd)))
    by_id = {el.get("id"): el for el in root.iter("input", "textarea") if el.get("id")}
    for label in root.iter("label"):
        control = by_id.get(label.get("for"))
        if control is None or (control.get("type") or "text").lower() in _CONTROL_TYPES_SKIPPED:
            continue
        value = control.get("value") if control.tag == "input" else control.text_content()
        if value:
            pairs.append(("form", _clean_label(_text(label)), WS.sub(" ", value).strip()))
    for el in root.iter():
        if (
            not isinstance(el.tag, str)
            or el.tag in _SKIP_TAGS
            or el.tag in _HEADINGS
            or len(el) > 3
            or any(len(c) or c.tag not in _INLINE for c in el)
        ):
            continue
        text = _text(el)
        if len(text) > MAX_LABEL_CHARS + MAX_VALUE_CHARS + 2:
            continue
        match = _LABEL_VALUE.match(text)
        if match and not any(isinstance(a.tag, str) and a.tag in _SKIP_TAGS for a in el.iterancestors()):
            pairs.append(("text", _clean_label(match.group(1)), match.group(2).strip()))
    values: dict[str, set[str]] = {}
    for _, label, value in pairs:
        values.setdefault(label.casefold(), set()).add(value.casefold())
    seen: set[str] = set()
    out = []
    for source, label, value in pairs:
        key = label.casefold()
        if key in seen or len(values[key]) != 1 or not _valid(label, value):
            continue
        seen.add(key)
        out.append((source, label, value))
    return out
