"""Read a page (str, bytes, path or lxml tree) into an lxml tree, safely.

The parser is libxml2's HTML parser through lxml: it never touches the network, never expands
entities from a DTD, and drops comments and processing instructions while parsing.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from .document import Document
from .errors import InputError, InputTooLargeError
from .settings import ParseSettings
from .table import MIN_CHARS as TABLE_MIN_CHARS
from .table import TableOptions, TreeNeeded, parse_to_document

Page = Any  # str | bytes | os.PathLike | lxml element or tree
Dialect = Literal["html", "mind2web"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass
class ParsedPage:
    """A parsed page: the lxml root, the dialect, and the text it came from (``None`` for trees).

    Parsed with ``table=`` options, a text page is read straight into its flat table instead:
    ``document`` (and ``dropped``, the elements its options dropped) with no lxml tree, ``root``
    ``None``.
    """

    root: Any
    dialect: Dialect
    source: str | None
    document: Document | None = None
    dropped: int = 0


_PARSER_OPTIONS: dict[str, Any] = {
    "remove_comments": True,
    "remove_pis": True,
    "no_network": True,
    "huge_tree": True,
    "default_doctype": False,
    "collect_ids": False,
}


def _parser() -> etree.HTMLParser:
    return etree.HTMLParser(**_PARSER_OPTIONS)


def _check_log(log: Any) -> None:
    for err in log:
        if err.type_name == "ERR_RESOURCE_LIMIT":
            raise InputError(
                f"the page is nested too deeply to parse ({err.message.split(',')[0]}); "
                "flatten it or remove the runaway nesting first"
            )


def decode_bytes(data: bytes) -> str:
    """Decode HTML bytes: byte-order mark, declared charset, UTF-8, then detection.

    Detection is bs4's ``UnicodeDammit``. With only a few non-ASCII bytes, detectors guess among
    the single-byte code pages at random, so then the web's default, windows-1252, is used.
    """
    from bs4.dammit import EncodingDetector, UnicodeDammit

    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace")
    declared = EncodingDetector.find_declared_encoding(data, is_html=True, search_entire_document=False)
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    non_ascii = len(data[:65536].translate(None, bytes(range(128))))
    if non_ascii < 100:
        return data.decode("windows-1252", errors="replace")
    dammit = UnicodeDammit(data, is_html=True)
    if dammit.unicode_markup is None:
        return data.decode("windows-1252", errors="replace")
    return dammit.unicode_markup


def _read_text(page: Page, limit: int) -> str:
    if isinstance(page, os.PathLike) or (isinstance(page, str) and _looks_like_path(page)):
        path = Path(page)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
        if path.is_dir():
            raise InputError(f"{str(path)!r} is a folder; pass an HTML file")
        if size > limit:
            raise InputTooLargeError(
                f"{path.name} is {size:,} bytes, over the {limit:,}-byte limit; raise "
                "ParseSettings.max_input_bytes if you mean it"
            )
        try:
            page = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    if isinstance(page, (bytes, bytearray, memoryview)):
        data = bytes(page)
        if len(data) > limit:
            raise InputTooLargeError(
                f"input is {len(data):,} bytes, over the {limit:,}-byte limit; raise "
                "ParseSettings.max_input_bytes if you mean it"
            )
        return decode_bytes(data)
    if isinstance(page, str):
        if len(page) > limit:
            raise InputTooLargeError(
                f"input is {len(page):,} characters, over the {limit:,} limit; raise "
                "ParseSettings.max_input_bytes if you mean it"
            )
        return page
    raise InputError(
        f"cannot read a page from {type(page).__name__}; pass HTML as str or bytes, a file path, "
        "or an lxml element"
    )


def _looks_like_path(text: str) -> bool:
    if len(text) > 4096 or "<" in text or "\n" in text:
        return False
    if os.path.exists(text):
        return True
    if re.fullmatch(r"\S+\.(?:html?|xhtml|htm)", text.strip(), flags=re.IGNORECASE):
        raise InputError(f"file not found: {text!r}; pass an existing HTML file or the HTML text itself")
    return False


def _check_markup(text: str) -> str:
    if not text or text.isspace():  # (no copy of a large page)
        raise InputError("the page is empty; pass the HTML of a page")
    if "\x00" in text:
        text = text.replace("\x00", "")
    sample = text[:65536]
    controls = len(_CONTROL.findall(sample))
    if controls > max(8, len(sample) // 50) or sample.count("\ufffd") > max(16, len(sample) // 20):
        raise InputError("the input looks like binary data, not HTML; pass the HTML text of a page")
    # Text without tags is read as the text of a page (it may be domprune's own output, whose tags
    # were all unwrapped); only binary data is refused.
    return text


def detect_dialect(text: str) -> Dialect:
    """``mind2web`` when the page carries Mind2Web's markers (backend_node_id, <text> elements)."""
    head = text[:20000]
    if "backend_node_id" in head or re.search(r"<text[\s>]", head):
        return "mind2web"
    return "html"


def parse_page(
    page: Page, settings: ParseSettings | None = None, *, table: TableOptions | None = None
) -> ParsedPage:
    """Parse ``page`` into an lxml tree. Raises :class:`InputError` with what to do on bad input.

    With ``table``, a page given as text (str, bytes or a path) of at least
    :data:`domprune.table.MIN_CHARS` characters is parsed straight into its flat table
    (``ParsedPage.document``; see :mod:`domprune.table`), which equals the tree's walked with the
    same options and needs no tree in memory.
    """
    settings = settings or ParseSettings()
    if isinstance(page, etree._ElementTree):
        page = page.getroot()
    if isinstance(page, etree._Element):
        if not isinstance(page.tag, str):
            raise InputError("the lxml node is not an element; pass an element or a tree")
        dialect: Dialect = "html" if settings.dialect == "auto" else settings.dialect
        if settings.dialect == "auto" and page.find(".//*[@backend_node_id]") is not None:
            dialect = "mind2web"
        return ParsedPage(root=copy.deepcopy(page), dialect=dialect, source=None)
    text = _check_markup(_read_text(page, settings.max_input_bytes))
    if text.lstrip()[:5] == "<?xml":  # lxml refuses str input that declares an encoding
        text = _XML_DECL.sub("", text, count=1)
    dialect = detect_dialect(text) if settings.dialect == "auto" else settings.dialect
    if table is not None and len(text) >= TABLE_MIN_CHARS:
        try:
            doc, dropped, log = parse_to_document(text, _PARSER_OPTIONS, table, dialect=dialect)
        except TreeNeeded:
            pass  # the tree is read below
        except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
            raise InputError(f"the page could not be parsed as HTML ({exc}); check that it is HTML") from exc
        else:
            if not len(doc):
                raise InputError("the page has no elements; pass the HTML of a page")
            _check_log(log)
            return ParsedPage(root=None, dialect=dialect, source=text, document=doc, dropped=dropped)
    parser = _parser()
    try:
        root = etree.fromstring(text, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise InputError(f"the page could not be parsed as HTML ({exc}); check that it is HTML") from exc
    if root is None:
        raise InputError("the page has no elements; pass the HTML of a page")
    _check_log(parser.error_log)
    return ParsedPage(root=root, dialect=dialect, source=text)
