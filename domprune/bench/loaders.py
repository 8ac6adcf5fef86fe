"""Read question-answer pages from user inputs: an HTML folder, JSON Lines, the original
conversations JSON, or a Hugging Face dataset (a ``save_to_disk`` folder or ``hf:NAME``).

Every loader returns a :class:`Loaded`: the pages it could read and a :class:`Skip` (file, line,
reason) for every record it could not. Only a missing source raises :class:`BenchInputError`.

- HTML folder: every ``*.html``/``*.htm`` file below it is a page without labelled questions (the
  bench asks synthetic questions about it).
- JSON Lines: one object a line with ``html`` (or ``cleaned_html``) or ``html_path`` (relative to
  the file's folder), ``question``, and ``answer`` (a string) or ``answers`` (a list), optionally
  ``field`` (what it asks for, e.g. ``author``: results are also reported per field). Lines that
  share an ``html_path`` are one page with several questions.
- Conversations JSON: the original project's list of ``{"conversations": [{"role": "user",
  "content": "... <dom>HTML</dom> ... Question: Q"}, {"role": "assistant", "content": "A"}]}``,
  read by :mod:`domprune.conversation` (the same reader as domvqa_train's).
- Hugging Face: rows in either of the two record shapes above.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conversation import ConversationError, parse_conversation
from ..sources import HF_PREFIX, SourceError, is_html_file, json_lines, source_kind
from .records import Page, Question, Skip


class BenchInputError(Exception):
    """An input source is missing or cannot be opened; the message says what to do."""


@dataclass
class Loaded:
    """Pages read from a source and the records skipped, each with its reason."""

    pages: list[Page] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.pages.extend(other.pages)
        self.skipped.extend(other.skipped)


class _RecordError(Exception):
    """A record is malformed; the message is the skip reason."""


def load_input(spec: str, *, hf_split: str = "train") -> Loaded:
    """Load a source, picking the reader by its form: ``hf:NAME``, a dataset folder, an HTML
    folder, a ``.jsonl`` file or a ``.json`` file (conversations list or JSON Lines)."""
    try:
        kind = source_kind(spec)
    except SourceError as exc:
        raise BenchInputError(f"input {exc}") from None
    if kind == "hub":
        return load_hf(spec[len(HF_PREFIX) :], split=hf_split)
    path = Path(spec)
    if kind == "dataset_folder":
        return load_hf_disk(path, split=hf_split)
    if kind == "html_folder":
        return load_html_folder(path)
    if kind == "html_file":
        return Loaded(pages=[Page(id=path.name, corpus=path.stem, path=path, origin=str(path))])
    if path.suffix.lower() == ".jsonl":
        return load_jsonl(path)
    return load_json(path)


def load_html_folder(folder: Path) -> Loaded:
    """Every HTML file below ``folder`` as a page without questions; other files are skipped."""
    out = Loaded()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if is_html_file(file):
            out.pages.append(Page(id=rel, corpus=folder.name, path=file, origin=str(file)))
        else:
            out.skipped.append(Skip(str(file), None, f"not an HTML file (suffix {file.suffix or 'none'!r})"))
    if not out.pages:
        out.skipped.append(Skip(str(folder), None, "folder has no .html/.htm files"))
    return out


def load_jsonl(path: Path, corpus: str | None = None) -> Loaded:
    """JSON Lines of ``html``/``html_path`` + ``question`` + ``answer(s)``, or conversation records."""
    lines = json_lines(_read_json_text(path))
    rows: list[tuple[int, Any]] = []
    out = Loaded()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            out.skipped.append(Skip(str(path), number, f"malformed JSON: {exc.msg} at column {exc.colno}"))
    out.extend(_from_rows(rows, source=path, corpus=corpus or path.stem))
    return out


def _read_json_text(path: Path) -> str:
    """A JSON or JSON Lines file's text: UTF-8 (JSON's encoding), with or without a byte-order mark."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BenchInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise BenchInputError(
            f"{path} is not UTF-8 ({exc.reason} at byte {exc.start}); JSON files are UTF-8: re-save it as UTF-8"
        ) from None


def load_json(path: Path) -> Loaded:
    """A JSON list of records (conversations or flat); falls back to JSON Lines."""
    text = _read_json_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return load_jsonl(path)
    if isinstance(data, Mapping):
        data = data.get("data", data.get("records", [data]))
    if not isinstance(data, list):
        return Loaded(skipped=[Skip(str(path), None, "JSON is neither a list of records nor an object")])
    return _from_rows(list(enumerate(data, start=1)), source=path, corpus=path.stem, line_is_index=True)


def load_hf(name: str, split: str = "train") -> Loaded:
    """``datasets.load_dataset(name, split=split)``; offline, only what is already in the cache."""
    try:
        import datasets
    except ImportError as exc:
        raise BenchInputError(
            "hf: inputs need the 'datasets' package: pip install 'domprune[bench]'"
        ) from exc
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types (connection, missing split, ...)
        raise BenchInputError(
            f"cannot load dataset {name!r} (split {split!r}): {type(exc).__name__}: {exc}. Without network, "
            "load it once where it can be downloaded, save it with dataset.save_to_disk(FOLDER), pass FOLDER"
        ) from exc
    return _from_rows(
        list(enumerate(ds, start=1)), source=Path(f"hf:{name}"), corpus=name, line_is_index=True
    )


def load_hf_disk(folder: Path, split: str = "train") -> Loaded:
    """A ``datasets.save_to_disk`` folder (a Dataset, or a DatasetDict from which ``split`` is read)."""
    try:
        import datasets
    except ImportError as exc:
        raise BenchInputError(
            "dataset folders need the 'datasets' package: pip install 'domprune[bench]'"
        ) from exc
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as exc:
        raise BenchInputError(f"cannot open dataset folder {folder}: {type(exc).__name__}: {exc}") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise BenchInputError(
                f"dataset folder {folder} has splits {sorted(ds)}, not {split!r}: pass --hf-split"
            )
        ds = ds[split]
    return _from_rows(list(enumerate(ds, start=1)), source=folder, corpus=folder.name, line_is_index=True)


def _from_rows(
    rows: Iterable[tuple[int, Any]], *, source: Path, corpus: str, line_is_index: bool = False
) -> Loaded:
    """Turn numbered records into pages; records that share an ``html_path`` become one page."""
    out = Loaded()
    by_path: dict[Path, Page] = {}
    base = source.parent if source.is_file() else source
    for number, row in rows:
        origin = f"{source}:{number}" if not line_is_index else f"{source}[{number}]"
        try:
            html, html_path, question = _parse_record(row, base)
        except _RecordError as exc:
            out.skipped.append(Skip(str(source), number, str(exc)))
            continue
        if html_path is not None:
            page = by_path.get(html_path)
            if page is None:
                page = Page(id=html_path.name, corpus=corpus, path=html_path, origin=origin)
                by_path[html_path] = page
                out.pages.append(page)
            page.questions.append(question)
        else:
            record_id = str(row.get("id", number)) if isinstance(row, Mapping) else str(number)
            out.pages.append(
                Page(id=record_id, corpus=corpus, html=html, questions=[question], origin=origin)
            )
    return out


def _parse_record(row: Any, base: Path) -> tuple[str | None, Path | None, Question]:
    """(inline HTML, HTML path, question) of one record, or ``_RecordError`` with the reason."""
    if not isinstance(row, Mapping):
        raise _RecordError(f"record is a {type(row).__name__}, not an object")
    if "conversations" in row or "messages" in row:
        html, question, answer = _parse_conversation(row)
        return html, None, Question(question, (answer,))
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _RecordError("no 'question' (a non-empty string)")
    answers = _answers(row)
    field = row.get("field")
    q = Question(
        question.strip(),
        answers,
        field=field.strip() if isinstance(field, str) and field.strip() else "question",
    )
    html = row.get("html", row.get("cleaned_html"))
    if isinstance(html, str) and html.strip():
        return html, None, q
    html_path = row.get("html_path")
    if isinstance(html_path, str) and html_path.strip():
        path = Path(html_path)
        return None, (path if path.is_absolute() else base / path), q
    raise _RecordError("no 'html' (inline page) or 'html_path' (file relative to the input file)")


def _answers(row: Mapping[str, Any]) -> tuple[str, ...]:
    raw = row.get("answers", row.get("answer"))
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise _RecordError("no 'answer' (a string) or 'answers' (a list of strings)")
    answers = tuple(str(a).strip() for a in raw if isinstance(a, (str, int, float)) and str(a).strip())
    if not answers:
        raise _RecordError("the answer is empty")
    return answers


def _parse_conversation(row: Mapping[str, Any]) -> tuple[str, str, str]:
    try:
        conversation = parse_conversation(row)
    except ConversationError as exc:
        raise _RecordError(str(exc)) from None
    return conversation.dom, conversation.question, conversation.answer
