"""DOM question-answering records and the loaders that read them.

Four input shapes are understood (``fmt="auto"`` picks by source and by record keys):

- ``conversations``: the original project's ``vqa_rl_data.json``, a JSON list of
  ``{"conversations": [{"role": "user", "content": "... <dom>HTML</dom> ... Question: Q ..."},
  {"role": "assistant", "content": "ANSWER"}], "split": "train"}`` (its user turn exactly as the
  original ``prepare_dataset.py`` wrote it, or the unindented and blank-line variants), read by
  :mod:`domprune.conversation`. The assistant turn becomes ``answers`` only.
- ``raw``: the original raw records (JSON list or JSON Lines): ``domvqa_results.json``
  (``cleaned_html``, ``screenshot``, ``question``, ``answer``, ``reasoning``),
  ``domvqa_verified(_v2).json`` (+ ``dom_difficulty``, ``img_difficulty``: pass rates in [0, 1],
  higher is easier) and the fused/full files (+ ``shortened_context``); ``answer`` may be a list.
- ``jsonl``: JSON Lines with ``html`` or ``html_path`` (relative to the file's folder), ``question``,
  ``answer`` or ``answers``.
- ``hf``: a ``datasets.save_to_disk`` folder, or ``hf:NAME`` loaded with ``datasets.load_dataset``;
  its rows may have any of the record shapes above.

Fields are kept: ``reasoning`` and ``shortened_context`` as such, difficulties as numbers, and any
other scalar field (up to :data:`MAX_META_CHARS` characters) in ``meta``. A relative screenshot
path is resolved against the data file's folder and kept absolute, so a run works from any
directory; an image column that carries only bytes (e.g. a Hugging Face dataset) is written to
``media_dir`` when one is given.

A malformed record never raises: it becomes a :class:`Reject` with the file, line and reason. A
missing or unreadable source raises :class:`~domvqa_train.errors.DataSourceError`.

Ids are stable across runs: the record's ``id`` when it has one, otherwise a hash of its DOM,
question and answers. A record whose id repeats an earlier one is rejected as a duplicate, so an
id names exactly one example (which is what resuming relies on).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domprune.conversation import ConversationError, parse_conversation, screenshot_path
from domprune.parse import decode_bytes
from domprune.sources import HF_PREFIX, SourceError, is_html_file, json_lines, source_kind

from ..errors import DataSourceError
from .images import image_format

Format = Literal["auto", "conversations", "raw", "jsonl", "hf"]
RecordShape = Literal["conversations", "raw", "jsonl"]

DEFAULT_SPLIT = "train"
_ID_KEYS = ("id", "example_id", "annotation_id", "uid")
LOAD_REJECT_KINDS = frozenset(
    {
        "bad_json",
        "not_object",
        "invalid_record",
        "missing_field",
        "bad_answer",
        "unreadable_html",
        "bad_conversation",
        "unknown_shape",
        "duplicate_id",
        "bad_difficulty",
        "bad_screenshot",
    }
)
"""Every ``Reject.kind`` that :func:`load_examples` gives."""


SCREENSHOTS_DIR = "screenshots"
"""The folder of a stage's output where screenshots that came as image bytes are written."""


class DomQAExample(BaseModel):
    """One question about one page, with every accepted answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    dom: str = Field(min_length=1, description="Raw HTML or Mind2Web cleaned_html.")
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1, description="Accepted answers; the first is the reference.")
    screenshot: str | None = Field(default=None, description="Path of the page's screenshot, if any.")
    dom_difficulty: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Pass rate with the DOM only (higher is easier)."
    )
    img_difficulty: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Pass rate with the screenshot only (higher is easier)."
    )
    reasoning: str | None = Field(default=None, description="The question writer's reasoning, if given.")
    shortened_context: str | None = Field(
        default=None,
        description="The original's LLM-shortened DOM, if given (see PrepareSettings.dom_source).",
    )
    meta: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Other scalar fields of the record, kept as they were."
    )
    split: str = Field(
        default=DEFAULT_SPLIT, pattern=r"^[\w-][\w.-]*$", description="Letters, digits, '_', '-', '.'."
    )

    @field_validator("dom", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("answers")
    @classmethod
    def _answers_not_blank(cls, value: list[str]) -> list[str]:
        if any(not answer.strip() for answer in value):
            raise ValueError("every answer must be a non-empty string")
        return value


class Reject(BaseModel):
    """A record that was not used, and why."""

    model_config = ConfigDict(extra="forbid")

    source: str
    line: int | None = Field(default=None, description="1-based line where the record starts, if known.")
    id: str | None = None
    reason: str
    kind: str = Field(default="invalid_record", description="Category of the reason, for counting rejects.")


class LoadResult(BaseModel):
    """What :func:`load_examples` read: the usable examples and the rejected records."""

    model_config = ConfigDict(extra="forbid")

    examples: list[DomQAExample] = Field(default_factory=list)
    rejects: list[Reject] = Field(default_factory=list)
    other_split: int = Field(
        default=0, description="Valid records left out because they belong to another split than asked."
    )


class _Located(NamedTuple):
    """A record and where it came from: file line, a label for reasons (``record 3``), dataset split."""

    line: int | None
    where: str | None
    split: str | None
    record: Any


class _RecordError(ValueError):
    """A record that cannot become an example; the message is the reject reason, ``kind`` its category."""

    def __init__(self, message: str, kind: str = "invalid_record") -> None:
        super().__init__(message)
        self.kind = kind


def load_examples(
    source: str | os.PathLike[str],
    *,
    fmt: Format = "auto",
    split: str | None = None,
    media_dir: str | os.PathLike[str] | None = None,
) -> LoadResult:
    """Read DOM question-answering examples from a file, a dataset folder or ``hf:NAME``.

    ``split``, when given, keeps only the examples of that split (records without a split belong
    to ``"train"``); the others are counted in ``LoadResult.other_split``. ``media_dir`` receives
    screenshots that come as image bytes without a file (e.g. a Hugging Face image column).
    """
    return _load(source, fmt, split, media_dir)[0]


def load_examples_and_records(
    source: str | os.PathLike[str],
    *,
    fmt: Format = "auto",
    media_dir: str | os.PathLike[str] | None = None,
) -> tuple[LoadResult, list[Any]]:
    """:func:`load_examples`, with each example's record as stored (every field, also those an
    example does not hold), in one read of the source."""
    return _load(source, fmt, None, media_dir, keep_records=True)


def _load(
    source: str | os.PathLike[str],
    fmt: Format,
    split: str | None,
    media_dir: str | os.PathLike[str] | None,
    keep_records: bool = False,
) -> tuple[LoadResult, list[Any]]:
    records, source_name = _read_source(source, fmt)
    stored: list[Any] = []
    shape: RecordShape | None = None if fmt in ("auto", "hf") else fmt  # type: ignore[assignment]
    result = LoadResult()
    seen: dict[str, str] = {}
    where_from = _Paths(_base_dir(source), Path(media_dir) if media_dir is not None else None)
    for line, where, record_split, record in records:
        try:
            example = _to_example(record, shape, record_split, where_from)
        except _RecordError as exc:
            result.rejects.append(
                Reject(
                    source=source_name,
                    line=line,
                    id=_given_id(record),
                    reason=_at(where, str(exc)),
                    kind=exc.kind,
                )
            )
            continue
        if example.id in seen:
            first = seen[example.id]
            result.rejects.append(
                Reject(
                    source=source_name,
                    line=line,
                    id=example.id,
                    reason=_at(
                        where,
                        f"duplicate id {example.id!r} (same as {first}); give each record a unique 'id'",
                    ),
                    kind="duplicate_id",
                )
            )
            continue
        seen[example.id] = f"line {line}" if line is not None else (where or "an earlier record")
        if split is not None and example.split != split:
            result.other_split += 1
            continue
        result.examples.append(example)
        if keep_records:
            stored.append(record)
    return result, stored


def _at(where: str | None, reason: str) -> str:
    return f"{where}: {reason}" if where else reason


def example_id(dom: str, question: str, answers: list[str]) -> str:
    """A stable id from an example's content (16 hex digits of SHA-256).

    >>> example_id("<p>x</p>", "q?", ["a"])
    '186969a2dc40ce42'
    """
    payload = json.dumps([dom, question, answers], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- sources


def _base_dir(source: str | os.PathLike[str]) -> Path | None:
    text = os.fspath(source)
    if text.startswith(HF_PREFIX):
        return None
    path = Path(text)
    return path if path.is_dir() else path.parent


def _read_source(source: str | os.PathLike[str], fmt: Format) -> tuple[Iterator[_Located], str]:
    """Open ``source``: its records with their location, and a name for reject reports."""
    text = os.fspath(source)
    try:
        kind = source_kind(text)
    except SourceError as exc:
        raise DataSourceError(f"data source {exc}") from None
    if kind == "hub":
        return _iter_hub(text[len(HF_PREFIX) :]), text
    path = Path(text)
    if kind == "html_file" or (kind == "html_folder" and any(map(is_html_file, path.rglob("*")))):
        raise DataSourceError(
            f"{text!r} holds HTML pages without questions; make question/answer records from it first "
            "(domvqa-train generate), or give a JSON/JSONL file, a datasets.save_to_disk folder, or hf:NAME"
        )
    if kind in ("dataset_folder", "html_folder"):  # a folder of neither says why load_from_disk refused it
        return _iter_disk_dataset(path), text
    if fmt == "hf":
        raise DataSourceError(
            f"{text!r} is a file, but fmt='hf' needs a datasets.save_to_disk folder or "
            "hf:NAME; drop fmt or pass fmt='auto'"
        )
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataSourceError(
            f"cannot read {text!r} as UTF-8 text ({exc}); check the path and encoding"
        ) from exc
    if not content.strip():
        raise DataSourceError(f"{text!r} is empty; give a file with at least one record")
    if content.lstrip().startswith("["):
        return _iter_json_array(content, text), text
    _refuse_single_object(content, text)
    return _iter_json_lines(content), text


def _refuse_single_object(content: str, name: str) -> None:
    """A pretty-printed JSON object is not JSON Lines: say so instead of rejecting every line."""
    first_line = content.lstrip().split("\n", 1)[0]
    try:
        json.loads(first_line)
        return
    except json.JSONDecodeError:
        pass
    try:
        whole = json.loads(content)
    except json.JSONDecodeError:
        return
    raise DataSourceError(
        f"{name!r} holds one JSON {type(whole).__name__}, not a JSON array of records or JSON Lines; "
        "put the records in a top-level list, or write one record per line"
    )


def _iter_json_array(content: str, name: str) -> Iterator[_Located]:
    """Decode a JSON array element by element, so that each record knows its starting line."""
    decoder = json.JSONDecoder()
    records: list[_Located] = []
    pos = _skip_ws(content, 0) + 1  # past "["
    line = 1 + content.count("\n", 0, pos)
    counted_to = pos
    try:
        pos = _skip_ws(content, pos)
        if content[pos : pos + 1] == "]":
            return iter(records)
        while True:
            line += content.count("\n", counted_to, pos)
            counted_to = pos
            value, pos = decoder.raw_decode(content, pos)
            records.append(_Located(line, f"record {len(records) + 1}", None, value))
            pos = _skip_ws(content, pos)
            char = content[pos : pos + 1]
            if char == "]":
                break
            if char != ",":
                raise json.JSONDecodeError("expected ',' or ']' between records", content, pos)
            pos = _skip_ws(content, pos + 1)
    except json.JSONDecodeError as exc:
        raise DataSourceError(
            f"{name!r} is not a valid JSON array: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "fix the file or convert it to JSON Lines (one record per line), where a bad line is "
            "rejected instead of stopping the load"
        ) from exc
    if content[pos + 1 :].strip():
        raise DataSourceError(f"{name!r} has text after the closing ']' of its JSON array; remove it")
    return iter(records)


def _skip_ws(content: str, pos: int) -> int:
    while pos < len(content) and content[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_json_lines(content: str) -> Iterator[_Located]:
    for number, raw_line in enumerate(json_lines(content), start=1):
        if not raw_line.strip():
            continue
        try:
            yield _Located(number, None, None, json.loads(raw_line))
        except json.JSONDecodeError as exc:
            yield _Located(number, None, None, _BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})"))


class _BadLine:
    """Marks a JSON Lines line that failed to parse; becomes a reject with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _iter_disk_dataset(path: Path) -> Iterator[_Located]:
    datasets = _import_datasets()
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataSourceError(
            f"{str(path)!r} is a folder but not a datasets.save_to_disk dataset ({exc}); give a dataset "
            "folder, a JSON/JSONL file, or hf:NAME"
        ) from exc
    return _iter_dataset(loaded)


def _iter_hub(name: str) -> Iterator[_Located]:
    if not name:
        raise DataSourceError("'hf:' needs a dataset name, e.g. hf:user/dataset")
    datasets = _import_datasets()
    try:
        loaded = datasets.load_dataset(name)
    except Exception as exc:  # the hub client raises many unrelated types
        raise DataSourceError(
            f"cannot load Hugging Face dataset {name!r} ({type(exc).__name__}: {exc}); without network "
            "access, save it once with datasets.save_to_disk and point at that local folder instead"
        ) from exc
    return _iter_dataset(loaded)


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise DataSourceError(
            "reading Hugging Face datasets needs the 'datasets' package: pip install 'domprune[train]'"
        ) from exc
    return datasets


def _iter_dataset(loaded: Any) -> Iterator[_Located]:
    """Rows of a Dataset or of every split of a DatasetDict (the dict key is the row's split)."""
    if isinstance(loaded, Mapping):  # DatasetDict is a dict of split name -> Dataset
        parts: list[tuple[str | None, Any]] = [(str(key), loaded[key]) for key in loaded]
    else:
        parts = [(None, loaded)]
    for split, dataset in parts:
        dataset = _undecoded_images(dataset)
        for index, row in enumerate(dataset, start=1):
            label = f"row {index}" + (f" of split {split!r}" if split is not None else "")
            yield _Located(None, label, split, row)


def _undecoded_images(dataset: Any) -> Any:
    """Keep image columns as ``{"path", "bytes"}`` so a screenshot's path can be read without PIL."""
    try:
        from datasets import Image
    except ImportError:  # pragma: no cover - datasets is present whenever a dataset was loaded
        return dataset
    for column, feature in getattr(dataset, "features", {}).items():
        if isinstance(feature, Image):
            dataset = dataset.cast_column(column, Image(decode=False))
    return dataset


# --------------------------------------------------------------------------- records


def _given_id(record: Any) -> str | None:
    if isinstance(record, Mapping):
        for key in _ID_KEYS:
            value = record.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    return None


def _shape_of(record: Mapping[str, Any]) -> RecordShape:
    if "conversations" in record or "messages" in record:
        return "conversations"
    if "cleaned_html" in record:
        return "raw"
    if "html" in record or "html_path" in record:
        return "jsonl"
    keys = ", ".join(sorted(map(str, record))) or "none"
    raise _RecordError(
        f"unknown record shape (keys: {keys}); "
        "expected 'conversations', 'cleaned_html', 'html' or 'html_path'",
        "unknown_shape",
    )


_CONSUMED = frozenset(
    {*_ID_KEYS, "conversations", "messages", "cleaned_html", "html", "html_path", "question", "answer",
     "answers", "screenshot", "dom_difficulty", "img_difficulty", "reasoning", "shortened_context", "split"}
)  # fmt: skip
MAX_META_CHARS = 1000
"""Longer string fields are not kept in ``DomQAExample.meta``."""


class _Paths(NamedTuple):
    """Where relative paths of a source point (its folder) and where image bytes are written."""

    base_dir: Path | None
    media_dir: Path | None


def _to_example(
    record: Any, shape: RecordShape | None, record_split: str | None, paths: _Paths
) -> DomQAExample:
    if isinstance(record, _BadLine):
        raise _RecordError(record.reason, "bad_json")
    if not isinstance(record, Mapping):
        raise _RecordError(f"record is a JSON {type(record).__name__}, expected an object", "not_object")
    shape = shape or _shape_of(record)
    if shape == "conversations":
        try:
            conversation = parse_conversation(record)
        except ConversationError as exc:
            raise _RecordError(str(exc), "bad_conversation") from None
        dom, question, answers = conversation.dom, conversation.question, [conversation.answer]
        screenshot = _screenshot(conversation.screenshot, paths)
    else:
        dom = _html_of(record, shape, paths.base_dir)
        question = _text_field(record, "question")
        answers = _answers_of(record)
        screenshot = _screenshot(record.get("screenshot"), paths)
    split = record.get("split") if record.get("split") not in (None, "") else record_split
    fields = {
        "id": _given_id(record) or example_id(dom, question, answers),
        "dom": dom,
        "question": question,
        "answers": answers,
        "screenshot": screenshot,
        "dom_difficulty": _difficulty(record, "dom_difficulty"),
        "img_difficulty": _difficulty(record, "img_difficulty"),
        "reasoning": _optional_text(record.get("reasoning")),
        "shortened_context": _optional_text(record.get("shortened_context")),
        "meta": _meta(record),
        "split": str(split) if split is not None else DEFAULT_SPLIT,
    }
    try:
        return DomQAExample(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}" for err in exc.errors()
        )
        raise _RecordError(f"invalid record ({problems})", "invalid_record") from None


def _difficulty(record: Mapping[str, Any], key: str) -> float | None:
    """A pass rate in [0, 1] (a number, or a string holding one); ``None`` when absent."""
    value = record.get(key)
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not 0.0 <= number <= 1.0:
        raise _RecordError(
            f"'{key}' is {value!r}; it must be a pass rate between 0 and 1 (higher is easier), or absent",
            "bad_difficulty",
        )
    return number


def _meta(record: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """The record's other scalar fields (short strings, numbers, booleans)."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in record.items():
        if key in _CONSUMED or not isinstance(key, str):
            continue
        scalar = isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value))
        if scalar or (isinstance(value, str) and len(value) <= MAX_META_CHARS):
            out[key] = value
    return out


def _text_field(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _RecordError(f"missing or empty '{key}' (a non-empty string is required)", "missing_field")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _answer_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _RecordError(f"answer {value!r} is not a string or a number", "bad_answer")
    text = str(value).strip()
    if not text:
        raise _RecordError("an answer is empty; every answer must be a non-empty string", "bad_answer")
    return text


def _answers_of(record: Mapping[str, Any]) -> list[str]:
    value = record.get("answers", record.get("answer"))
    if value is None:
        raise _RecordError(
            "missing 'answer' (or 'answers'); a record needs at least one answer", "missing_field"
        )
    values = value if isinstance(value, list) else [value]
    if not values:
        raise _RecordError("'answers' is an empty list; a record needs at least one answer", "missing_field")
    return [_answer_text(item) for item in values]


def _html_of(record: Mapping[str, Any], shape: RecordShape, base_dir: Path | None) -> str:
    if shape == "raw":
        return _text_field(record, "cleaned_html")
    if isinstance(record.get("html"), str) and record["html"].strip():
        return record["html"]
    html_path = record.get("html_path")
    if not isinstance(html_path, str) or not html_path.strip():
        raise _RecordError("missing 'html' or 'html_path' (one of them is required)", "missing_field")
    path = Path(html_path)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        html = decode_bytes(path.read_bytes())  # declared charset, BOM, detection: as domprune.prune reads it
    except OSError as exc:
        raise _RecordError(
            f"cannot read html_path {html_path!r} ({exc.strerror or exc})", "unreadable_html"
        ) from None
    if not html.strip():
        raise _RecordError(f"html_path {html_path!r} is empty", "unreadable_html")
    return html


def _screenshot(value: Any, paths: _Paths) -> str | None:
    """An absolute screenshot path from a path string or an image value; ``None`` when there is none.

    Relative paths are resolved against the source's folder. An image given as bytes (a ``datasets``
    image, or a ``data:image/...;base64,`` string) is written to ``paths.media_dir`` under a name made
    from its content; without a ``media_dir`` the image's own path is used if it has one.
    """
    data: bytes | None = None
    path: str | None = None
    if isinstance(value, str) and value.startswith("data:image/"):
        data = _data_uri_bytes(value)
    elif isinstance(value, Mapping) and isinstance(value.get("bytes"), (bytes, bytearray)) and value["bytes"]:
        data = bytes(value["bytes"])
        path = screenshot_path(value)
    else:
        path = screenshot_path(value)
    if data is not None and paths.media_dir is not None:
        return _write_media(data, paths.media_dir)
    if path is None:
        if data is not None:
            raise _RecordError(
                "the screenshot is given as image bytes; pass a folder for them (prepare does: "
                "<prepared_dir>/screenshots) or give a path",
                "bad_screenshot",
            )
        return None
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and paths.base_dir is not None:
        resolved = paths.base_dir / resolved
    return os.path.abspath(resolved)


def _data_uri_bytes(value: str) -> bytes:
    header, _, payload = value.partition(",")
    if ";base64" not in header or not payload:
        raise _RecordError("the screenshot data URI is not base64-encoded", "bad_screenshot")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _RecordError("the screenshot data URI holds invalid base64", "bad_screenshot") from None


def _write_media(data: bytes, media_dir: Path) -> str:
    """Write image bytes once under a content-derived name; returns the absolute path."""
    kind = image_format(data)
    suffix = kind[0] if kind else ".img"
    path = media_dir / (hashlib.sha256(data).hexdigest()[:24] + suffix)
    if not path.is_file():
        media_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return os.path.abspath(path)


class SourceRecord(NamedTuple):
    """One stored record of a source, before it becomes an example (see :func:`read_records`)."""

    line: int | None
    where: str | None
    split: str | None
    record: Any
    error: str | None


def read_records(source: str | os.PathLike[str], *, fmt: Format = "auto") -> Iterator[SourceRecord]:
    """Every record of ``source`` as stored, for stages that read other shapes than examples.

    The same files, folders and ``hf:NAME`` as :func:`load_examples`; ``error`` holds why a JSON
    Lines line could not be parsed (``record`` is then ``None``). Image columns stay undecoded.
    """
    records, _ = _read_source(source, fmt)
    for line, where, split, record in records:
        bad = isinstance(record, _BadLine)
        yield SourceRecord(line, where, split, None if bad else record, record.reason if bad else None)


def record_screenshot(
    value: Any, *, base_dir: str | os.PathLike[str] | None, media_dir: str | os.PathLike[str] | None
) -> str | None:
    """A record's ``screenshot`` value as an absolute path, the way :func:`load_examples` resolves it.

    Raises ``ValueError`` (with the reason) for image bytes without a ``media_dir`` or a bad data URI.
    """
    paths = _Paths(Path(base_dir) if base_dir is not None else None, Path(media_dir) if media_dir else None)
    return _screenshot(value, paths)
