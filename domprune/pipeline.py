"""The pruning pipeline: parse once -> filtering -> attributes -> fit to budget -> serialize."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from .document import Document, flatten, serialize
from .errors import SettingsError
from .parse import Page, ParsedPage, parse_page
from .safety import has_special, neutralize
from .settings import PruneSettings
from .steps import filtering
from .steps.attributes import strip_attributes
from .steps.budget import fit_to_budget
from .steps.chunking import Chunk, chunk_document
from .steps.relevance import Query, words
from .tokenizers import TokenCounter, get_tokenizer

DEFAULT_BUDGET = 16384


@dataclass
class StepReport:
    """What one step did: counts of what it removed, tokens around it (when measured), time."""

    name: str
    removed: dict[str, int]
    seconds: float
    tokens_before: int | None = None
    tokens_after: int | None = None

    @property
    def tokens_saved(self) -> int | None:
        if self.tokens_before is None or self.tokens_after is None:
            return None
        return self.tokens_before - self.tokens_after


@dataclass
class PruneResult:
    """The pruned page and an account of how it was made."""

    output: str
    tokens_after: int
    budget: int
    steps: list[StepReport]
    backend_ids: list[str]
    timings: dict[str, float]
    dialect: str
    format: str
    _source: str | None = field(default=None, repr=False)
    _counter: TokenCounter | None = field(default=None, repr=False)

    @property
    def fits(self) -> bool:
        return self.tokens_after <= self.budget

    @cached_property
    def tokens_before(self) -> int | None:
        """Tokens of the input as given (counted on first access; ``None`` for an lxml tree)."""
        if self._source is None or self._counter is None:
            return None
        return self._counter.count(self._source)

    def to_dict(self) -> dict:
        return {
            "output": self.output,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "budget": self.budget,
            "fits": self.fits,
            "dialect": self.dialect,
            "format": self.format,
            "backend_ids": self.backend_ids,
            "timings": self.timings,
            "steps": [
                {
                    "name": s.name,
                    "removed": s.removed,
                    "seconds": s.seconds,
                    "tokens_before": s.tokens_before,
                    "tokens_after": s.tokens_after,
                }
                for s in self.steps
            ],
        }


def _check_budget(budget: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SettingsError(f"budget must be a positive whole number of tokens, got {budget!r}")
    return budget


def prepare_document(
    parsed: ParsedPage, settings: PruneSettings, question: str | None
) -> tuple[Document, list[bool], list[StepReport]]:
    """Filtering and attribute stripping, shared by :func:`prune` and :func:`chunk`."""
    f = settings.filtering
    t0 = time.perf_counter()
    doc, dropped = flatten(
        parsed.root,
        collapse_whitespace=f.whitespace,
        dialect=parsed.dialect,
        drop_tags=filtering.NOISE_TAGS if f.noise_tags else (),
        json_ld_chars=f.json_ld,
    )
    removed: dict[str, int] = {}
    removed.update(filtering.remove_noise(doc, f))
    removed["noise_elements"] += dropped
    if f.invisible:
        removed.update(filtering.remove_invisible(doc))
    t2 = time.perf_counter()
    alive = doc.live()
    attr_removed = strip_attributes(doc, settings.attributes, alive)
    t3 = time.perf_counter()
    if f.empty:
        removed.update(filtering.remove_empty(doc, alive))
        alive = doc.live()
    if f.fold_repeated:
        protect = _question_matches(doc, alive, question) if question else []
        removed.update(filtering.fold_repeated(doc, alive, f, protect))
        alive = doc.live()
    if f.unwrap:
        removed.update(filtering.unwrap(doc, alive))
    neutralized = _neutralize(doc, alive, settings.format)
    if neutralized:
        removed["special_tokens_neutralized"] = neutralized
    t4 = time.perf_counter()
    steps = [
        StepReport("filtering", removed, (t2 - t0) + (t4 - t3)),
        StepReport("attributes", attr_removed, t3 - t2),
    ]
    return doc, alive, steps


def _neutralize(doc: Document, alive: list[bool], fmt: str) -> int:
    """Break chat special-token strings wherever the output would carry them raw."""
    count = 0
    bad_tags = {t for t in set(doc.tags) if has_special(f"<{t}>") or has_special(f"</{t}>")}
    for i in range(len(doc.tags)):
        if not alive[i]:
            continue
        if bad_tags and doc.tags[i] in bad_tags:
            doc.transparent[i] = True  # e.g. an element named <tool_call>: keep its content only
            count += 1
        raw = doc.tags[i] == "script"
        if (fmt == "text" or raw) and has_special(doc.text[i]):
            doc.text[i] = neutralize(doc.text[i])
            count += 1
        if fmt == "text":
            if has_special(doc.tail[i]):
                doc.tail[i] = neutralize(doc.tail[i])
                count += 1
            if doc.kept_attrs[i] and any(has_special(v) for _, v in doc.kept_attrs[i]):
                doc.kept_attrs[i] = [(k, neutralize(v)) for k, v in doc.kept_attrs[i]]
                count += 1
    return count


def _question_matches(doc: Document, alive: list[bool], question: str) -> list[int]:
    terms = {t for t, w in Query.from_question(question).terms.items() if w >= 1.0}
    return [i for i in range(len(doc.tags)) if alive[i] and terms.intersection(words(doc.text[i]))]


def _measure(
    steps: list[StepReport], parsed: ParsedPage, doc: Document, counter: TokenCounter, fmt: str
) -> None:
    """Exact tokens after filtering and attributes (optional: costs a tokenizer pass each)."""
    before = counter.count(parsed.source) if parsed.source is not None else None
    # after filtering, with all attributes still there
    kept_attrs, transparent = doc.kept_attrs, doc.transparent
    doc.kept_attrs = doc.attrs
    doc.transparent = [False] * len(doc.tags)
    after_filter = counter.count(serialize(doc, fmt=fmt))
    doc.kept_attrs, doc.transparent = kept_attrs, transparent
    after_attrs = counter.count(serialize(doc, fmt=fmt))
    steps[0].tokens_before, steps[0].tokens_after = before, after_filter
    steps[1].tokens_before, steps[1].tokens_after = after_filter, after_attrs


def prune(
    page: Page,
    *,
    budget: int = DEFAULT_BUDGET,
    question: str | None = None,
    tokenizer: str | TokenCounter | None = None,
    settings: PruneSettings | None = None,
) -> PruneResult:
    """Shrink ``page`` until it fits ``budget`` tokens of ``tokenizer``, keeping what ``question`` needs.

    ``page`` is HTML as ``str`` or ``bytes``, a file path, or an lxml element. The output is
    well-formed HTML (or text with ``settings.format="text"``) and is never over the budget.
    """
    settings = settings or PruneSettings()
    budget = _check_budget(budget)
    counter = get_tokenizer(tokenizer)
    t0 = time.perf_counter()
    parsed = parse_page(page, settings.parse)
    t1 = time.perf_counter()
    doc, alive, steps = prepare_document(parsed, settings, question)
    t2 = time.perf_counter()
    fmt = settings.format
    if settings.exact_step_tokens:
        _measure(steps, parsed, doc, counter, fmt)
    t3 = time.perf_counter()
    if settings.fit:
        sel = fit_to_budget(doc, alive, counter, budget, question=question, fmt=fmt, settings=settings.budget)
        output, tokens, keep = sel.output, sel.tokens, sel.keep
        removed = {"units_dropped": sel.units_total - sel.units_kept, "exact_counts": sel.exact_counts}
    else:
        output = serialize(doc, fmt=fmt)
        tokens = counter.count(output)
        keep = alive
        removed = {}
    t4 = time.perf_counter()
    fit_step = StepReport("budget", removed, t4 - t3)
    if settings.exact_step_tokens:
        fit_step.tokens_before, fit_step.tokens_after = steps[-1].tokens_after, tokens
    steps.append(fit_step)
    backend_ids = _backend_ids(doc, keep) if parsed.dialect == "mind2web" else []
    return PruneResult(
        output=output,
        tokens_after=tokens,
        budget=budget,
        steps=steps,
        backend_ids=backend_ids,
        timings={"parse": t1 - t0, "filter_attributes": t2 - t1, "fit": t4 - t3, "total": t4 - t0},
        dialect=parsed.dialect,
        format=fmt,
        _source=parsed.source,
        _counter=counter,
    )


def _backend_ids(doc: Document, keep: list[bool]) -> list[str]:
    out = []
    for i, attrs in enumerate(doc.attrs):
        if keep[i] and attrs:
            for k, v in attrs:
                if k == "backend_node_id":
                    out.append(v)
                    break
    return out


def chunk(
    page: Page,
    *,
    budget: int = 2048,
    question: str | None = None,
    tokenizer: str | TokenCounter | None = None,
    settings: PruneSettings | None = None,
) -> list[Chunk]:
    """Split ``page`` into ordered chunks of at most ``budget`` tokens each, along subtree boundaries.

    Filtering and attribute stripping run first; nothing else is dropped: every kept text is in
    exactly one chunk. With a ``question``, each chunk gets a BM25 ``score`` (rank with
    ``sorted(chunks, key=lambda c: -c.score)``).
    """
    settings = settings or PruneSettings()
    budget = _check_budget(budget)
    counter = get_tokenizer(tokenizer)
    parsed = parse_page(page, settings.parse)
    doc, alive, _ = prepare_document(parsed, settings, question)
    return chunk_document(doc, alive, counter, budget, question=question, fmt=settings.format)
