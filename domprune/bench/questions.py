"""Synthetic short-answer questions from the label/value structure of a page.

Synthetic questions are not labelled by people: they ask for the value next to a label found
anywhere in the page (main content or not), so they measure whether pruning keeps the small
facts a page states in structured form. They are reported apart from natural questions.

Sources of label/value pairs, in this order:

- table rows with exactly two cells (``<th>Label</th><td>value</td>``, or two ``<td>``);
- definition lists (``<dt>Label</dt><dd>value</dd>``);
- form labels (``<label for=ID>Label</label>`` and the ``value`` of the control with that id);
- small elements whose whole text reads ``Label: value``.

A label seen with two different values is ambiguous and dropped. The question reads
``What is the value of "Label"?``; the answer is the value.
"""

from __future__ import annotations

import random
import re

import lxml.etree
import lxml.html

from .records import Question

MAX_LABEL_CHARS = 40
MAX_VALUE_CHARS = 80
MAX_VALUE_WORDS = 12
_WS = re.compile(r"\s+")
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


def _text(el: lxml.etree._Element) -> str:
    return _WS.sub(" ", el.text_content()).strip()


def _clean_label(label: str) -> str:
    return _WS.sub(" ", label).strip().rstrip(":").strip()


def _valid(label: str, value: str) -> bool:
    if not (2 <= len(label) <= MAX_LABEL_CHARS) or not any(c.isalpha() for c in label):
        return False
    if not value or len(value) > MAX_VALUE_CHARS or len(value.split()) > MAX_VALUE_WORDS:
        return False
    return value.casefold() != label.casefold() and "://" not in label


def label_value_pairs(html: str) -> list[tuple[str, str, str]]:
    """All ``(source, label, value)`` pairs of a page, in document order (unambiguous labels only)."""
    try:
        root = lxml.html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    except (lxml.etree.ParserError, ValueError):
        return []
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
            pairs.append(("form", _clean_label(_text(label)), _WS.sub(" ", value).strip()))
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


def synthetic_questions(html: str, limit: int, rng: random.Random) -> list[Question]:
    """Up to ``limit`` synthetic questions for a page, drawn with ``rng`` from its label/value pairs."""
    pairs = label_value_pairs(html)
    chosen = rng.sample(pairs, min(limit, len(pairs))) if limit > 0 else []
    return [
        Question(f'What is the value of "{label}"?', (value,), "synthetic", source)
        for source, label, value in chosen
    ]
