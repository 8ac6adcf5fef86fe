"""Web pages to write questions about: a folder of HTML files, records, JSON Lines or a Hugging Face dataset.

- a folder of ``.html``/``.htm`` files (searched recursively; the id is the path without suffix; a
  ``.png``/``.jpg``/``.jpeg``/``.webp`` file with the same stem is the page's screenshot), or one file;
- records (a JSON array or JSON Lines, as :func:`domvqa_train.common.records.read_records` reads them) with
  ``cleaned_html`` or ``html`` or ``html_path``, and an optional ``screenshot`` (a path, relative to
  the file's folder, or an image column);
- a ``datasets.save_to_disk`` folder or ``hf:NAME``, e.g. Multimodal-Mind2Web (``cleaned_html``,
  ``screenshot`` as an image column, ``action_uid``/``annotation_id``).

The page id is the record's ``id`` (or ``page_id``, ``action_uid``, ``annotation_id``, ``uid``),
else a hash of its HTML. Records that repeat a page (several questions about one page) give it once.
Screenshots stored as bytes are written to ``screenshot_dir`` so that the outputs can name a file.
A record that gives no usable page becomes a :class:`PageReject` with its reason.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domprune.parse import decode_bytes
from domprune.sources import SourceError, is_html_file, source_kind

from ..common.records import read_records, record_screenshot
from ..errors import DataSourceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
PAGE_ID_KEYS = ("id", "page_id", "action_uid", "annotation_id", "uid")


@dataclass(frozen=True)
class Page:
    """One page: its id, HTML, screenshot file (if any) and where it came from."""

    id: str
    html: str
    screenshot: str | None = None
    origin: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # other scalar fields of the record (website, ...)


@dataclass(frozen=True)
class PageReject:
    """A record or file that gave no usable page, and why."""

    id: str | None
    origin: str
    reason: str
    kind: str


def page_id_of(record: Mapping[str, Any], html: str) -> str:
    """The record's own id, else ``page-`` and 16 hex digits of the HTML's SHA-256.

    >>> page_id_of({"action_uid": "a1"}, "<p>x</p>"), page_id_of({}, "<p>x</p>")[:5]
    ('a1', 'page-')
    """
    for key in PAGE_ID_KEYS:
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return "page-" + hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()[:16]


def read_pages(
    source: str | os.PathLike[str], *, screenshot_dir: str | os.PathLike[str] | None = None, max_bytes: int
) -> Iterator[Page | PageReject]:
    """The pages of ``source`` in order; raises :class:`DataSourceError` when the source cannot be read."""
    text = os.fspath(source)
    path = Path(text)
    try:
        kind = source_kind(text)
    except SourceError as exc:
        raise DataSourceError(str(exc)) from None
    if kind == "html_folder":
        yield from _html_folder(path, max_bytes)
        return
    if kind == "html_file":
        yield from _html_files([path], path.parent, max_bytes)
        return
    base = None if kind == "hub" else (path if path.is_dir() else path.parent)
    seen: dict[str, str] = {}  # page id -> hash of its HTML
    for item in read_records(text):
        origin = f"{text}:{item.line}" if item.line is not None else f"{text} {item.where or ''}".strip()
        if item.error is not None:
            yield PageReject(None, origin, item.error, "bad_json")
            continue
        page = _page_of(item.record, origin, base, screenshot_dir, max_bytes)
        if page.id is None:
            yield page
            continue
        if isinstance(page, Page):
            digest = hashlib.sha256(page.html.encode("utf-8", "replace")).hexdigest()
        else:
            digest = f"rejected as {page.kind}"  # records repeating a rejected page are not rejected again
        if page.id not in seen:
            seen[page.id] = digest
            yield page
        elif seen[page.id] != digest:
            yield PageReject(
                page.id,
                origin,
                f"page id {page.id!r} was already used by another record with other content; give each page a unique id",
                "duplicate_page_id",
            )
        # else: another question about a page already read


def _html_folder(folder: Path, max_bytes: int) -> Iterator[Page | PageReject]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_html_file(p))
    if not files:
        raise DataSourceError(
            f"{os.fspath(folder)!r} holds no .html/.htm files and is not a datasets.save_to_disk folder; "
            "give a folder of pages, a JSON/JSONL file of records, or hf:NAME"
        )
    yield from _html_files(files, folder, max_bytes)


def _html_files(files: list[Path], root: Path, max_bytes: int) -> Iterator[Page | PageReject]:
    for path in files:
        page_id = path.relative_to(root).with_suffix("").as_posix()
        size = path.stat().st_size
        if size > max_bytes:
            yield PageReject(page_id, str(path), _oversize(size, max_bytes), "oversize")
            continue
        try:
            html = decode_bytes(path.read_bytes())
        except OSError as exc:
            yield PageReject(
                page_id, str(path), f"cannot read the file ({exc.strerror or exc})", "unreadable"
            )
            continue
        if not html.strip():
            yield PageReject(page_id, str(path), "the file is empty", "empty_page")
            continue
        shot = next((path.with_suffix(s) for s in IMAGE_SUFFIXES if path.with_suffix(s).is_file()), None)
        yield Page(page_id, html, str(shot.resolve()) if shot else None, str(path))


def _oversize(size: int, max_bytes: int) -> str:
    return f"the page is {size:,} bytes, over max_page_bytes={max_bytes:,}; raise --max-page-bytes to take it"


def _page_of(
    record: Any, origin: str, base: Path | None, screenshot_dir: str | os.PathLike[str] | None, max_bytes: int
) -> Page | PageReject:
    if not isinstance(record, Mapping):
        return PageReject(
            None, origin, f"record is a JSON {type(record).__name__}, expected an object", "not_object"
        )
    html = record.get("cleaned_html") if record.get("cleaned_html") is not None else record.get("html")
    if html is None and isinstance(record.get("html_path"), str):
        html_path = Path(record["html_path"])
        html_path = html_path if html_path.is_absolute() or base is None else base / html_path
        try:
            size = html_path.stat().st_size
            if size > max_bytes:
                return PageReject(page_id_of(record, ""), origin, _oversize(size, max_bytes), "oversize")
            html = decode_bytes(html_path.read_bytes())
        except OSError as exc:
            return PageReject(
                None,
                origin,
                f"cannot read html_path {record['html_path']!r} ({exc.strerror or exc})",
                "unreadable",
            )
    if not isinstance(html, str) or not html.strip():
        keys = ", ".join(sorted(map(str, record))) or "none"
        return PageReject(
            None,
            origin,
            f"no page: needs a non-empty 'cleaned_html', 'html' or 'html_path' (keys: {keys})",
            "missing_field",
        )
    page_id = page_id_of(record, html)
    size = len(html.encode("utf-8", "replace"))
    if size > max_bytes:
        return PageReject(page_id, origin, _oversize(size, max_bytes), "oversize")
    try:
        shot = record_screenshot(record.get("screenshot"), base_dir=base, media_dir=screenshot_dir)
    except (OSError, ValueError) as exc:
        return PageReject(page_id, origin, f"unusable screenshot: {exc}", "bad_screenshot")
    if shot is not None and not Path(shot).is_file():
        shot = None  # a path to no file: the page is used without its screenshot
    fields = {
        k: v
        for k, v in record.items()
        if k not in ("cleaned_html", "html", "html_path", "screenshot", "raw_html")
        and isinstance(v, (str, int, float, bool))
    }
    return Page(page_id, html, shot, origin, fields)
