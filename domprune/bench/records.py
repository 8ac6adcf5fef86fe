"""What the bench reads: pages with their questions, and the records it had to skip."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from domprune.parse import decode_bytes

_TAG = re.compile(r"<[A-Za-z!/]")

QuestionKind = Literal["natural", "synthetic", "paraphrased"]


@dataclass(frozen=True)
class Question:
    """A short-answer question about a page; any of ``answers`` is a correct answer."""

    text: str
    answers: tuple[str, ...]
    kind: QuestionKind = "natural"
    field: str = "question"


@dataclass
class Page:
    """One page of a corpus: its HTML (inline or a file) and its labelled questions."""

    id: str
    corpus: str
    questions: list[Question] = field(default_factory=list)
    path: Path | None = None
    html: str | None = None
    origin: str = ""  # where the record came from (file, file:line), for skip reports

    def read_html(self) -> str:
        """The page's HTML as text; raises ``PageReadError`` when it is unreadable or not HTML."""
        if self.html is not None:
            text = self.html
        elif self.path is not None:
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                raise PageReadError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
            text = decode_html(data)
        else:
            raise PageReadError("record has neither HTML nor a path to an HTML file")
        if not looks_like_html(text):
            raise PageReadError("not HTML: no markup tag in the first 64 KiB")
        return text


class PageReadError(Exception):
    """A page could not be read as HTML; the message is the reason written to the skip report."""


@dataclass(frozen=True)
class Skip:
    """A record left out of the bench, with where it came from and why."""

    source: str
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, str | int | None]:
        return {"source": self.source, "line": self.line, "reason": self.reason}


def decode_html(data: bytes) -> str:
    """Decode page bytes the way ``domprune.prune`` does (BOM, declared charset, then detection)."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PageReadError("binary file (NUL bytes), not HTML")
    return decode_bytes(data)


def looks_like_html(text: str) -> bool:
    """True when the text has at least one tag-like ``<name``, ``</`` or ``<!`` in its first 64 KiB."""
    return _TAG.search(text[:65536]) is not None
