"""``generate``: write question/answer records about pages, with a model behind an endpoint or with rules.

``generate_dataset(source, out_dir, settings, generator)`` reads pages (:mod:`domvqa_train.data.pages`),
asks ``generator`` for questions about each one (:func:`generate_page`: no global state, the
generator and its client are passed in, so a Ray actor can call it), checks every answer against
its page (:mod:`domvqa_train.data.grounding`), and writes into ``out_dir``:

- ``qa.jsonl``: one record per kept question, in the raw shape that
  :func:`domvqa_train.common.records.load_examples` reads (``id``, ``cleaned_html``, ``question``, ``answer``,
  ``answers``, ``screenshot``) plus ``page_id``, ``answer_type``, ``source`` (``dom``/``image``),
  ``grounding``, ``evidence``, ``generator``, ``generator_model`` and ``reasoning``;
- ``rejects.jsonl``: every page that gave no question, with its ``kind``, ``reason`` and the raw
  response (not JSON, wrong schema, empty, nothing grounded, request failed, oversize, unreadable);
  a reply whose content is not the JSON asked for is asked again first, within the endpoint's
  ``retries`` (counted as ``content_not_json`` / ``content_wrong_schema`` in the report's requests),
  unless it stopped at ``max_tokens``;
- ``progress.jsonl`` (one line per finished page) and ``report.json``.

Every page read ends in exactly one of ``qa.jsonl`` (one or more records) or ``rejects.jsonl``.
Pages are worked on by as many threads as the generator has requests in flight (``concurrency``);
a killed run resumes where it stopped. With ``engine="ray"`` the pages go to ``workers`` Ray actors
(:mod:`domvqa_train.common.ray_engine`), each with its own copy of the generator (an endpoint client is
rebuilt from its settings) and ``concurrency`` threads; this process still reads the pages and
commits every result, in input order, so the files are the same as the local engine's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

import domprune

from ..common.endpoint import (
    ChatClient,
    ChatReply,
    EndpointError,
    RequestFailed,
    combined_summary,
    image_part,
)
from ..common.jobstore import JobStore, atomic_write
from ..common.ray_engine import (
    BATCH_SIZE,
    ENGINE_FIELDS,
    ActorSnapshots,
    JsonBatchActor,
    RayAddress,
    check_picklable,
    decode_all,
    fatal_result,
    ordered_map,
    raise_fatal,
)
from ..common.records import SCREENSHOTS_DIR, example_id
from .generator_prompt import (
    USER,
    ParsedResponse,
    ProposedQA,
    UnusableResponse,
    build_messages,
    parse_questions,
    response_format,
)
from .grounding import GroundedQA, ground_questions
from .pages import Page, PageReject, read_pages
from .rules import rules_questions

QA_FILE = "qa.jsonl"
REJECTS_FILE = "rejects.jsonl"
REPORT_FILE = "report.json"
SETTINGS_FILE = "generate-settings.json"
#: Fields of a page's record not carried into its question records (the records' own, and labels).
_NOT_CARRIED = frozenset(
    {"id", "page_id", "cleaned_html", "question", "answer", "answers", "answer_type", "source", "grounding",
     "evidence", "screenshot", "generator", "generator_model", "reasoning", "split", "dom_difficulty",
     "img_difficulty"}
)  # fmt: skip


class GenerateSettings(BaseModel):
    """How questions are generated and checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_page: int = Field(10, ge=1, description="Questions asked for (and at most kept) per page.")
    context_budget: int = Field(
        16000,
        ge=64,
        description="Tokens of the pruned DOM sent to the generator (counted with context_tokenizer).",
    )
    context_tokenizer: str = Field(
        "qwen2.5", description="domprune tokenizer name of the generator model, e.g. tiktoken:cl100k_base."
    )
    max_tokens: int = Field(
        4096, ge=1, description="Completion tokens per request (reasoning models need room)."
    )
    temperature: float | None = Field(
        None, ge=0, description="Sampling temperature; None: the endpoint's default."
    )
    max_answer_words: int = Field(
        4,
        ge=1,
        description="Longer answers are dropped (the original reward scores boxes of fewer than 5 words).",
    )
    max_page_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Larger pages are rejected as oversize.")
    screenshots: bool = Field(True, description="Send a page's screenshot as an image part when it has one.")
    seed: int = Field(42, description="Seed of the rules generator's wordings.")
    resume: bool = Field(True, description="Skip pages finished by an earlier run in out_dir.")
    progress: bool = Field(True, description="Show a progress bar.")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="'ray': pages go to Ray Data actors, each with its own generator (same outputs as 'local').",
    )
    workers: int = Field(
        1, ge=1, description="Ray actors (engine 'ray'), each with the generator's concurrency in threads."
    )
    ray_address: RayAddress = None


class Generator(Protocol):
    """Proposes questions about one page; owns whatever client or state it needs."""

    name: str
    model: str
    concurrency: int  # pages worked on at once

    def propose(self, page: Page, settings: GenerateSettings) -> Proposal:
        """The page's proposed questions; raises ``RequestFailed`` or ``DomPruneError``."""
        ...


@dataclass
class Proposal:
    """What a generator returned for a page."""

    parsed: ParsedResponse | UnusableResponse
    raw_text: str | None = None
    reasoning: str | None = None
    has_screenshot: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RulesGenerator:
    """:mod:`domvqa_train.data.rules`: questions from label/value structure, offline."""

    name = "rules"
    model = "rules"
    concurrency = 1  # pure Python on one page at a time: threads would only contend for the GIL

    def propose(self, page: Page, settings: GenerateSettings) -> Proposal:
        items = rules_questions(page.html, page_id=page.id, n=3 * settings.per_page, seed=settings.seed)
        parsed = (
            ParsedResponse(items, None, 0)
            if items
            else UnusableResponse("no_facts", "the rules found no label/value fact in the page")
        )
        return Proposal(parsed, has_screenshot=page.screenshot is not None)


class EndpointGenerator:
    """A model behind an OpenAI-compatible endpoint, given the pruned DOM and the screenshot."""

    name = "endpoint"

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.model = client.settings.model
        self.concurrency = client.settings.concurrency

    def check(self) -> None:
        """Fail before any work when the endpoint cannot be used (see :meth:`ChatClient.check`)."""
        self.client.check()

    def propose(self, page: Page, settings: GenerateSettings) -> Proposal:
        pruned = domprune.prune(
            page.html, budget=settings.context_budget, tokenizer=settings.context_tokenizer
        )
        shot = None
        if settings.screenshots and page.screenshot:
            try:
                shot = image_part(page.screenshot)
            except OSError:
                shot = None  # an unreadable screenshot: ask from the DOM alone
        messages = build_messages(
            pruned.output, n=settings.per_page, max_words=settings.max_answer_words, screenshot_part=shot
        )
        reply = self.client.complete(
            messages,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            response_format=response_format(settings.per_page),
            usable=_unparseable,  # content that is not the JSON asked for is asked again
        )
        parsed = _parsed(reply.text)
        if isinstance(parsed, UnusableResponse) and reply.finish_reason == "length":
            why = f"the reply stopped at max_tokens={settings.max_tokens}, not asked again; raise max_tokens"
            parsed = UnusableResponse(parsed.kind, f"{parsed} ({why})")
        elif isinstance(parsed, UnusableResponse) and reply.tries > 1:
            parsed = UnusableResponse(parsed.kind, f"{parsed} (the last of {reply.tries} tries)")
        return Proposal(
            parsed,
            raw_text=reply.text,
            reasoning=reply.reasoning,
            has_screenshot=shot is not None,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
        )


#: Why a reply's content is unusable that asking again may change (an empty reply reaches here only
#: when asking again would not: it stopped at max_tokens or was filtered).
_RETRIED_CONTENT = frozenset({"not_json", "wrong_schema"})


def _parsed(text: str) -> ParsedResponse | UnusableResponse:
    try:
        return parse_questions(text)
    except UnusableResponse as exc:
        return exc


def _unparseable(reply: ChatReply) -> str | None:
    """The retry kind of a reply whose content is not the questions' JSON (``content_not_json``, ...); None when usable."""
    parsed = _parsed(reply.text)
    if isinstance(parsed, UnusableResponse) and parsed.kind in _RETRIED_CONTENT:
        return f"content_{parsed.kind}"
    return None


@dataclass
class PageResult:
    """The outcome of one page: its records, or a reject; and a summary for the report."""

    page_id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    reject: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def generate_page(page: Page, generator: Generator, settings: GenerateSettings) -> PageResult:
    """Questions for one page, checked against it; never raises except :class:`~domvqa_train.common.endpoint.EndpointError`."""
    try:
        proposal = generator.propose(page, settings)
    except RequestFailed as exc:
        return _reject(page, generator, exc.kind, str(exc), None, raw=exc.raw)
    except domprune.DomPruneError as exc:
        return _reject(page, generator, type(exc).__name__, str(exc), None)
    parsed = proposal.parsed
    if isinstance(parsed, UnusableResponse):
        return _reject(page, generator, parsed.kind, str(parsed), proposal)
    result = ground_questions(
        parsed.items,
        page.html,
        has_screenshot=proposal.has_screenshot,
        max_answer_words=settings.max_answer_words,
    )
    kept = result.kept[: settings.per_page]
    dropped = Counter(result.dropped)
    if parsed.malformed:
        dropped["malformed_item"] += parsed.malformed
    if len(result.kept) > len(kept):
        dropped["over_per_page"] += len(result.kept) - len(kept)
    if not kept:
        reasons = ", ".join(f"{k} {v}" for k, v in result.dropped.most_common())
        examples = "; ".join(f"{k}: {v}" for k, v in result.examples.items())
        why = f"no question passed the checks ({reasons}); e.g. {examples}"
        return _reject(page, generator, "not_grounded", why, proposal, dropped=dropped)
    reasoning = parsed.reasoning or proposal.reasoning
    records = [_record(page, generator, reasoning, qa) for qa in kept]
    summary = _summary(proposal, dropped, status="ok")
    summary.update(
        written=len(records),
        grounding=dict(Counter(r["grounding"] for r in records)),
        sources=dict(Counter(r["source"] for r in records)),
        answer_types=dict(Counter(r["answer_type"] for r in records)),
    )
    return PageResult(page.id, records, None, summary)


def _record(page: Page, generator: Generator, reasoning: str | None, qa: GroundedQA) -> dict[str, Any]:
    answers = list(qa.proposal.answers)
    extra = {k: v for k, v in page.fields.items() if k not in _NOT_CARRIED}
    return {
        **extra,
        "id": example_id(page.html, qa.proposal.question, answers),
        "page_id": page.id,
        "cleaned_html": page.html,
        "question": qa.proposal.question,
        "answer": answers[0],
        "answers": answers,
        "answer_type": qa.answer_type,
        "source": qa.source,
        "grounding": qa.grounding,
        "evidence": qa.proposal.evidence,
        "screenshot": page.screenshot,
        "generator": generator.name,
        "generator_model": generator.model,
        "reasoning": reasoning,
    }


def _summary(proposal: Proposal | None, dropped: Counter[str], *, status: str) -> dict[str, Any]:
    parsed = proposal.parsed if proposal is not None else None
    return {
        "status": status,
        "proposed": len(parsed.items) if isinstance(parsed, ParsedResponse) else 0,
        "dropped": dict(dropped),
        "prompt_tokens": proposal.prompt_tokens if proposal else 0,
        "completion_tokens": proposal.completion_tokens if proposal else 0,
    }


def _reject(
    page: Page,
    generator: Generator,
    kind: str,
    reason: str,
    proposal: Proposal | None,
    *,
    raw: Any = None,
    dropped: Counter[str] | None = None,
) -> PageResult:
    reject = {
        "id": page.id,
        "page_id": page.id,
        "origin": page.origin,
        "kind": kind,
        "reason": reason,
        "generator": generator.name,
        "generator_model": generator.model,
        "raw_response": proposal.raw_text if proposal and proposal.raw_text is not None else raw,
    }
    summary = _summary(proposal, dropped or Counter(), status="rejected")
    summary["kind"] = kind
    return PageResult(page.id, [], reject, summary)


class GenerateReport(BaseModel):
    """What :func:`generate_dataset` did; also written to ``report.json``."""

    source: str
    out_dir: str
    generator: str
    model: str
    settings: dict[str, Any]
    pages: int = Field(description="Pages read (each is in qa.jsonl or rejects.jsonl).")
    pages_with_questions: int
    pages_rejected: int
    rejects_by_kind: dict[str, int]
    resumed: int = Field(description="Pages finished by an earlier run and not computed again.")
    questions_proposed: int
    questions_written: int
    questions_per_page: float | None = Field(description="Written questions / pages read.")
    grounding_rate: float | None = Field(
        description="Proposed questions that passed every check (before the per-page cap)."
    )
    dropped: dict[str, int] = Field(description="Proposed questions not written, by reason.")
    grounding: dict[str, int]
    sources: dict[str, int]
    answer_types: dict[str, int]
    prompt_tokens: int = Field(description="Over all pages of the folder, resumed ones included.")
    completion_tokens: int
    cost_usd: float | None = Field(description="From the prices given (all pages); None without prices.")
    seconds: float = Field(description="Wall time of this run.")
    pages_per_second: float | None = Field(description="Pages computed by this run / its wall time.")
    requests: dict[str, Any] = Field(
        description="This run's requests: counts, retries and failures by kind (rate_limited, server_error, "
        "timeout, connection_error, empty_reply, malformed_reply, content_not_json, ...), tokens, in flight; "
        "with engine 'ray', summed over the actors (in flight: per actor; 'clients' actors; see "
        "endpoint.combined_summary)."
    )


def _fingerprint(settings: GenerateSettings, generator: Generator) -> dict[str, Any]:
    data = settings.model_dump(exclude={"resume", "progress", *ENGINE_FIELDS})
    prompt = hashlib.sha256(USER.encode()).hexdigest()[:12]
    return {"generator": generator.name, "model": generator.model, "prompt": prompt, **data}


def generate_dataset(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: GenerateSettings,
    generator: Generator,
) -> GenerateReport:
    """Generate and check questions for every page of ``source``; see the module docstring for the outputs."""
    start = time.perf_counter()
    out = Path(out_dir)
    check = getattr(generator, "check", None)
    if check is not None:
        check()  # an unreachable endpoint or a refused key stops the run before any work
    if settings.engine == "ray":
        check_picklable(generator, f"generator {generator.name!r}")
    pages = read_pages(source, screenshot_dir=out / SCREENSHOTS_DIR, max_bytes=settings.max_page_bytes)
    first = next(pages, None)  # a missing or unreadable source fails here, before the folder is written
    store = JobStore(
        out, [QA_FILE, REJECTS_FILE], settings_file=SETTINGS_FILE, fingerprint=_fingerprint(settings, generator),
        resume=settings.resume,
    )  # fmt: skip
    order: list[str] = []
    resumed = computed = 0
    bar = tqdm(desc="generate", unit="page", disable=not settings.progress)
    pending: dict[Future[PageResult], str] = {}
    requests: dict[str, Any] | None = None  # from the actors (engine 'ray')

    def commit(result: PageResult) -> None:
        rows = {QA_FILE: result.records, REJECTS_FILE: [result.reject] if result.reject else []}
        store.commit(result.page_id, rows, result.summary)
        bar.update(1)

    def drain(block_until: int) -> None:
        while len(pending) > block_until:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                del pending[future]
                commit(future.result())  # EndpointError (401, model gone) stops the run here

    def unfinished() -> Iterator[Page]:
        """The pages still to compute; resumed pages are counted, read rejects committed."""
        nonlocal resumed
        for item in _chain(first, pages):
            key = item.id if isinstance(item, Page) else f"reject:{item.origin}"
            order.append(key)
            if key in store.done:
                resumed += 1
                bar.update(1)
                continue
            if isinstance(item, PageReject):
                commit(_read_reject(item, key, generator))
                continue
            yield item

    workers = _concurrency(generator)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="generate")
    try:
        if settings.engine == "ray":
            todo = list(unfinished())  # held here, as prepare holds its records
            computed = len(todo)
            requests = _generate_on_ray(todo, generator, settings, commit)
        else:
            for item in unfinished():
                computed += 1
                pending[pool.submit(generate_page, item, generator, settings)] = item.id
                drain(2 * workers)
            drain(0)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        store.close()
        bar.close()
        raise
    pool.shutdown(wait=True)
    bar.close()
    units = store.finish(order)
    stats = _client_part(generator, "stats")
    endpoint = _client_part(generator, "settings")
    if requests is None:
        requests = stats.summary(endpoint) if stats is not None else {}
    report = _report(
        source,
        out,
        settings,
        generator,
        units,
        resumed,
        computed,
        time.perf_counter() - start,
        requests,
        endpoint,
    )
    atomic_write(out / REPORT_FILE, [report.model_dump_json(indent=2) + "\n"])
    return report


def _concurrency(generator: Generator) -> int:
    """Pages one generator works on at once (at least 1)."""
    return max(1, int(getattr(generator, "concurrency", 1)))


def _client_part(generator: Generator, name: str) -> Any:
    """The ``stats`` or ``settings`` of an endpoint generator's client; None for the rules generator."""
    return getattr(getattr(generator, "client", None), name, None)


class _GenerateActor(JsonBatchActor):
    """A Ray actor that generates questions: its own copy of the generator, ``concurrency`` pages at once."""

    def __init__(self, generator: Generator, settings: GenerateSettings) -> None:
        self.generator = generator
        self.settings = settings
        concurrency = _concurrency(generator)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="generate-actor")

    def many(self, items: list[Any]) -> list[Any]:
        pages = [Page(**item) for item in items]
        results: list[dict[str, Any]] = []
        try:
            for result in self.pool.map(lambda p: generate_page(p, self.generator, self.settings), pages):
                results.append({"page": dataclasses.asdict(result)})
        except EndpointError as exc:  # the driver stops the run with this message
            results += [fatal_result(exc)] * (len(pages) - len(results))
        stats = _client_part(self.generator, "stats")
        snapshot = self.snapshot(stats.summary() if stats is not None else None)
        return [{**result, "snapshot": snapshot} for result in results]


def _generate_on_ray(
    pages: list[Page], generator: Generator, settings: GenerateSettings, commit: Callable[[PageResult], None]
) -> dict[str, Any]:
    """Generate ``pages`` on Ray actors and ``commit`` each result in input order; returns the request statistics."""
    concurrency = _concurrency(generator)
    items = [json.dumps(dataclasses.asdict(page), ensure_ascii=False) for page in pages]
    results = ordered_map(
        items,
        _GenerateActor,
        {"generator": generator, "settings": settings},
        workers=settings.workers,
        address=settings.ray_address,
        batch_size=max(BATCH_SIZE, 2 * concurrency),  # keeps each actor's threads busy through a batch
    )
    snapshots = ActorSnapshots()
    with closing(results):  # a fatal result stops the actors now, not when the iterator is collected
        for result in decode_all(results, dict):
            snapshots.add(result.get("snapshot"))
            raise_fatal(result)
            commit(PageResult(**result["page"]))
    counters = [c for c in snapshots.counters() if c is not None]
    endpoint = _client_part(generator, "settings")
    return combined_summary(counters, endpoint) if counters else {}


def _chain(first: Page | PageReject | None, rest: Iterator[Page | PageReject]) -> Iterator[Page | PageReject]:
    if first is not None:
        yield first
        yield from rest


def _read_reject(item: PageReject, key: str, generator: Generator) -> PageResult:
    reject = {
        "id": item.id,
        "page_id": item.id,
        "origin": item.origin,
        "kind": item.kind,
        "reason": item.reason,
        "generator": generator.name,
        "generator_model": generator.model,
        "raw_response": None,
    }
    return PageResult(
        key, [], reject, {"status": "rejected", "kind": item.kind, "proposed": 0, "dropped": {}}
    )


def _report(
    source: str | os.PathLike[str],
    out: Path,
    settings: GenerateSettings,
    generator: Generator,
    units: list[Any],
    resumed: int,
    computed: int,
    seconds: float,
    requests: dict[str, Any],
    endpoint: Any,
) -> GenerateReport:
    summaries = [u.summary for u in units]
    ok = [s for s in summaries if s.get("status") == "ok"]
    rejected = [s for s in summaries if s.get("status") != "ok"]
    dropped: Counter[str] = Counter()
    grounding: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for s in summaries:
        dropped.update(s.get("dropped") or {})
        grounding.update(s.get("grounding") or {})
        sources.update(s.get("sources") or {})
        types.update(s.get("answer_types") or {})
    proposed = sum(int(s.get("proposed") or 0) for s in summaries)
    written = sum(int(s.get("written") or 0) for s in ok)
    prompt_tokens = sum(int(s.get("prompt_tokens") or 0) for s in summaries)
    completion_tokens = sum(int(s.get("completion_tokens") or 0) for s in summaries)
    cost = None if endpoint is None else endpoint.cost_usd(prompt_tokens, completion_tokens)
    over_cap = dropped.get("over_per_page", 0)
    return GenerateReport(
        source=os.fspath(source),
        out_dir=os.fspath(out),
        generator=generator.name,
        model=generator.model,
        settings=settings.model_dump(),
        pages=len(summaries),
        pages_with_questions=len(ok),
        pages_rejected=len(rejected),
        rejects_by_kind=dict(Counter(str(s.get("kind")) for s in rejected).most_common()),
        resumed=resumed,
        questions_proposed=proposed,
        questions_written=written,
        questions_per_page=written / len(summaries) if summaries else None,
        grounding_rate=(written + over_cap) / proposed if proposed else None,
        dropped=dict(dropped.most_common()),
        grounding=dict(grounding),
        sources=dict(sources),
        answer_types=dict(types.most_common()),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        seconds=seconds,
        pages_per_second=computed / seconds if seconds > 0 and computed else None,
        requests=requests,
    )


__all__ = [
    "EndpointGenerator",
    "GenerateReport",
    "GenerateSettings",
    "Generator",
    "PageResult",
    "ProposedQA",
    "RulesGenerator",
    "generate_dataset",
    "generate_page",
]
