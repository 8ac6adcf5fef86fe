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

Resuming: the folder is a :class:`~domvqa_train.common.jobstore.JobStore`, as for ``generate`` and
``label``: each example's result is committed to ``<name>.partial`` files as it is computed, and
``progress.jsonl`` records which examples are done; the final files are written in input order
through temporary files (``os.replace``) only at the end. With ``resume=True`` an example already
done (in a partial or a finished run) is not computed again; a crash loses at most the example being
written. Resuming with a different tokenizer, budget, template or DOM format is refused.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

import domprune
from domprune import PromptTemplate
from domprune.answers import Haystack, answer_in, haystack
from domprune.settings import OutputFormat
from domprune.sources import json_lines

from ..common.jobstore import PARTIAL_SUFFIX, PROGRESS_FILE, JobStore, JobStoreError, atomic_write
from ..common.ray_engine import JsonBatchActor, RayAddress, decode_all, ordered_map
from ..common.records import SCREENSHOTS_DIR, DomQAExample, Reject, load_examples
from ..errors import PrepareError

REJECTS_FILE = "rejects.jsonl"
REPORT_FILE = "report.json"
SETTINGS_FILE = "prepare-settings.json"


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
    dom_format: OutputFormat = Field(
        "html",
        description="How the pruned DOM is written into the prompt: 'html', 'text' or 'markdown' "
        "(domprune's PruneSettings.format); answer_in_prompt is checked in the same format.",
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
            **({"dom_format": self.dom_format} if self.dom_format != "html" else {}),  # older folders lack it
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
    old_splits = _report_splits(out)
    store = _store(out, splits, settings)
    todo = [example for example in loaded.examples if example.id not in store.done]
    try:
        for index, reject in enumerate(loaded.rejects):  # recomputed each run; kept first in rejects.jsonl
            key = _load_reject_key(index)
            if key in store.done:
                store.done.pop(key)
            store.commit(key, {REJECTS_FILE: [reject.model_dump(mode="json")]}, {"kind": reject.kind})
        results = _fit_all(todo, settings, source=os.fspath(source))
        bar = tqdm(results, total=len(todo), desc="prepare", unit="ex", disable=not settings.progress)
        for example, outcome in zip(todo, bar, strict=True):
            if isinstance(outcome, Reject):
                rows = {REJECTS_FILE: [outcome.model_dump(mode="json")]}
            else:
                rows = {f"{example.split}.jsonl": [outcome]}
            store.commit(example.id, rows, _summary(outcome))
    finally:
        store.close()
        _prepared_page.cache_clear()  # the last pages of this run (workers=1 fits in this process)
        _page_haystack.cache_clear()
    report = _finish(
        store, source, settings, loaded.examples, loaded.rejects, len(loaded.examples) - len(todo), old_splits
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
    available = sorted(
        p.name.removesuffix(".jsonl")
        for p in out.glob("*.jsonl")
        if p.name not in (REJECTS_FILE, PROGRESS_FILE)
    )
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
    for number, line in enumerate(json_lines(path.read_text(encoding="utf-8")), start=1):
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
        page = _prepared_page(dom, settings.tokenizer, settings.dom_format).for_question(example.question)
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
        "answer_in_prompt": answer_in(example.answers, fitted.prune.output, settings.dom_format),
    }


@lru_cache(maxsize=4)
def _prepared_page(dom: str, tokenizer: str, fmt: OutputFormat = "html") -> domprune.PreparedPage:
    """A raw page parsed, filtered and costed once for all its questions (they usually come in a
    row); each question ranks it anew (:meth:`~domprune.PreparedPage.for_question`)."""
    return domprune.prepare(dom, tokenizer=tokenizer, settings=domprune.PruneSettings(format=fmt))


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
        if f"{split}.jsonl" in (REJECTS_FILE, PROGRESS_FILE):
            raise PrepareError(f"split name {split!r} is reserved for prepare's own files; rename that split")
    if os.fspath(source).startswith("hf:"):
        return
    source_path = Path(source).resolve()
    outputs = [out / f"{split}.jsonl" for split in splits] + [out / REJECTS_FILE, out / REPORT_FILE]
    for path in outputs:
        if path.resolve() == source_path:
            raise PrepareError(
                f"writing {os.fspath(path)!r} would overwrite the source; choose another output folder"
            )


def _store(out: Path, splits: list[str], settings: PrepareSettings) -> JobStore:
    """The resumable output folder: one unit per example (its row in a split file, or its reject)."""
    try:
        return JobStore(
            out,
            [*(f"{split}.jsonl" for split in splits), REJECTS_FILE],
            settings_file=SETTINGS_FILE,
            fingerprint=settings.fingerprint(),
            resume=settings.resume,
        )
    except JobStoreError as exc:
        raise PrepareError(str(exc)) from None


def _summary(outcome: dict[str, Any] | Reject) -> dict[str, Any]:
    """What the report needs of one example's result, kept in the store's progress file."""
    if isinstance(outcome, Reject):
        return {"kind": outcome.kind}
    return {
        "tokens": outcome["prompt_tokens"],
        "answer_in_dom": outcome["answer_in_dom"],
        "answer_in_prompt": outcome["answer_in_prompt"],
    }


def _report_splits(out: Path) -> list[str]:
    """Splits written by an earlier finished run, from its report."""
    try:
        written = json.loads((out / REPORT_FILE).read_text(encoding="utf-8")).get("written", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [str(split) for split in written] if isinstance(written, dict) else []


def _finish(
    store: JobStore,
    source: str | os.PathLike[str],
    settings: PrepareSettings,
    examples: list[DomQAExample],
    load_rejects: list[Reject],
    resumed: int,
    old_splits: list[str],
) -> PrepareReport:
    """Write the final files in input order (load rejects first in the rejects file) and the report."""
    out = store.out
    keys = [_load_reject_key(i) for i in range(len(load_rejects))] + [e.id for e in examples]
    done = {unit.key: unit for unit in store.finish(keys)}
    if len(done) != len(keys):  # pragma: no cover - a bug guard: every example was committed above
        raise PrepareError(f"internal error: {len(keys) - len(done)} examples have no result")
    written: Counter[str] = Counter()
    kinds: Counter[str] = Counter(r.kind for r in load_rejects)
    rows = []
    for example in examples:
        unit = done[example.id]
        if REJECTS_FILE in unit.ranges:
            kinds[str(unit.summary.get("kind", "unknown"))] += 1
        else:
            written[example.split] += 1
            rows.append(unit.summary)
    present = {f"{split}.jsonl" for split in written} | {REJECTS_FILE}
    for name in store.files:  # a split with no written row has no file, as before
        if name not in present:
            (out / name).unlink(missing_ok=True)
    for split in old_splits:
        if split not in written:
            (out / f"{split}.jsonl").unlink(missing_ok=True)  # an earlier run's split this input lacks
    tokens = [r["tokens"] for r in rows if isinstance(r.get("tokens"), int)]
    report = PrepareReport(
        source=os.fspath(source),
        out_dir=os.fspath(out),
        settings=settings.fingerprint(),
        inputs=len(examples) + len(load_rejects),
        written=dict(sorted(written.items())),
        rejected=len(load_rejects) + sum(1 for e in examples if REJECTS_FILE in done[e.id].ranges),
        rejects_by_kind=dict(kinds.most_common()),
        resumed=resumed,
        fit_share=len(rows) / len(examples) if examples else None,
        prompt_tokens=_token_stats(tokens),
        answers_in_dom=sum(r.get("answer_in_dom") is True for r in rows),
        answers_in_prompt=sum(r.get("answer_in_prompt") is True for r in rows),
        answers_lost_by_pruning=sum(
            r.get("answer_in_dom") is True and r.get("answer_in_prompt") is not True for r in rows
        ),
    )
    atomic_write(out / REPORT_FILE, [report.model_dump_json(indent=2) + "\n"])
    return report


def _load_reject_key(index: int) -> str:
    """The store key of the ``index``-th load reject (recomputed from the source on every run)."""
    return f"load-reject:{index}"


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
