"""``filter``: merge labelled files by record id, keep the records whose difficulty is in range, split train/eval.

The original project's fusing step, with one RL-minded switch: ``keep_range`` ``0<d<=1`` (the
default) drops what the labeller never solved, as the original did; ``0<d<1`` also drops what it
always solved, where every completion of a GRPO group gets the same reward and the step teaches
nothing. ``by`` picks the difficulties that must be in range: ``all`` (each one present, the
original: a record at 0 with the DOM *or* the screenshot is dropped), ``dom`` or ``img``.

Records are matched across files by their id (``label`` writes one; without one, the id that
:func:`~domvqa_train.common.records.load_examples` gives). A difficulty measured in several files is pooled,
weighted by its attempts (``dom_attempts``/``img_attempts``, when given). The kept records are
shuffled with ``random.Random(seed)`` (the same order as the original's ``random.seed(42);
random.shuffle``) and the first ``int(eval_fraction * n)`` become ``eval`` (with ``group_by="page"``,
whole pages go to one side, so that eval never asks about a page seen in training).

Writes ``data.jsonl`` (every kept record with its ``split``; ``domvqa-train prepare --data`` reads it),
``dropped.jsonl`` (every other record, with ``drop_kind`` and ``drop_reason``), ``report.json`` and
``difficulty.png``; screenshots as absolute paths (those that came as image bytes, from a Hugging Face
image column, written to ``screenshots/``).
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..common.jobstore import atomic_write, json_line
from ..common.records import SCREENSHOTS_DIR, load_examples_and_records
from ..errors import DomVQAError
from .label import difficulty_histogram

DATA_FILE = "data.jsonl"
DROPPED_FILE = "dropped.jsonl"
REPORT_FILE = "report.json"
HISTOGRAM_FILE = "difficulty.png"
DIFFICULTIES = {"dom": "dom_difficulty", "img": "img_difficulty"}


class FilterError(DomVQAError, ValueError):
    """The labelled files cannot be merged or split as asked."""


_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_RANGE = re.compile(rf"^\s*(?:{_NUMBER}\s*(<=|<)\s*)?d\s*(?:(<=|<)\s*{_NUMBER})?\s*$")


@dataclass(frozen=True)
class KeepRange:
    """An interval of difficulties, parsed from text such as ``0<d<=1`` or ``0.25<=d<0.75``.

    >>> r = KeepRange.parse("0<d<1")
    >>> r.contains(0.0), r.contains(0.5), r.contains(1.0)
    (False, True, False)
    """

    low: float
    low_inclusive: bool
    high: float
    high_inclusive: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> KeepRange:
        """Read ``LOW <|<= d <|<= HIGH`` (either side may be left out: ``0<d``, ``d<1``)."""
        match = _RANGE.match(text)
        if not match or (match[1] is None and match[4] is None):
            raise FilterError(
                f"keep range {text!r} is not of the form LOW<d<=HIGH (e.g. 0<d<=1, 0<d<1, 0.25<=d<=0.75)"
            )
        low = float(match[1]) if match[1] is not None else 0.0
        high = float(match[4]) if match[4] is not None else 1.0
        if not 0.0 <= low <= high <= 1.0:
            raise FilterError(f"keep range {text!r}: bounds must satisfy 0 <= LOW <= HIGH <= 1")
        return cls(low, match[2] != "<" if match[1] is not None else True, high,
                   match[3] != "<" if match[4] is not None else True, text.replace(" ", ""))  # fmt: skip

    def contains(self, value: float) -> bool:
        """Whether ``value`` is in the interval."""
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below


class FilterDataSettings(BaseModel):
    """Which records to keep and how to split them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_range: str = Field(
        "0<d<=1", description="Difficulties to keep, e.g. 0<d<=1 (the original) or 0<d<1."
    )
    by: Literal["all", "dom", "img"] = Field(
        "all", description="Difficulties that must be in range: every one present, dom_ only or img_ only."
    )
    eval_fraction: float = Field(0.2, ge=0, lt=1, description="Share of the kept records in the eval split.")
    seed: int = Field(42, description="Seed of the shuffle before the split (the original's 42).")
    group_by: Literal["record", "page"] = Field(
        "record", description="'page': all questions of a page go to the same split (by page_id)."
    )
    train_split: str = Field("train", description="Name of the training split.")
    eval_split: str = Field("eval", description="Name of the evaluation split (the original's 'eval').")

    @field_validator("keep_range")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        KeepRange.parse(value)
        return value


class FilterReport(BaseModel):
    """What :func:`filter_data` did; also written to ``report.json``."""

    sources: list[str]
    out_dir: str
    settings: dict[str, Any]
    records_read: dict[str, int] = Field(description="Records per source file (load rejects included).")
    unique_records: int = Field(description="Distinct record ids after merging.")
    merged: int = Field(description="Ids found in more than one file.")
    pooled: int = Field(description="Difficulties measured in several files and pooled.")
    kept: int
    dropped: int
    dropped_by_kind: dict[str, int]
    at_one: int = Field(description="Kept records with a difficulty of 1 (always solved: no GRPO signal).")
    splits: dict[str, int]
    pages: dict[str, int] = Field(
        description="Distinct page_id values per split (records without one count alone)."
    )
    histogram_png: str | None


@dataclass
class _Merged:
    record: dict[str, Any]
    values: dict[str, list[tuple[float, int | None]]]  # difficulty field -> (value, attempts) measurements


def filter_data(
    sources: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], settings: FilterDataSettings
) -> FilterReport:
    """Merge ``sources`` by record id, filter by difficulty, split, and write the outputs into ``out_dir``."""
    if not sources:
        raise FilterError("no labelled files given; pass --data FILE (repeat it to merge several)")
    keep = KeepRange.parse(settings.keep_range)
    out = Path(out_dir)
    for source in sources:
        if Path(source).resolve().parent == out.resolve() and Path(source).name in (DATA_FILE, DROPPED_FILE):
            raise FilterError(f"{os.fspath(source)!r} would be overwritten; choose another output folder")
    merged: dict[str, _Merged] = {}
    dropped: list[dict[str, Any]] = []
    read: dict[str, int] = {}
    seen_in: Counter[str] = Counter()
    for source in sources:
        rows, rejects = _read_labelled(source, out / SCREENSHOTS_DIR)
        read[os.fspath(source)] = len(rows) + len(rejects)
        dropped += rejects
        for record in rows:
            seen_in[record["id"]] += 1
            _merge(merged, record)
    kept: list[dict[str, Any]] = []
    pooled = 0
    for item in merged.values():
        record = item.record
        for kind, name in DIFFICULTIES.items():
            measured = item.values.get(name, [])
            if len(measured) > 1:
                pooled += 1
            if measured:
                record[name], record[f"{kind}_attempts"] = _pool(measured)
        reason = _drop_reason(record, keep, settings.by)
        if reason is None:
            kept.append(record)
        else:
            dropped.append({**record, "drop_kind": reason[0], "drop_reason": reason[1]})
    _split(kept, settings)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / DATA_FILE, (json_line(r) for r in kept))
    atomic_write(out / DROPPED_FILE, (json_line(r) for r in dropped))
    png = out / HISTOGRAM_FILE
    drawn = difficulty_histogram(
        [r["dom_difficulty"] for r in kept if r.get("dom_difficulty") is not None],
        [r["img_difficulty"] for r in kept if r.get("img_difficulty") is not None],
        png,
        attempts=max([int(r.get("dom_attempts") or 4) for r in kept] or [4]),
    )
    pages: dict[str, set[str]] = {}
    for r in kept:
        pages.setdefault(r["split"], set()).add(str(r.get("page_id") or r["id"]))
    report = FilterReport(
        sources=[os.fspath(s) for s in sources],
        out_dir=os.fspath(out),
        settings=settings.model_dump(),
        records_read=read,
        unique_records=len(merged),
        merged=sum(n > 1 for n in seen_in.values()),
        pooled=pooled,
        kept=len(kept),
        dropped=len(dropped),
        dropped_by_kind=dict(Counter(str(r.get("drop_kind")) for r in dropped).most_common()),
        at_one=sum(any(r.get(n) == 1.0 for n in DIFFICULTIES.values()) for r in kept),
        splits=dict(Counter(r["split"] for r in kept)),
        pages={split: len(ids) for split, ids in sorted(pages.items())},
        histogram_png=str(png) if drawn else None,
    )
    atomic_write(out / REPORT_FILE, [report.model_dump_json(indent=2) + "\n"])
    return report


def _read_labelled(
    source: str | os.PathLike[str], media_dir: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The valid records of one source as stored (id and difficulties as the loader reads them), and its rejects.

    :func:`~domvqa_train.common.records.load_examples` validates and names each record; the stored records keep
    every field (completions, lists) that an example does not hold. A ``screenshot`` becomes the
    absolute path the loader resolved (a relative path would point elsewhere from the output folder;
    image bytes, e.g. a Hugging Face image column, are written to ``media_dir``).
    """
    loaded, stored = load_examples_and_records(source, media_dir=media_dir)
    rows = []
    for record, example in zip(stored, loaded.examples, strict=True):
        row = {
            **record,
            "id": example.id,
            "dom_difficulty": example.dom_difficulty,
            "img_difficulty": example.img_difficulty,
        }
        if "screenshot" in row:
            row["screenshot"] = example.screenshot
        rows.append(row)
    rejects = [
        {**r.model_dump(mode="json"), "drop_kind": r.kind, "drop_reason": r.reason} for r in loaded.rejects
    ]
    return rows, rejects


def _merge(merged: dict[str, _Merged], record: dict[str, Any]) -> None:
    """Add ``record`` to the merge: fields missing so far are taken; difficulties are collected."""
    labelled = record.get("labelled")
    values: dict[str, list[tuple[float, int | None]]] = {}
    for kind, name in DIFFICULTIES.items():
        value = record.get(name)
        measured_here = labelled is None or kind in labelled or (kind == "img" and "image" in labelled)
        if value is not None and measured_here:
            attempts = record.get(f"{kind}_attempts")
            values[name] = [(float(value), int(attempts) if isinstance(attempts, int) else None)]
    entry = merged.get(record["id"])
    if entry is None:
        merged[record["id"]] = _Merged(dict(record), values)
        return
    for key, value in record.items():
        if entry.record.get(key) is None:
            entry.record[key] = value
    if isinstance(labelled, list):
        before = entry.record.get("labelled") or []
        entry.record["labelled"] = list(dict.fromkeys([*before, *labelled]))
    for name, measured in values.items():
        entry.values.setdefault(name, []).extend(measured)


def _pool(measured: list[tuple[float, int | None]]) -> tuple[float, int | None]:
    """One pass rate from several: weighted by attempts when all are known, else their mean.

    >>> _pool([(0.5, 4), (1.0, 4)]), _pool([(0.0, None), (1.0, 4)])
    ((0.75, 8), (0.5, None))
    """
    if len(measured) == 1:
        return measured[0]
    if all(k is not None for _, k in measured):
        total = sum(k for _, k in measured if k is not None)
        return sum(v * k for v, k in measured if k is not None) / total, total
    return sum(v for v, _ in measured) / len(measured), None


def _drop_reason(record: dict[str, Any], keep: KeepRange, by: str) -> tuple[str, str] | None:
    names = list(DIFFICULTIES.values()) if by == "all" else [DIFFICULTIES[by]]
    present = [n for n in names if record.get(n) is not None]
    if not present or (by != "all" and len(present) < len(names)):
        wanted = "a difficulty" if by == "all" else f"'{names[0]}'"
        return "unlabelled", f"the record has no {wanted}; run `domvqa-train label` on it first"
    for name in present:
        value = float(record[name])
        if not keep.contains(value):
            kind = f"{name}_0" if value == 0 else f"{name}_1" if value == 1 else f"{name}_out_of_range"
            why = " (never solved)" if value == 0 else " (always solved)" if value == 1 else ""
            return kind, f"{name}={value:g}{why} is outside {keep.text}"
    return None


def _split(records: list[dict[str, Any]], settings: FilterDataSettings) -> None:
    """Shuffle ``records`` in place with the seed and give each its split."""
    rng = random.Random(settings.seed)
    rng.shuffle(records)
    n_eval = int(settings.eval_fraction * len(records))
    if settings.group_by == "record":
        for index, record in enumerate(records):
            record["split"] = settings.eval_split if index < n_eval else settings.train_split
        return
    pages = list(dict.fromkeys(str(r.get("page_id") or r["id"]) for r in records))
    sizes = Counter(str(r.get("page_id") or r["id"]) for r in records)
    eval_pages: set[str] = set()
    taken = 0
    for page in pages:  # already in shuffled order
        if taken >= n_eval:
            break
        eval_pages.add(page)
        taken += sizes[page]
    for record in records:
        page = str(record.get("page_id") or record["id"])
        record["split"] = settings.eval_split if page in eval_pages else settings.train_split
    records.sort(key=lambda r: r["split"] != settings.eval_split)  # eval first, like the original's order
