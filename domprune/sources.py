"""What kind of page source a user named: the one picker that every reader (``domprune bench``, and
domvqa_train's ``generate``, ``label`` and ``prepare``) dispatches on.

>>> source_kind("hf:user/pages")
'hub'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from .errors import InputError

HF_PREFIX = "hf:"
#: Suffixes of a file read as one HTML page.
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
#: Files that make a folder a ``datasets.save_to_disk`` dataset rather than a folder of pages.
DATASET_FOLDER_FILES = ("dataset_info.json", "dataset_dict.json", "state.json")

SourceKind = Literal["hub", "dataset_folder", "html_folder", "html_file", "records_file"]


class SourceError(InputError):
    """A source that does not exist or cannot be told apart; the message says what to give."""


def source_kind(source: str | os.PathLike[str]) -> SourceKind:
    """``hub`` (``hf:NAME``), ``dataset_folder`` (``datasets.save_to_disk``), ``html_folder``, ``html_file``
    (by suffix) or ``records_file`` (a JSON array or JSON Lines of records); raises :class:`SourceError`
    when the path does not exist."""
    text = os.fspath(source)
    if text.startswith(HF_PREFIX):
        return "hub"
    path = Path(text)
    if path.is_dir():
        if any((path / name).is_file() for name in DATASET_FOLDER_FILES):
            return "dataset_folder"
        return "html_folder"
    if not path.exists():
        raise SourceError(
            f"{text!r} does not exist; give a folder of HTML pages, a JSON/JSONL file of records, a "
            "datasets.save_to_disk folder, or hf:NAME"
        )
    if path.suffix.lower() in HTML_SUFFIXES:
        return "html_file"
    return "records_file"


def is_html_file(path: Path) -> bool:
    """True for a file whose suffix marks one HTML page."""
    return path.suffix.lower() in HTML_SUFFIXES


def json_lines(content: str) -> list[str]:
    r"""The lines of a JSON Lines text: split at ``\n`` only (``\r\n`` too), as JSON Lines defines them.

    ``str.splitlines`` also splits at U+2028, U+0085 and other separators, which ``json.dumps(...,
    ensure_ascii=False)`` leaves raw inside a string value (real pages hold them), so it would cut a record.

    >>> json_lines('{"t": "a\u2028b"}\r\n{"t": "c"}\n')
    ['{"t": "a\u2028b"}', '{"t": "c"}']
    """
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


__all__ = [
    "HF_PREFIX",
    "HTML_SUFFIXES",
    "SourceError",
    "SourceKind",
    "is_html_file",
    "json_lines",
    "source_kind",
]
