"""Loaders for the labelled corpora of real pages, with natural questions built from their labels.

``load_corpus(path)`` takes the folder that holds the corpora, or one corpus folder, and detects
each layout by its files:

- ``mozilla-readability``: ``pages/<name>/source.html`` + ``expected-metadata.json``;
- ``postlight``: ``labels.json`` (only fields marked in ``verbatim_in_html``) + ``fixtures/*.html``;
- ``swde-book``: ``groundtruth/book-<site>-<field>.txt`` (tab-separated) + ``pages/<id>.htm``;
- ``trafilatura-eval``: ``evaldata.json`` + ``eval/`` or ``cache/``;
- any other labelled set: ``questions.jsonl`` (the bench's JSON Lines input: ``html_path`` relative
  to the folder, ``question``, ``answers``, optionally ``field``), named after its folder.

Whether an answer really occurs in its page is checked later, when the page is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .loaders import BenchInputError, Loaded, load_jsonl
from .records import Page, Question, Skip

READABILITY_QUESTIONS = {
    "title": "What is the title of this article?",
    "byline": "Who wrote this article?",
    "siteName": "What is the name of this website?",
}
POSTLIGHT_QUESTIONS = {
    "title": "What is the title of this article?",
    "author": "Who wrote this article?",
    "dek": "What is the subtitle of this article?",
    "date_published": "When was this article published?",
}
SWDE_BOOK_QUESTIONS = {
    "title": "What is the title of the book?",
    "author": "Who wrote the book?",
    "isbn_13": "What is the ISBN-13 of the book?",
    "publisher": "Who published the book?",
    "publication_date": "When was the book published?",
}
TRAFILATURA_QUESTIONS = {
    "title": "What is the title of this article?",
    "author": "Who wrote this article?",
}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchInputError(f"cannot read labels {path}: {exc}") from exc


def _questions(labels: dict[str, Any], templates: dict[str, str]) -> list[Question]:
    out = []
    for name, text in templates.items():
        value = labels.get(name)
        values = value if isinstance(value, list) else [value]
        answers = tuple(v.strip() for v in values if isinstance(v, str) and v.strip())
        if answers:
            out.append(Question(text, answers, "natural", name))
    return out


def load_readability(folder: Path) -> Loaded:
    """mozilla-readability test pages: title, byline and site name from ``expected-metadata.json``."""
    out = Loaded()
    for page_dir in sorted(p for p in (folder / "pages").iterdir() if p.is_dir()):
        meta, source = page_dir / "expected-metadata.json", page_dir / "source.html"
        if not source.exists() or not meta.exists():
            out.skipped.append(Skip(str(page_dir), None, "no source.html or expected-metadata.json"))
            continue
        questions = _questions(_read_json(meta), READABILITY_QUESTIONS)
        out.pages.append(Page(page_dir.name, folder.name, questions, path=source, origin=str(source)))
    return out


def load_postlight(folder: Path) -> Loaded:
    """Postlight parser fixtures: fields that ``verbatim_in_html`` marks as present in the page."""
    out = Loaded()
    labels = _read_json(folder / "labels.json")
    for number, item in enumerate(labels if isinstance(labels, list) else [], start=1):
        fixture = folder / str(item.get("fixture", ""))
        if not item.get("fixture") or not fixture.is_file():
            out.skipped.append(
                Skip(str(folder / "labels.json"), number, f"fixture {item.get('fixture')!r} missing")
            )
            continue
        verbatim = item.get("verbatim_in_html") or {}
        kept = {k: v for k, v in item.items() if verbatim.get(k)}
        questions = _questions(kept, POSTLIGHT_QUESTIONS)
        out.pages.append(Page(fixture.name, folder.name, questions, path=fixture, origin=str(fixture)))
    return out


def load_swde(folder: Path) -> Loaded:
    """SWDE vertical pages: one question per ``groundtruth/*-<field>.txt`` file with a value."""
    out = Loaded()
    values: dict[str, dict[str, list[str]]] = {}
    for gt in sorted((folder / "groundtruth").glob("*.txt")):
        field = gt.stem.split("-", 2)[-1]
        lines = gt.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        for number, line in enumerate(lines[2:], start=3):
            cells = line.rstrip("\r").split("\t")
            if len(cells) < 2:
                out.skipped.append(Skip(str(gt), number, "line has no page id and value count"))
                continue
            vals = [v.strip().removeprefix(":").strip() for v in cells[2:]]
            vals = [v for v in vals if v and v != "<NULL>"]
            if vals:
                values.setdefault(cells[0], {})[field] = vals
    pages_dir = folder / "pages"
    for page_id in sorted(values):
        page = next(
            (
                pages_dir / f"{page_id}{s}"
                for s in (".htm", ".html")
                if (pages_dir / f"{page_id}{s}").exists()
            ),
            None,
        )
        if page is None:
            continue  # the ground truth covers the full dataset; this copy ships a subset of the pages
        questions = _questions(values[page_id], SWDE_BOOK_QUESTIONS)
        out.pages.append(Page(page_id, folder.name, questions, path=page, origin=str(page)))
    return out


def load_trafilatura(folder: Path) -> Loaded:
    """trafilatura's evaluation set: title and author from ``evaldata.json``."""
    out = Loaded()
    data = _read_json(folder / "evaldata.json")
    for url, item in sorted(data.items() if isinstance(data, dict) else []):
        name = str(item.get("file", ""))
        file = next(
            (folder / sub / name for sub in ("eval", "cache") if name and (folder / sub / name).is_file()),
            None,
        )
        if file is None:
            out.skipped.append(Skip(str(folder / "evaldata.json"), None, f"file {name!r} of {url} missing"))
            continue
        questions = _questions(item, TRAFILATURA_QUESTIONS)
        out.pages.append(Page(name, folder.name, questions, path=file, origin=str(file)))
    return out


LAYOUTS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Loaded]]] = {
    "mozilla-readability": (
        lambda p: (p / "pages").is_dir() and any((p / "pages").glob("*/expected-metadata.json")),
        load_readability,
    ),
    "postlight": (lambda p: (p / "labels.json").is_file(), load_postlight),
    "swde": (lambda p: (p / "groundtruth").is_dir() and (p / "pages").is_dir(), load_swde),
    "trafilatura-eval": (lambda p: (p / "evaldata.json").is_file(), load_trafilatura),
    "questions.jsonl": (
        lambda p: (p / "questions.jsonl").is_file(),
        lambda p: load_jsonl(p / "questions.jsonl", corpus=p.name),
    ),
}


def detect_layout(folder: Path) -> str | None:
    """Name of the corpus layout of ``folder``, or ``None``."""
    return next((name for name, (test, _) in LAYOUTS.items() if test(folder)), None)


def load_corpus(path: str | Path) -> Loaded:
    """Load one corpus folder, or every corpus folder directly inside ``path``."""
    folder = Path(path)
    if not folder.is_dir():
        raise BenchInputError(
            f"corpus path {str(path)!r} is not a folder: give the folder of the corpora "
            "or one corpus folder (mozilla-readability, postlight, swde, trafilatura-eval, questions.jsonl layouts)"
        )
    layout = detect_layout(folder)
    if layout is not None:
        return LAYOUTS[layout][1](folder)
    out = Loaded()
    found = False
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        layout = detect_layout(sub)
        if layout is not None:
            found = True
            out.extend(LAYOUTS[layout][1](sub))
    if not found:
        raise BenchInputError(
            f"no known corpus layout in {folder}: expected pages/*/expected-metadata.json, "
            "labels.json, groundtruth/ + pages/, evaldata.json or questions.jsonl (in it or in its sub-folders)"
        )
    return out
