"""The pruning pipeline: parse once -> filtering -> attributes -> (unit model, ranking) -> fit budgets.

:func:`prepare` does everything that does not depend on the budget, once; the
:class:`PreparedPage` it returns fits any number of budgets (:meth:`PreparedPage.fit`) and chunks
(:meth:`PreparedPage.chunks`), building the unit model and the question's ranking on first use.
:func:`prune` and :func:`chunk` are one preparation and one call.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from .counting import PieceCounts
from .document import Document, Flags, flags, flatten, serialize
from .errors import SettingsError
from .parse import Page, ParsedPage, parse_page
from .safety import has_special, neutralize
from .settings import PruneSettings
from .steps import filtering
from .steps.attributes import strip_attributes
from .steps.budget import Selection, fit_to_budget, whole_may_fit, whole_selection
from .steps.chunking import Chunk, chunk_document
from .steps.dense import model_folder
from .steps.ranking import Ranking, rank_units
from .steps.relevance import Query, words
from .steps.units import UnitModel, WrittenChars
from .table import TableOptions
from .tokenizers import TokenCounter, get_tokenizer

DEFAULT_BUDGET = 16384
T = TypeVar("T")


@dataclass
class StepReport:
    """What one step did: counts of what it removed, tokens around it (when measured), time."""

    name: str
    """``"filtering"``, ``"attributes"`` or ``"budget"``."""
    removed: dict[str, int]
    """What the step removed or changed, by kind (e.g. ``noise_elements``, ``units_dropped``)."""
    seconds: float
    """Time the step took."""
    tokens_before: int | None = None
    """Exact tokens before the step, with ``PruneSettings(exact_step_tokens=True)``; else ``None``."""
    tokens_after: int | None = None
    """Exact tokens after the step, measured like ``tokens_before``."""

    @property
    def tokens_saved(self) -> int | None:
        """``tokens_before - tokens_after`` when both were measured; else ``None``."""
        if self.tokens_before is None or self.tokens_after is None:
            return None
        return self.tokens_before - self.tokens_after


@dataclass
class PruneResult:
    """The pruned page and an account of how it was made."""

    output: str
    """The pruned page: well-formed HTML, or text or Markdown with ``PruneSettings(format="text")`` or
    ``format="markdown"``."""
    tokens_after: int
    """Exact tokens of ``output``, counted on the final text."""
    budget: int
    """The budget it was fitted to."""
    steps: list[StepReport]
    """What filtering, attribute stripping and budget fitting each did."""
    backend_ids: list[str]
    """Mind2Web ``backend_node_id`` values of the elements still in the output (empty for other pages)."""
    timings: dict[str, float]
    """Seconds per part: parse, filter_attributes, the budget step's parts (units, ranking,
    serialize, whole), fit, and their total."""
    dialect: str
    """How the page was read: ``"html"`` or ``"mind2web"``."""
    format: str
    """``"html"``, ``"text"`` or ``"markdown"``."""
    _count_before: Callable[[], int | None] | None = field(default=None, repr=False)

    @property
    def fits(self) -> bool:
        """Whether ``tokens_after`` is within ``budget`` (always after budget fitting; with
        ``PruneSettings(fit=False)`` the filtered page may be over it)."""
        return self.tokens_after <= self.budget

    @cached_property
    def tokens_before(self) -> int | None:
        """Tokens of the input as given (counted on first access; ``None`` for an lxml tree)."""
        return None if self._count_before is None else self._count_before()

    def to_dict(self) -> dict:
        """The result as JSON-ready data (``domprune prune --json`` prints it for each file)."""
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


def check_budget(budget: int) -> int:
    """``budget`` when it is a positive whole number of tokens; else a SettingsError saying so."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SettingsError(f"budget must be a positive whole number of tokens, got {budget!r}")
    return budget


def table_options(settings: PruneSettings) -> TableOptions:
    """What the walk into the flat table drops and collapses, by ``settings.filtering``."""
    f = settings.filtering
    return TableOptions(
        collapse_whitespace=f.whitespace,
        drop_tags=filtering.NOISE_TAGS if f.noise_tags else (),
        json_ld_chars=f.json_ld,
    )


def prepare_document(
    parsed: ParsedPage, settings: PruneSettings, query: Query | None
) -> tuple[Document, Flags, list[StepReport]]:
    """Filtering and attribute stripping: the budget-independent steps."""
    f = settings.filtering
    t0 = time.perf_counter()
    if parsed.document is not None:  # parsed straight into the table (see table_options)
        doc, dropped = parsed.document, parsed.dropped
    else:
        # (TableOptions are flatten's keyword arguments: the tree's walk does what the table's does)
        doc, dropped = flatten(
            parsed.root, dialect=parsed.dialect, **dataclasses.asdict(table_options(settings))
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
        protect = _question_matches(doc, alive, query) if query else []
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


def _neutralize(doc: Document, alive: Flags, fmt: str) -> int:
    """Break chat special-token strings wherever the output would carry them raw."""
    count = 0
    plain = fmt in ("text", "markdown")  # written unescaped: break the strings themselves
    bad_tags = {t for t in set(doc.tags) if has_special(f"<{t}>") or has_special(f"</{t}>")}
    for i in range(len(doc.tags)):
        if not alive[i]:
            continue
        if bad_tags and doc.tags[i] in bad_tags:
            doc.transparent[i] = True  # e.g. an element named <tool_call>: keep its content only
            count += 1
        raw = doc.tags[i] == "script"
        if (plain or raw) and has_special(doc.text[i]):
            doc.text[i] = neutralize(doc.text[i])
            count += 1
        if plain:
            if has_special(doc.tail[i]):
                doc.tail[i] = neutralize(doc.tail[i])
                count += 1
            if doc.kept_attrs[i] and any(has_special(v) for _, v in doc.kept_attrs[i]):
                if doc.kept_attrs is doc.attrs:  # (one list while stripping changed nothing)
                    doc.kept_attrs = list(doc.attrs)
                doc.kept_attrs[i] = tuple([(k, neutralize(v)) for k, v in doc.kept_attrs[i]])
                count += 1
    return count


def _question_matches(doc: Document, alive: Flags, query: Query) -> list[int]:
    terms = {t for t, w in query.terms.items() if w >= 1.0}
    return [i for i in range(len(doc.tags)) if alive[i] and terms.intersection(words(doc.text[i]))]


def _measure(
    steps: list[StepReport], parsed: ParsedPage, doc: Document, counter: TokenCounter, fmt: str
) -> None:
    """Exact tokens after filtering and attributes (optional: costs a tokenizer pass each)."""
    before = counter.count(parsed.source) if parsed.source is not None else None
    # after filtering, with all attributes still there
    kept_attrs, transparent = doc.kept_attrs, doc.transparent
    doc.kept_attrs = doc.attrs
    doc.transparent = flags(len(doc.tags))
    after_filter = counter.count(serialize(doc, fmt=fmt))
    doc.kept_attrs, doc.transparent = kept_attrs, transparent
    doc.open_s = {}  # the tags were written with every attribute: write them again
    after_attrs = counter.count(serialize(doc, fmt=fmt))
    steps[0].tokens_before, steps[0].tokens_after = before, after_filter
    steps[1].tokens_before, steps[1].tokens_after = after_filter, after_attrs


class PreparedPage:
    """A page parsed, filtered and attribute-stripped once, for one question, tokenizer and settings.

    :meth:`fit` and :meth:`chunks` reuse everything that does not depend on the budget: the
    document, the unit model with its token costs, the question's ranking and the exact count of the
    whole filtered page, each computed on first use. The outputs are those of :func:`prune` and
    :func:`chunk` with the same arguments.
    """

    def __init__(
        self,
        parsed: ParsedPage,
        question: str | None,
        counter: TokenCounter,
        settings: PruneSettings,
    ) -> None:
        t0 = time.perf_counter()
        self.question = question
        """The question the page is ranked for (``None``: structure and position only)."""
        self.query = Query.from_question(question) if question and question.strip() else None
        """The question as weighted terms and the kinds of answer it expects (``None`` without one)."""
        self.counter, self.settings = counter, settings
        if settings.budget.dense:
            model_folder(settings.budget.dense)  # a wrong model name fails here, not at the first ranking
        self.dialect, self.format = parsed.dialect, settings.format
        self._source = parsed.source
        self.document, self.alive, self.steps = prepare_document(parsed, settings, self.query)
        t1 = time.perf_counter()
        self.timings = {"filter_attributes": t1 - t0}
        """Seconds of the budget-independent work: parse, filter_attributes (and measure, with
        ``exact_step_tokens``)."""
        if settings.exact_step_tokens:
            _measure(self.steps, parsed, self.document, counter, settings.format)
            self.timings["measure"] = time.perf_counter() - t1
        # parts built on first use, with the seconds each took: the question's ranking here, the
        # question-independent parts in _shared (one dict for the page and its for_question copies)
        self._own: dict[str, tuple[Any, float]] = {}
        self._shared: dict[str, tuple[Any, float]] = {}
        self._spent = 0.0  # seconds this object spent building parts (fit's own time excludes them)
        self.pieces = PieceCounts(counter)  # exact counts of outputs, shared by every fit
        """Exact token counts of output pieces, shared by every fit (and by ``for_question`` copies)."""
        self.written = WrittenChars(self.document, self.alive)  # (summed once, shared by every fit)

    def for_question(self, question: str | None) -> PreparedPage:
        """This page prepared for ``question`` instead: the parsed, filtered page, its units and its
        exact counts are shared; only the question's ranking is new. Outputs are those of
        :func:`prepare` with that question (a page has many questions: prepare it once for all).

        With ``fold_repeated`` on, filtering keeps the question's matches, so the page is prepared
        again from its source. A result's ``timings`` count the shared parts as built from scratch;
        its own ``fit`` time, as between budgets, gains from the token counts earlier fits made.

        >>> page = prepare("<h1>Boots</h1><p>Price: $129</p>" + "<p>Light and dry.</p>" * 40)
        >>> "$129" in page.for_question("How much are they?").fit(30).output
        True
        """
        if question == self.question:
            return self
        if self.settings.filtering.fold_repeated:
            if self._source is None:
                raise SettingsError(
                    "with fold_repeated, filtering depends on the question: prepare the lxml tree again "
                    "for each question (or pass the page as HTML)"
                )
            return prepare(self._source, question=question, tokenizer=self.counter, settings=self.settings)
        self.units.keep_page_parts = True  # the ranking's question-free parts serve every question
        other = copy.copy(self)  # the same document, units, counts (_shared and pieces are shared)
        other.question = question
        other.query = Query.from_question(question) if question and question.strip() else None
        other._own = {}  # the question's ranking is built anew
        other._spent = 0.0
        return other

    def _part(self, store: dict[str, tuple[Any, float]], name: str, build: Callable[[], T]) -> T:
        hit = store.get(name)
        if hit is None:
            t0 = time.perf_counter()
            value = build()
            seconds = time.perf_counter() - t0
            self._spent += seconds
            hit = store[name] = (value, seconds)
        return hit[0]  # type: ignore[no-any-return]

    def _seconds(self, name: str) -> float:
        """What building part ``name`` took (from scratch, whichever copy of the page built it)."""
        return (self._own.get(name) or self._shared[name])[1]

    @property
    def units(self) -> UnitModel:
        """The units of the filtered page with their token costs."""
        return self._part(
            self._shared, "units", lambda: UnitModel(self.document, self.alive, self.counter, self.format)
        )

    @property
    def ranking(self) -> Ranking:
        """The units' ranking for the question (structure and position only without one).

        Read-only: once the page has a second question, its ``header``, ``boilerplate`` and ``base``
        are the page's, shared by the rankings of all its questions."""
        units = self.units
        return self._part(self._own, "ranking", lambda: rank_units(units, self.query, self.settings.budget))

    @property
    def whole_text(self) -> str:
        """Everything filtering left, serialized."""
        return self._part(self._shared, "serialize", lambda: serialize(self.document, fmt=self.format))

    @property
    def whole(self) -> tuple[str, int]:
        """Everything filtering left, serialized, and its exact token count."""
        text = self.whole_text
        # counted by parts: a fit that then drops a few units recounts only the parts it changed
        return text, self._part(self._shared, "whole", lambda: self.pieces.count(text))

    @property
    def tokens_before(self) -> int | None:
        """Tokens of the input as given (``None`` for an lxml tree; counted once for the page)."""
        source = self._source
        return (
            None if source is None else self._part(self._shared, "before", lambda: self.counter.count(source))
        )

    def fit(self, budget: int) -> PruneResult:
        """The page pruned to ``budget`` tokens (exactly :func:`prune`'s result).

        ``timings`` are those of the result made from scratch: parse, filter_attributes, the parts
        of the budget step (units, ranking, serialize and whole, the whole page written and counted:
        built once and shared by later fits, still
        counted in each result that used them), fit (this budget's own work) and their total.
        """
        budget = check_budget(budget)
        settings = self.settings
        used: list[str] = []

        def part(name: str, value: Callable[[], Any]) -> Any:
            used.append(name)
            return value()

        t0 = time.perf_counter()
        spent_before = self._spent
        if settings.fit:
            sel = self._select(budget, part)
            output, tokens, keep = sel.output, sel.tokens, sel.keep
            removed = {"units_dropped": sel.units_dropped, "exact_counts": sel.exact_counts}
        else:
            part("serialize", lambda: self.whole_text)
            output, tokens = part("whole", lambda: self.whole)
            keep = self.alive
            removed = {}
        # this budget's own work: the call's time less the shared parts it built
        fit_s = time.perf_counter() - t0 - (self._spent - spent_before)
        parts = {name: self._seconds(name) for name in dict.fromkeys(used)}
        steps = [dataclasses.replace(s, removed=dict(s.removed)) for s in self.steps]
        fit_step = StepReport("budget", removed, sum(parts.values()) + fit_s)
        if settings.exact_step_tokens:
            fit_step.tokens_before, fit_step.tokens_after = steps[-1].tokens_after, tokens
        steps.append(fit_step)
        doc = self.document
        backend_ids = _backend_ids(doc, keep) if self.dialect == "mind2web" else []
        timings = {**self.timings, **parts}
        timings["fit"] = fit_s
        timings["total"] = sum(self.timings.values()) + sum(parts.values()) + fit_s
        return PruneResult(
            output=output,
            tokens_after=tokens,
            budget=budget,
            steps=steps,
            backend_ids=backend_ids,
            timings=timings,
            dialect=self.dialect,
            format=self.format,
            _count_before=lambda: self.tokens_before,
        )

    def select(self, budget: int) -> Selection:
        """What budget fitting keeps at ``budget``, unit by unit (what :meth:`fit` writes)."""
        return self._select(check_budget(budget), lambda name, value: value())

    def _select(self, budget: int, part: Callable[[str, Callable[[], Any]], Any]) -> Selection:
        doc, alive = self.document, self.alive
        text = lambda: part("serialize", lambda: self.whole_text)  # noqa: E731
        if whole_may_fit(self.written, self.format, budget, text, self.counter):
            # everything filtering left may fit: write it all (empty elements too, if filtering kept them)
            text()  # whole counts whole_text: its time is reported as serialize's, not lost from the total
            out, tokens = part("whole", lambda: self.whole)
            if tokens <= budget:
                return whole_selection(doc, alive, out, tokens)
            counted = 1
        else:
            counted = 0
        sel = fit_to_budget(
            part("units", lambda: self.units),
            budget,
            ranking=lambda: part("ranking", lambda: self.ranking),
            settings=self.settings.budget,
            count=self.pieces.count,
        )
        sel.exact_counts += counted
        return sel

    def chunks(self, budget: int) -> list[Chunk]:
        """Ordered chunks of at most ``budget`` tokens each (exactly :func:`chunk`'s result).

        With a question, each chunk's ``score`` comes from the ranking that :meth:`fit` uses.
        """
        budget = check_budget(budget)
        ranking = (lambda: self.ranking) if self.query is not None else None
        return chunk_document(self.units, budget, ranking=ranking)


def prepare(
    page: Page,
    *,
    question: str | None = None,
    tokenizer: str | TokenCounter | None = None,
    settings: PruneSettings | None = None,
) -> PreparedPage:
    """Parse, filter and strip ``page`` once; fit the result to many budgets with ``.fit(budget)``.

    >>> p = prepare("<h1>Boots</h1><p>Price: $129</p>" + "<p>More text here.</p>" * 40, question="price?")
    >>> [p.fit(b).tokens_after <= b for b in (200, 50, 20)]
    [True, True, True]
    """
    settings = settings or PruneSettings()
    counter = get_tokenizer(tokenizer)
    t0 = time.perf_counter()
    # a large text page goes straight into the flat table (no lxml tree: a tenth of the memory on
    # element-dense pages); its walk is then part of the parse time
    parsed = parse_page(page, settings.parse, table=table_options(settings))
    parse_s = time.perf_counter() - t0
    prepared = PreparedPage(parsed, question, counter, settings)
    prepared.timings = {"parse": parse_s, **prepared.timings}
    return prepared


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
    well-formed HTML (or text or Markdown with ``settings.format="text"`` or ``"markdown"``) and is
    never over the budget.
    To fit one page to several budgets, :func:`prepare` it once and call ``.fit(budget)``.
    """
    budget = check_budget(budget)
    return prepare(page, question=question, tokenizer=tokenizer, settings=settings).fit(budget)


def _backend_ids(doc: Document, keep: Flags) -> list[str]:
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
    exactly one chunk. With a ``question``, each chunk gets a ``score`` from the ranking that budget
    fitting uses (not a BM25 score): the relevance of its most relevant text as a share of the
    page's highest (about 1 for the chunk that holds the best match), plus a hundredth of its best
    priority to break ties. When nothing on the page matches the question, the score is its best
    priority from structure and position, plus 1 if it holds a header unit (title, ``<h1>``,
    meta, JSON-LD, byline). Higher is better: rank with ``sorted(chunks, key=lambda c: -c.score)``.
    Without a question ``score`` is ``None``. ``settings.budget`` decides the ranking.
    """
    budget = check_budget(budget)
    return prepare(page, question=question, tokenizer=tokenizer, settings=settings).chunks(budget)
