"""Turn DOM question-answering examples into chat prompts that fit a token budget, ready for training.

``prepare_dataset(source, out_dir, settings)`` writes into ``out_dir``:

- ``<split>.jsonl``: one row per example whose whole prompt fits ``prompt_budget`` tokens
  (``prompt``: chat messages, or a plain string for a ``chat=False`` template; ``answers``,
  ``question``, ``id``, ``screenshot`` (absolute), ``split``, the difficulties as numbers,
  ``reasoning``, ``meta``, token counts, and whether an answer is still in the pruned DOM);
- ``screenshots/``: screenshots that came as image bytes (e.g. a Hugging Face image column);
- ``rejects.jsonl``: every record that was not written, with its reason (load rejects and examples
  that could not be fitted);
- ``report.json``: counts per split, rejects by kind, the share of examples that fit, the prompt
  token distribution and how many answers pruning removed from the prompt.

No record is lost: every input record ends up in exactly one of the split files or the rejects file.

Resuming: results are appended, in input order, to ``<name>.partial`` files as they are computed;
the final files are written to temporary files and moved into place (``os.replace``) only at the
end, after which the partial files are removed. With ``resume=True`` an example whose id is already
in a finished split file, a partial file or the rejects of an earlier run is not computed again; a
crash loses at most the line being written. Resuming with a different tokenizer, budget or template
is refused.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

import domprune
from domprune import PromptTemplate
from domprune.answers import Haystack, answer_in, haystack

from ..common.jobstore import atomic_write, check_fingerprint, json_line
from ..common.ray_engine import JsonBatchActor, RayAddress, decode_all, ordered_map
from ..common.records import LOAD_REJECT_KINDS, SCREENSHOTS_DIR, DomQAExample, Reject, load_examples
from ..errors import PrepareError

REJECTS_FILE = "rejects.jsonl"
REPORT_FILE = "report.json"
SETTINGS_FILE = "prepare-settings.json"
PARTIAL_SUFFIX = ".partial"


def default_template() -> PromptTemplate:
    r"""domprune's default prompt: ``<dom>...</dom>``, ``Question:`` and an answer in ``\boxed{}``."""
    return PromptTemplate()


class PrepareSettings(BaseModel):
    """How examples become prompts."""

    model_config = ConfigDict(extra="forbid")

    tokenizer: str = Field(default="qwen2.5", description="Tokenizer that counts the budget (domprune name).")
    prompt_budget: int = Field(default=16384, gt=0, description="Tokens of the whole chat-templated prompt.")
    image_tokens: int = Field(
        default=0,
        ge=0,
        description="Tokens of prompt_budget kept free for the screenshot of examples that have one (0: none).",
    )
    template: PromptTemplate | None = Field(default=None, description="None: default_template().")
    dom_source: Literal["dom", "shortened_context"] = Field(
        "dom",
        description="'shortened_context': use the original's LLM-shortened DOM as the page (comparison).",
    )
    workers: int = Field(
        default=1, ge=1, description="Processes (local engine) or Ray actors (ray engine) that fit prompts."
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="'ray': fit on Ray Data actors (same outputs as 'local'); see domvqa_train.common.ray_engine.",
    )
    ray_address: RayAddress = None
    resume: bool = Field(default=True, description="Skip examples already finished in out_dir.")
    progress: bool = Field(default=True, description="Show a progress bar.")

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide a prompt's content; a resumed run must match them."""
        template = self.template or default_template()
        return {
            "tokenizer": self.tokenizer,
            "prompt_budget": self.prompt_budget,
            **({"image_tokens": self.image_tokens} if self.image_tokens else {}),  # older folders lack it
            "template": {
                "system": template.system,
                "user": template.user,
                **({} if template.chat else {"chat": False}),  # older folders lack it
            },
            **({"dom_source": self.dom_source} if self.dom_source != "dom" else {}),
        }


class TokenStats(BaseModel):
    """Distribution of prompt tokens over the written rows (all ``None`` when there are none)."""

    min: int | None = None
    median: float | None = None
    p90: int | None = None
    max: int | None = None


class PrepareReport(BaseModel):
    """What :func:`prepare_dataset` did; also written to ``report.json``."""

    source: str
    out_dir: str
    settings: dict[str, Any]
    inputs: int = Field(description="Records read from the source (examples + load rejects).")
    written: dict[str, int] = Field(description="Rows written per split.")
    rejected: int
    rejects_by_kind: dict[str, int]
    resumed: int = Field(description="Examples taken from an earlier run instead of being computed.")
    fit_share: float | None = Field(description="Written rows / valid examples.")
    prompt_tokens: TokenStats
    answers_in_dom: int = Field(description="Written rows whose original DOM contains an answer.")
    answers_in_prompt: int = Field(description="Written rows whose pruned DOM contains an answer.")
    answers_lost_by_pruning: int = Field(description="Rows with an answer in the DOM but not in the prompt.")


def prepare_dataset(
    source: str | os.PathLike[str], out_dir: str | os.PathLike[str], settings: PrepareSettings | None = None
) -> PrepareReport:
    """Fit every example of ``source`` into a prompt of at most ``settings.prompt_budget`` tokens."""
    settings = settings or PrepareSettings()
    out = Path(out_dir)
    loaded = load_examples(source, media_dir=out / SCREENSHOTS_DIR)
    splits = sorted({example.split for example in loaded.examples})
    _check_paths(source, out, splits)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings)

    previous = _PreviousResults.read(out, splits, resume=settings.resume)
    previous.close()
    todo = [example for example in loaded.examples if example.id not in previous.done]
    writers = _PartialWriters(out)
    try:
        results = _fit_all(todo, settings, source=os.fspath(source))
        bar = tqdm(results, total=len(todo), desc="prepare", unit="ex", disable=not settings.progress)
        for example, outcome in zip(todo, bar, strict=True):
            writers.write(example.split if isinstance(outcome, dict) else None, outcome)
    finally:
        writers.close()
        _prepared_page.cache_clear()  # the last pages of this run (workers=1 fits in this process)
        _page_haystack.cache_clear()
    report = _finish(
        out, source, settings, loaded.examples, loaded.rejects, resumed=len(loaded.examples) - len(todo)
    )
    if sum(report.written.values()) + report.rejected != report.inputs:  # pragma: no cover - a bug guard
        raise PrepareError(
            f"internal error: {report.inputs} inputs but {report.written} + {report.rejected} out"
        )
    return report


EVAL_SPLITS = ("eval", "test")
"""Names of the evaluation split, in the order they are looked for (``eval`` is the original's)."""


def find_eval_split(out_dir: str | os.PathLike[str], requested: str | None = None) -> str:
    """``requested``, or the first of :data:`EVAL_SPLITS` that ``out_dir`` holds."""
    if requested:
        return requested
    out = Path(out_dir)
    for name in EVAL_SPLITS:
        if (out / f"{name}.jsonl").is_file():
            return name
    available = sorted(p.name.removesuffix(".jsonl") for p in out.glob("*.jsonl") if p.name != REJECTS_FILE)
    raise PrepareError(
        f"no evaluation split in {os.fspath(out_dir)!r} (neither eval.jsonl nor test.jsonl; available: "
        f"{', '.join(available) or 'none'}); pass --split NAME or set eval_split, or run `domvqa-train prepare`"
    )


def load_prepared(out_dir: str | os.PathLike[str], split: str = "train") -> Any:
    """The rows of ``out_dir/<split>.jsonl`` as a ``datasets.Dataset`` (columns as written by prepare)."""
    out = Path(out_dir)
    path = out / f"{split}.jsonl"
    if not path.is_file():
        available = _report_splits(out)
        unfinished = (
            " (an unfinished run left .partial files: run prepare again to finish it)"
            if any(out.glob(f"*.jsonl{PARTIAL_SUFFIX}"))
            else ""
        )
        raise PrepareError(
            f"no prepared split {split!r} in {os.fspath(out_dir)!r}{unfinished}; "
            f"available splits: {', '.join(available) or 'none'}. Run `domvqa-train prepare` first."
        )
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise PrepareError(
                f"{os.fspath(path)!r} line {number} is not valid JSON ({exc.msg}); run prepare again with "
                "resume=False (--no-resume) to rebuild it"
            ) from exc
    if not rows:
        raise PrepareError(f"split {split!r} in {os.fspath(out_dir)!r} has no rows; see {REJECTS_FILE} there")
    try:
        import datasets
    except ImportError as exc:
        raise PrepareError("loading prepared data needs 'datasets': pip install 'domprune[train]'") from exc
    return datasets.Dataset.from_list(rows)


# --------------------------------------------------------------------------- fitting one example


_WORKER_SETTINGS: PrepareSettings | None = None


def _init_worker(settings: PrepareSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings


def _fit_in_worker(example: DomQAExample) -> dict[str, Any] | Reject:
    assert _WORKER_SETTINGS is not None, "worker used without _init_worker"
    return fit_example(example, _WORKER_SETTINGS)


def fit_example(example: DomQAExample, settings: PrepareSettings) -> dict[str, Any] | Reject:
    """The output row of one example, or a :class:`Reject` that says why its prompt could not be built."""
    template = settings.template or default_template()
    budget = settings.prompt_budget - (settings.image_tokens if example.screenshot else 0)
    dom = example.dom
    if settings.dom_source == "shortened_context":
        if example.shortened_context is None:
            return _reject(
                example, "no_shortened_context", "dom_source=shortened_context, but the record has none"
            )
        dom = example.shortened_context
    if budget <= 0:
        return _reject(
            example,
            "over_budget",
            f"image_tokens={settings.image_tokens} leaves no room in prompt_budget={settings.prompt_budget}",
        )
    try:
        page = _prepared_page(dom, settings.tokenizer).for_question(example.question)
        fitted = domprune.fit_prompt(page, question=example.question, budget=budget, template=template)
    except domprune.DomPruneError as exc:
        return _reject(example, type(exc).__name__, str(exc))
    except Exception as exc:  # a bug in one page must not stop a long run; it is reported per example
        return _reject(example, f"unexpected_{type(exc).__name__}", f"unexpected error: {exc!r}")
    if fitted.tokens > budget:
        return _reject(example, "over_budget", f"prompt has {fitted.tokens} tokens > budget {budget}")
    return {
        "id": example.id,
        "prompt": fitted.messages if template.chat else fitted.text,
        "answers": example.answers,
        "question": example.question,
        "screenshot": example.screenshot,
        "split": example.split,
        "dom_difficulty": example.dom_difficulty,
        "img_difficulty": example.img_difficulty,
        "reasoning": example.reasoning,
        "prompt_tokens": fitted.tokens,
        "dom_tokens_before": fitted.prune.tokens_before,
        "answer_in_dom": any(map(_page_haystack(dom).contains, example.answers)),
        "answer_in_prompt": answer_in(example.answers, fitted.prune.output),
    }


@lru_cache(maxsize=4)
def _prepared_page(dom: str, tokenizer: str) -> domprune.PreparedPage:
    """A raw page parsed, filtered and costed once for all its questions (they usually come in a
    row); each question ranks it anew (:meth:`~domprune.PreparedPage.for_question`)."""
    return domprune.prepare(dom, tokenizer=tokenizer)


@lru_cache(maxsize=16)
def _page_haystack(dom: str) -> Haystack:
    """The searchable content of a raw page, kept for the next questions about it (a page has about ten
    questions, usually in a row; building it took more than half of an example's time)."""
    return haystack(dom)


def _reject(example: DomQAExample, kind: str, message: str) -> Reject:
    return Reject(source="", line=None, id=example.id, reason=message, kind=kind)


def _fit_all(
    examples: list[DomQAExample], settings: PrepareSettings, source: str
) -> Iterator[dict[str, Any] | Reject]:
    """Results in input order, computed in this process, in ``settings.workers`` processes, or on Ray."""
    if settings.engine == "ray":
        yield from _fit_on_ray(examples, settings, source)
        return
    if settings.workers == 1 or len(examples) <= 1:
        for example in examples:
            yield _with_source(fit_example(example, settings), source)
        return
    # The platform's default start method: fork on Linux (workers inherit the loaded tokenizer and
    # need no `if __name__ == "__main__":` guard in the caller's script), spawn on macOS and Windows.
    pool = ProcessPoolExecutor(
        settings.workers,
        mp_context=multiprocessing.get_context(),
        initializer=_init_worker,
        initargs=(settings,),
    )
    try:
        chunk = max(1, min(16, len(examples) // (settings.workers * 4)))
        for outcome in pool.map(_fit_in_worker, examples, chunksize=chunk):
            yield _with_source(outcome, source)
    except BrokenProcessPool as exc:
        raise PrepareError(
            "a prepare worker process stopped abruptly (out of memory, killed, or started from a script "
            "without an `if __name__ == '__main__':` guard under the spawn start method); the results "
            "computed so far are kept: run prepare again to resume, or use workers=1"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _FitActor(JsonBatchActor):
    """A Ray actor that fits prompts; its tokenizer is built once, on the first record."""

    def __init__(self, settings: PrepareSettings) -> None:
        self.settings = settings

    def one(self, item: Any) -> dict[str, Any]:
        outcome = fit_example(DomQAExample.model_validate(item), self.settings)
        return (
            {"reject": outcome.model_dump(mode="json")} if isinstance(outcome, Reject) else {"row": outcome}
        )


def _fit_on_ray(
    examples: list[DomQAExample], settings: PrepareSettings, source: str
) -> Iterator[dict[str, Any] | Reject]:
    items = [example.model_dump_json() for example in examples]
    results = ordered_map(
        items, _FitActor, {"settings": settings}, workers=settings.workers, address=settings.ray_address
    )
    for result in decode_all(results, lambda r: Reject(**r["reject"]) if "reject" in r else r["row"]):
        yield _with_source(result, source)


def _with_source(outcome: dict[str, Any] | Reject, source: str) -> dict[str, Any] | Reject:
    if isinstance(outcome, Reject):
        outcome.source = source
    return outcome


# --------------------------------------------------------------------------- files


def _check_paths(source: str | os.PathLike[str], out: Path, splits: list[str]) -> None:
    """Refuse split names that clash with prepare's own files, and an output folder holding the source."""
    for split in splits:
        if f"{split}.jsonl" == REJECTS_FILE:
            raise PrepareError(f"split name {split!r} is reserved for the rejects file; rename that split")
    if os.fspath(source).startswith("hf:"):
        return
    source_path = Path(source).resolve()
    outputs = [out / f"{split}.jsonl" for split in splits] + [out / REJECTS_FILE, out / REPORT_FILE]
    for path in outputs:
        if path.resolve() == source_path:
            raise PrepareError(
                f"writing {os.fspath(path)!r} would overwrite the source; choose another output folder"
            )


def _check_settings(out: Path, settings: PrepareSettings) -> None:
    """Refuse to resume into a folder prepared with other prompt settings; record the settings."""

    def mismatch(found: Any) -> Exception:
        return PrepareError(
            f"{os.fspath(out)!r} was prepared with other settings ({found}); to start over there pass "
            "resume=False (--no-resume), or choose another output folder"
        )

    check_fingerprint(out / SETTINGS_FILE, settings.fingerprint(), settings.resume, mismatch)


@dataclass
class _Stored:
    """Where an earlier result lives: the file and byte range of its line."""

    path: Path
    offset: int
    length: int
    split: str | None  # None for a reject
    tokens: int | None = None
    answer_in_dom: bool = False
    answer_in_prompt: bool = False
    kind: str | None = None  # of a reject


class _PreviousResults:
    """Results already in ``out_dir`` by example id: partial files first (newest), then finished files.

    Only the files prepare writes for ``splits`` are read; load rejects are not kept, because they
    are recomputed from the source on every run.
    """

    def __init__(self, stored: dict[str, _Stored]) -> None:
        self.done = stored
        self._handles: dict[Path, Any] = {}

    @classmethod
    def read(cls, out: Path, splits: Iterable[str], *, resume: bool) -> _PreviousResults:
        finished = [out / f"{split}.jsonl" for split in splits] + [out / REJECTS_FILE]
        partials = [path.with_name(path.name + PARTIAL_SUFFIX) for path in finished]
        if not resume:
            for path in out.glob(f"*.jsonl{PARTIAL_SUFFIX}"):
                path.unlink()
            return cls({})
        stored: dict[str, _Stored] = {}
        for path in partials + finished:
            if not path.is_file():
                continue
            is_reject = path.name.startswith(REJECTS_FILE)
            for offset, length, row in _lines(path):
                row_id = row.get("id")
                if not isinstance(row_id, str) or row_id in stored:
                    continue
                if is_reject and row.get("kind") in LOAD_REJECT_KINDS:
                    continue
                if is_reject:
                    stored[row_id] = _Stored(path, offset, length, None, kind=str(row.get("kind", "unknown")))
                else:
                    tokens = row.get("prompt_tokens")
                    stored[row_id] = _Stored(
                        path,
                        offset,
                        length,
                        str(row.get("split")),
                        tokens=tokens if isinstance(tokens, int) else None,
                        answer_in_dom=row.get("answer_in_dom") is True,
                        answer_in_prompt=row.get("answer_in_prompt") is True,
                    )
        return cls(stored)

    def line(self, row_id: str) -> bytes:
        """The stored JSON line (with its newline) of ``row_id``."""
        where = self.done[row_id]
        if where.path not in self._handles:
            self._handles[where.path] = where.path.open("rb")
        handle = self._handles[where.path]
        handle.seek(where.offset)
        return handle.read(where.length)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def _lines(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(offset, length, parsed row) of each complete JSON line; a torn last line is skipped."""
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            length = len(raw)
            if raw.endswith(b"\n"):
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError:
                    row = None
                if isinstance(row, dict):
                    yield offset, length, row
            offset += length


class _PartialWriters:
    """Append-only ``<split>.jsonl.partial`` and ``rejects.jsonl.partial`` files, one line per result."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.handles: dict[str | None, Any] = {}

    def write(self, split: str | None, outcome: dict[str, Any] | Reject) -> None:
        if split not in self.handles:
            name = f"{split}.jsonl" if split is not None else REJECTS_FILE
            self.handles[split] = (self.out / (name + PARTIAL_SUFFIX)).open("ab")
        row = outcome.model_dump(mode="json") if isinstance(outcome, Reject) else outcome
        handle = self.handles[split]
        handle.write(json_line(row))
        handle.flush()

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def _finish(
    out: Path,
    source: str | os.PathLike[str],
    settings: PrepareSettings,
    examples: list[DomQAExample],
    load_rejects: list[Reject],
    resumed: int,
) -> PrepareReport:
    """Assemble the final files in input order from earlier and new results; remove the partial files."""
    old_splits = _report_splits(out)
    splits = sorted({example.split for example in examples})
    everything = _PreviousResults.read(out, splits, resume=True)  # new results are in the partial files
    try:
        return _assemble(out, source, settings, examples, load_rejects, resumed, everything, old_splits)
    finally:
        everything.close()


def _report_splits(out: Path) -> list[str]:
    """Splits written by an earlier finished run, from its report."""
    try:
        written = json.loads((out / REPORT_FILE).read_text(encoding="utf-8")).get("written", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [str(split) for split in written] if isinstance(written, dict) else []


def _assemble(
    out: Path,
    source: str | os.PathLike[str],
    settings: PrepareSettings,
    examples: list[DomQAExample],
    load_rejects: list[Reject],
    resumed: int,
    everything: _PreviousResults,
    old_splits: list[str],
) -> PrepareReport:
    by_split: dict[str, list[str]] = {}
    reject_ids: list[str] = []
    for example in examples:
        stored = everything.done.get(example.id)
        if stored is None:  # pragma: no cover - every example was written to a partial file above
            raise PrepareError(f"internal error: no result for example {example.id!r}")
        if stored.split is None:
            reject_ids.append(example.id)
        else:
            by_split.setdefault(example.split, []).append(example.id)

    rows = [everything.done[i] for ids in by_split.values() for i in ids]
    kinds: Counter[str] = Counter(r.kind for r in load_rejects)
    kinds.update(str(everything.done[i].kind) for i in reject_ids)
    for split, ids in by_split.items():
        atomic_write(out / f"{split}.jsonl", (everything.line(i) for i in ids))
    reject_lines = [json_line(r.model_dump(mode="json")) for r in load_rejects]
    reject_lines += [everything.line(i) for i in reject_ids]
    atomic_write(out / REJECTS_FILE, reject_lines)
    for split in old_splits:
        if split not in by_split:
            (out / f"{split}.jsonl").unlink(missing_ok=True)  # an earlier run's split this input lacks
    for partial in out.glob(f"*.jsonl{PARTIAL_SUFFIX}"):
        partial.unlink()

    written = len(rows)
    report = PrepareReport(
        source=os.fspath(source),
        out_dir=os.fspath(out),
        settings=settings.fingerprint(),
        inputs=len(examples) + len(load_rejects),
        written={split: len(ids) for split, ids in sorted(by_split.items())},
        rejected=len(load_rejects) + len(reject_ids),
        rejects_by_kind=dict(kinds.most_common()),
        resumed=resumed,
        fit_share=written / len(examples) if examples else None,
        prompt_tokens=_token_stats([r.tokens for r in rows if r.tokens is not None]),
        answers_in_dom=sum(r.answer_in_dom for r in rows),
        answers_in_prompt=sum(r.answer_in_prompt for r in rows),
        answers_lost_by_pruning=sum(r.answer_in_dom and not r.answer_in_prompt for r in rows),
    )
    atomic_write(out / REPORT_FILE, [report.model_dump_json(indent=2) + "\n"])
    return report


def _token_stats(tokens: list[int]) -> TokenStats:
    if not tokens:
        return TokenStats()
    ordered = sorted(tokens)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]  # nearest rank
    return TokenStats(min=ordered[0], median=statistics.median(ordered), p90=p90, max=ordered[-1])


__all__ = [
    "PrepareReport",
    "PrepareSettings",
    "default_template",
    "find_eval_split",
    "fit_example",
    "load_prepared",
    "prepare_dataset",
]
