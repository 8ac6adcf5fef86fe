"""Run every method on every page and question at every budget; collect one row per measurement.

Rows (plain dicts, written to ``records.jsonl`` by the report):

- ``call``: one method at one budget on one page (and question, for methods that read it):
  tokens after, whether it fits, seconds (prepare + fit; domprune: its result's from-scratch total), error;
- ``answer``: whether one question's answer survived one call;
- ``chunk``: whether a question's answer is in the top-ranked chunk / in any chunk;
- ``ablation``: domprune with budget fitting off (filtering only; filtering + attributes);
- ``memory``: peak memory of one ``prune`` call, measured in a fresh process;
- ``reader`` (with ``--reader``): what a model answered to a sampled question from one method's output
  at one budget, or from the whole page (:mod:`domprune.bench.answering`).

An error inside a method is recorded on its row (the call counts as failed, its answers as lost);
a page that cannot be read becomes a skip with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

import domprune
from domprune.answers import Haystack, haystack
from domprune.settings import AttributeSettings, PruneSettings
from domprune.steps.fields import FIELDS, restricted_labels
from domprune.tokenizers import TokenCounter, get_tokenizer

from .answering import PageReading, sample_questions
from .baselines import Method, build_methods
from .corpora import load_corpus
from .loaders import BenchInputError, Loaded, load_input
from .memory import measure_in_child
from .questions import paraphrased_questions, synthetic_questions
from .reader import READER_TEMPLATE, Reader
from .records import Page, PageReadError, Question, Skip
from .settings import BenchSettings
from .timing import time_limit
from .vocabulary import corpus_label_words, vocabulary_for

ABLATIONS: dict[str, PruneSettings] = {
    "filtering": PruneSettings(attributes=AttributeSettings(enabled=False), fit=False),
    "filtering+attributes": PruneSettings(fit=False),
}


@dataclass
class BenchRun:
    """Everything one run measured, before aggregation."""

    settings: BenchSettings
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    methods: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> label, fmt, note
    missing_methods: dict[str, str] = field(default_factory=dict)
    pages: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    reader: dict[str, Any] | None = None  # the reader model, its prompt, sample and totals (--reader)
    vocabulary: dict[str, dict[str, Any]] | None = None  # per corpus: label words kept, left out


def load_pages(settings: BenchSettings) -> Loaded:
    """Every page and skip from ``--corpus`` and the ``--input`` sources."""
    loaded = Loaded()
    if settings.corpus is not None:
        loaded.extend(load_corpus(settings.corpus))
    for spec in settings.inputs:
        loaded.extend(load_input(spec, hf_split=settings.hf_split))
    return loaded


def sample_pages(pages: list[Page], sample: int | None, seed: int) -> list[Page]:
    """Up to ``sample`` pages per corpus, drawn with ``seed``; corpora in name order."""
    by_corpus: dict[str, list[Page]] = {}
    for page in pages:
        by_corpus.setdefault(page.corpus, []).append(page)
    out: list[Page] = []
    for corpus in sorted(by_corpus):
        group = sorted(by_corpus[corpus], key=lambda p: p.id)
        if sample is not None and sample < len(group):
            group = random.Random(f"{seed}:{corpus}").sample(group, sample)
        out.extend(group)
    return out


def _timed(fn: Callable[[], Any], limit: float) -> tuple[Any, float, str | None]:
    start = time.perf_counter()
    try:
        with time_limit(limit):
            value = fn()
        return value, time.perf_counter() - start, None
    except Exception as exc:  # a failing method is a measurement, not a crash
        return None, time.perf_counter() - start, f"{type(exc).__name__}: {str(exc)[:300]}"


def _page_questions(
    page: Page, html: str, hay: Haystack, settings: BenchSettings
) -> tuple[list[Question], list[Skip]]:
    """Labelled questions whose answers occur in the page (absent answers dropped), plus synthetic and
    paraphrased ones."""
    kept: list[Question] = []
    skipped: list[Skip] = []
    for q in page.questions:
        present = tuple(a for a in q.answers if hay.contains(a))
        if present:
            kept.append(dataclasses.replace(q, answers=present))
        else:
            skipped.append(
                Skip(page.origin, None, f"{q.kind} question on {q.field!r}: answer not found in the page")
            )
    rng = random.Random(f"{settings.seed}:{page.corpus}:{page.id}")
    for q in synthetic_questions(html, settings.synthetic_per_page, rng):
        if hay.contains(q.answers[0]):
            kept.append(q)
    for q in paraphrased_questions(html, settings.paraphrased_per_page, rng):
        if hay.contains(q.answers[0]) and all(q.text != k.text for k in kept):
            kept.append(q)
    return kept, skipped


class _PageBench:
    """Measurements on one page."""

    def __init__(
        self,
        run: BenchRun,
        counter: TokenCounter,
        page: Page,
        html: str,
        questions: list[Question],
        reading: PageReading | None = None,
    ):
        self.run, self.counter, self.page, self.html, self.questions = run, counter, page, html, questions
        self.settings = run.settings
        self.base = {"corpus": page.corpus, "page": page.id}
        self.reading = reading  # the reader's sampled questions on this page, and their outputs

    def _answer_rows(
        self, method: str, budget: int | None, hay: Haystack | None, qs: list[tuple[int, Question]]
    ) -> list[dict[str, Any]]:
        rows = [
            {
                **self.base,
                "type": "answer",
                "method": method,
                "budget": budget,
                "question": qi,
                "kind": q.kind,
                "field": q.field,
                "retained": bool(hay is not None and any(hay.contains(a) for a in q.answers)),
            }
            for qi, q in qs
        ]
        self.run.rows.extend(rows)
        return rows

    def _keep_for_reader(
        self, method: str, budget: int, text: str | None, err: str | None, answers: list[dict[str, Any]]
    ) -> None:
        """Hand the output to the reader for the sampled questions among ``answers`` (their answer rows)."""
        if self.reading is None:
            return
        for row in answers:
            if row["question"] in self.reading.questions:
                self.reading.add(method, budget, row["question"], text, row["retained"], err or "no output")

    def method(self, m: Method) -> None:
        if m.uses_question:
            variants: list[tuple[int | None, Question | None]] = list(enumerate(self.questions))
        else:
            variants = [(None, None)]
        limit = self.settings.call_timeout_s
        for qi, q in variants:
            state, prep_s, prep_err = _timed(lambda q=q: m.prepare(self.html, q.text if q else None), limit)
            targets = list(enumerate(self.questions)) if qi is None else [(qi, q)]
            stop: str | None = None  # after a failed prepare or a timeout, smaller budgets are not run
            for budget in self.settings.budgets:
                seconds: float | None
                if stop is not None:
                    out, seconds, err = None, None, stop
                elif prep_err is not None:
                    out, seconds, err = None, prep_s, prep_err
                    stop = f"not run: {prep_err}"
                else:
                    out, fit_s, err = _timed(lambda budget=budget, state=state: m.fit(state, budget), limit)
                    seconds = prep_s + fit_s
                    # a prepared page shares work between budgets; its result says what it cost alone
                    own = getattr(out, "timings", None)
                    if own and "total" in own:
                        seconds = own["total"]
                    if err is not None and err.startswith("CallTimeout"):
                        stop = "not run: a larger budget timed out on this page"
                text = None if out is None else (out if isinstance(out, str) else out.output)
                row: dict[str, Any] = {
                    **self.base,
                    "type": "call",
                    "method": m.name,
                    "budget": budget,
                    "question": qi,
                    "seconds": seconds,
                    "error": err,
                    "tokens_after": None if text is None else self.counter.count(text),
                }
                row["fits"] = row["tokens_after"] is not None and row["tokens_after"] <= budget
                steps = getattr(out, "steps", None)
                if steps:
                    row["steps"] = [
                        {"name": s.name, "tokens_after": s.tokens_after, "seconds": s.seconds} for s in steps
                    ]
                self.run.rows.append(row)
                answers = self._answer_rows(
                    m.name, budget, None if text is None else haystack(text, m.fmt), targets
                )
                self._keep_for_reader(m.name, budget, text, err, answers)

    def read(self) -> None:
        """The reader answers this page's sampled questions from every output kept, and the whole page."""
        if self.reading is None or not self.reading.questions:
            return
        self.reading.add_whole_page(self.html)
        self.run.rows.extend(self.reading.answer())

    def ablation(self) -> None:
        for name, prune_settings in ABLATIONS.items():
            out, secs, err = _timed(
                lambda s=prune_settings: domprune.prune(
                    self.html, budget=max(self.settings.budgets), tokenizer=self.counter, settings=s
                ),
                self.settings.call_timeout_s,
            )
            tokens = None if out is None else self.counter.count(out.output)
            self.run.rows.append(
                {
                    **self.base,
                    "type": "ablation",
                    "method": name,
                    "seconds": secs,
                    "error": err,
                    "tokens_after": tokens,
                }
            )
            self._answer_rows(
                f"ablation:{name}",
                None,
                None if out is None else haystack(out.output),
                list(enumerate(self.questions)),
            )

    def chunks(self) -> None:
        for qi, q in enumerate(self.questions):
            chunks, secs, err = _timed(
                lambda q=q: domprune.chunk(
                    self.html, budget=self.settings.chunk_budget, question=q.text, tokenizer=self.counter
                ),
                self.settings.call_timeout_s,
            )
            row: dict[str, Any] = {
                **self.base,
                "type": "chunk",
                "question": qi,
                "kind": q.kind,
                "field": q.field,
                "seconds": secs,
                "error": err,
                "n_chunks": len(chunks or []),
            }
            if chunks:
                top = max(chunks, key=lambda c: (c.score if c.score is not None else float("-inf"), -c.index))
                row["in_top"] = any(haystack(top.output).contains(a) for a in q.answers)
                row["in_any"] = row["in_top"] or any(
                    haystack(c.output).contains(a) for c in chunks for a in q.answers
                )
                row["max_chunk_tokens"] = max(c.tokens for c in chunks)
            else:
                row["in_top"] = row["in_any"] = False
            self.run.rows.append(row)


def _memory_rows(run: BenchRun, pages: list[tuple[Page, str]]) -> None:
    """Peak memory of one ``prune`` call at the smallest budget, per page, each in a fresh process."""
    budget = min(run.settings.budgets)
    for page, html in pages:
        probe = measure_in_child(html, budget, run.settings.tokenizer, run.settings.call_timeout_s)
        row: dict[str, Any] = {
            "corpus": page.corpus,
            "page": page.id,
            "type": "memory",
            "budget": budget,
            "html_mb": len(html.encode("utf-8")) / 2**20,
            "error": probe.get("error"),
        }
        if row["error"] is None:
            row["rss_growth_mb"] = probe["rss_peak_mb"] - probe["rss_before_mb"]
            row["rss_peak_mb"] = probe["rss_peak_mb"]
            row["traced_peak_mb"] = probe["traced_peak_mb"]
        run.rows.append(row)


def run_bench(settings: BenchSettings, log: Callable[[str], None] = print) -> BenchRun:
    """Measure every method named in ``settings`` on the pages it selects."""
    start = time.perf_counter()
    run = BenchRun(settings=settings)
    counter = get_tokenizer(settings.tokenizer)
    reader = _load_reader(settings, log)
    loaded = load_pages(settings)
    run.skipped.extend(loaded.skipped)
    pages = sample_pages(loaded.pages, settings.sample, settings.seed)
    log(
        f"{len(pages)} pages drawn from {len(loaded.pages)} "
        f"({len(loaded.skipped)} records skipped while loading)"
    )
    methods, run.missing_methods = build_methods(settings.methods, counter, settings.format)
    if settings.require_methods and run.missing_methods:
        raise BenchInputError(
            "; ".join(f"method {name} cannot run: {why}" for name, why in run.missing_methods.items())
        )
    for name, why in run.missing_methods.items():
        log(f"method {name} left out: {why}")
    run.methods = {
        m.name: {"label": m.label, "format": m.fmt, "uses_question": str(m.uses_question), "note": m.note}
        for m in methods
    }
    # the slow methods run on the first few drawn pages of each corpus
    sampled = {
        name: {id(p) for p in _first_per_corpus(pages, n)}
        for name, n in (("htmlrag", settings.htmlrag_sample), ("domprune_dense", settings.dense_sample))
        if name in run.methods
    }
    # every page's questions first: the reader's sample is drawn from all of them before any method runs
    asked: list[tuple[Page, list[Question]]] = []
    for page in pages:
        try:
            html = page.read_html()
        except PageReadError as exc:
            run.skipped.append(Skip(page.origin, None, str(exc)))
            continue
        questions, skips = _page_questions(page, html, haystack(html), settings)
        run.skipped.extend(skips)
        asked.append((page, questions))
    picked: set[tuple[int, int]] = set()
    if reader is not None:
        picked = sample_questions([(p.corpus, qs) for p, qs in asked], settings.reader_sample, settings.seed)
        log(f"the reader answers {len(picked)} sampled questions from every method and budget")
    seen: dict[str, set[str]] = {}
    if settings.vocabulary == "leave-one-out":
        seen = corpus_label_words(loaded.pages)  # every loaded page, not only the drawn ones
    vocab = {c: vocabulary_for(settings.vocabulary, c, seen) for c in sorted({p.corpus for p, _ in asked})}
    if settings.vocabulary != "full":
        every = {w for f in FIELDS for w in f.labels}
        run.vocabulary = {
            c: {"label_words": len(every & keep), "left_out": sorted(every - keep)}
            for c, keep in vocab.items()
            if keep is not None
        }
        for c, v in run.vocabulary.items():
            log(f"{c}: {v['label_words']} label words of {len(every)}; left out: {' '.join(v['left_out'])}")
    measured: list[tuple[int, Page]] = []
    bar = tqdm(asked, desc="bench", unit="page", disable=not settings.progress, file=sys.stderr)
    for pi, (page, questions) in enumerate(bar):
        try:
            html = page.read_html()  # read again: pages are not all kept in memory
        except PageReadError as exc:
            run.skipped.append(Skip(page.origin, None, str(exc)))
            continue
        started = time.perf_counter()
        tokens_before = counter.count(html)  # also the reference time: one tokenizer pass over the page
        tokenize_seconds = time.perf_counter() - started
        run.pages.append(
            {
                "corpus": page.corpus,
                "page": page.id,
                "bytes": len(html.encode("utf-8")),
                "tokens_before": tokens_before,
                "tokenize_seconds": tokenize_seconds,
                "questions": len(questions),
                "natural": sum(q.kind == "natural" for q in questions),
                "synthetic": sum(q.kind == "synthetic" for q in questions),
                "paraphrased": sum(q.kind == "paraphrased" for q in questions),
                "htmlrag": id(page) in sampled.get("htmlrag", ()),
                "dense": id(page) in sampled.get("domprune_dense", ()),
            }
        )
        reading = None
        if reader is not None:
            mine = {qi: q for qi, q in enumerate(questions) if (pi, qi) in picked}
            reading = PageReading(reader, counter, {"corpus": page.corpus, "page": page.id}, mine)
        bench = _PageBench(run, counter, page, html, questions, reading)
        keep = vocab[page.corpus]
        with restricted_labels(keep) if keep is not None else contextlib.nullcontext():
            for m in methods:
                if m.name in sampled and id(page) not in sampled[m.name]:
                    continue
                bench.method(m)
            bench.read()
            if settings.ablation:
                bench.ablation()
            if settings.chunk_budget:
                bench.chunks()
        measured.append((len(html), page))
    if settings.memory_sample and measured:
        _memory_rows(run, [(p, p.read_html()) for p in _spread_by_size(measured, settings.memory_sample)])
    run.seconds = time.perf_counter() - start
    run.environment = _environment(counter)
    if reader is not None:
        run.reader = {
            "model": reader.info,
            "context": reader.context,
            "max_new_tokens": reader.max_new_tokens,
            "batch_size": reader.batch_size,
            "template": READER_TEMPLATE.model_dump(),
            "sampled_questions": len(picked),
            "sampled_by_kind": dict(Counter(asked[pi][1][qi].kind for pi, qi in sorted(picked))),
            "calls": reader.calls,
            "seconds": reader.seconds,
        }
    return run


def _load_reader(settings: BenchSettings, log: Callable[[str], None]) -> Reader | None:
    """The reader model of ``--reader``, loaded before any page is measured (a bad folder stops early)."""
    if settings.reader is None:
        return None
    reader = Reader.load(
        settings.reader,
        context=settings.reader_context,
        max_new_tokens=settings.reader_max_new_tokens,
        batch_size=settings.reader_batch_size,
    )
    info = reader.info
    log(
        f"reader: {info['model_type']} with {info['parameters']:,} parameters on {info['device']}, "
        f"context {reader.context} tokens"
    )
    return reader


def _spread_by_size(pages: list[tuple[int, Page]], n: int) -> list[Page]:
    """``n`` pages spread evenly over the size order, the largest always included."""
    ordered = [p for _, p in sorted(pages, key=lambda sp: sp[0])]
    if n >= len(ordered):
        return ordered
    last = len(ordered) - 1
    picks = sorted({round(last * (k + 1) / n) for k in range(n)})
    return [ordered[i] for i in picks]


def _first_per_corpus(pages: list[Page], n: int | None) -> list[Page]:
    if n is None:
        return list(pages)
    seen: dict[str, int] = {}
    out = []
    for page in pages:
        if seen.get(page.corpus, 0) < n:
            seen[page.corpus] = seen.get(page.corpus, 0) + 1
            out.append(page)
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _environment(counter: TokenCounter) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "domprune": getattr(domprune, "__version__", "?"),
        "tokenizer": getattr(counter, "name", type(counter).__name__),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
