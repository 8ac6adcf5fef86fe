r"""``label``: each record's difficulty as a pass rate over K attempts, with the DOM only and with the screenshot only.

``dom_difficulty`` = passed attempts / K with the DOM prompt, fitted by
:func:`domvqa_train.prompts.prepare.fit_example` exactly as training will see it (same tokenizer, budget
and template); ``img_difficulty`` the same with the screenshot and ``eval``'s screenshot-only
prompt, when the record has a screenshot and the labeller takes images. Values in [0, 1], higher =
easier (the original's convention). Attempts are sampled like GRPO samples its group (``temperature``,
``top_p``), so a record at 0 or 1 predicts a GRPO group without reward variance.

The labeller is the policy itself (:class:`LocalPolicy`: a local model through
:mod:`domvqa_train.common.modelio`) or a model behind an endpoint (:class:`EndpointPolicy`). An attempt
passes when its last ``\boxed{}`` answer equals an accepted answer after
:func:`~domvqa_train.rewards.normalize_answer` (the ``exact_match`` reward); with an LLM judge
(:class:`LLMJudge`), a boxed answer that does not match exactly is asked about.

``label_dataset(source, out_dir, ...)`` writes ``labels.jsonl`` (the input records in the raw shape
plus ``dom_difficulty``, ``img_difficulty``, passes, the completions and the labeller),
``rejects.jsonl`` (load rejects, prompts that do not fit, failed requests), ``progress.jsonl``,
``report.json`` and ``difficulty.png``. :func:`label_batch` labels a list of examples and keeps no
global state (the labeller is passed in), so a Ray actor can call it: with ``engine="ray"`` the
batches go to ``workers`` Ray actors (:mod:`domvqa_train.common.ray_engine`), each with its own labeller
(a :class:`LocalPolicy` made from a :class:`PolicyModel` loads its model in the actor, once; an
endpoint client is rebuilt from its settings) and judge, and this process commits the outcomes in
input order. A local policy's sampling is seeded per batch from ``seed`` and the batch's prompts,
so the same batches give the same labels on either engine (and greedy decoding needs no seed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from ..common.endpoint import ChatClient, Message, RequestFailed, combined_summary, image_part
from ..common.jobstore import JobStore, atomic_write
from ..common.ray_engine import (
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
from ..common.records import SCREENSHOTS_DIR, DomQAExample, Reject, load_examples
from ..errors import DomVQAError
from ..prompts.prepare import PrepareSettings, default_template, fit_example
from ..prompts.presets import screenshot_messages
from ..rewards import exact_match_reward, extract_boxed, normalize_answer

LABELS_FILE = "labels.jsonl"
REJECTS_FILE = "rejects.jsonl"
REPORT_FILE = "report.json"
HISTOGRAM_FILE = "difficulty.png"
SETTINGS_FILE = "label-settings.json"


class LabelSettings(BaseModel):
    """How attempts are sampled and judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(4, ge=1, description="Attempts per record and input (K; the original used 4).")
    temperature: float = Field(
        1.0, ge=0, description="Sampling temperature of the attempts (GRPO's); 0 = greedy."
    )
    top_p: float = Field(
        1.0, gt=0, le=1, description="Nucleus sampling of the attempts (no top-k, like trl)."
    )
    max_new_tokens: int = Field(
        64, ge=1, description="Tokens per attempt (training's max_completion_length)."
    )
    images: bool = Field(True, description="Label img_difficulty where a record has a screenshot.")
    batch_size: int = Field(8, ge=1, description="Records labelled together (and committed together).")
    generation_batch: int = Field(16, ge=1, description="Sequences per generate call of a local model.")
    seed: int | None = Field(
        42,
        description="Seed of a local policy's sampling, mixed with each batch's prompts (None: unseeded).",
    )
    resume: bool = Field(True, description="Skip records labelled by an earlier run in out_dir.")
    progress: bool = Field(True, description="Show a progress bar.")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="'ray': batches go to Ray Data actors, one labeller (model) per actor; same outputs.",
    )
    workers: int = Field(
        1, ge=1, description="Ray actors (engine 'ray'), each with its own labeller and judge."
    )
    ray_address: RayAddress = None


class Labeller(Protocol):
    """Answers prompts: one completion per prompt (``images``: one screenshot path per prompt, or None)."""

    name: str
    takes_images: bool

    def answer(
        self, prompts: Sequence[Any], images: Sequence[str] | None, settings: LabelSettings
    ) -> list[str]: ...


@dataclass(frozen=True)
class PolicyModel:
    """How to load a local policy: what another process (a Ray actor) needs to load its own copy."""

    name: str  # a model folder, an adapter folder or a model in the hub cache
    attn_implementation: str = "sdpa"
    dtype: str = "auto"
    images: bool = False  # load the image processor (a vision-language model): the policy takes screenshots

    def load(self) -> Any:
        """The model, through :func:`domvqa_train.common.modelio.load_for_inference`."""
        from ..common.modelio import load_for_inference

        return load_for_inference(
            self.name, attn_implementation=self.attn_implementation, dtype=self.dtype, images=self.images
        )


class LocalPolicy:
    """A local model (the policy about to be trained) through :func:`domvqa_train.common.modelio.generate`.

    Made from a loaded model, or from a :class:`PolicyModel`: then the model is loaded on first use
    and the policy pickles as that description, so each Ray actor loads its own copy (never the weights).
    """

    def __init__(self, loaded: Any) -> None:
        self.source = loaded if isinstance(loaded, PolicyModel) else None
        self.loaded = None if self.source is not None else loaded
        self.name = loaded.name
        self.takes_images = loaded.images if self.source is not None else loaded.processor is not None

    def __reduce__(self) -> tuple[Any, ...]:
        if self.source is None:
            raise TypeError(
                "a LocalPolicy made from a loaded model would be sent with its weights; make it from "
                "PolicyModel(name, ...) so that each process loads its own copy"
            )
        return (type(self), (self.source,))

    def answer(
        self, prompts: Sequence[Any], images: Sequence[str] | None, settings: LabelSettings
    ) -> list[str]:
        from ..common.modelio import generate
        from ..common.screenshots import load_image

        if self.loaded is None:
            assert self.source is not None
            self.loaded = self.source.load()
        pictures = None
        if images is not None:
            cache: dict[str, Any] = {}
            for p in images:  # each screenshot loaded once, however many prompts share it
                if p not in cache:
                    cache[p] = load_image(p)
            pictures = [cache[p] for p in images]
        return generate(
            self.loaded,
            list(prompts),
            max_new_tokens=settings.max_new_tokens,
            images=pictures,
            batch_size=settings.generation_batch,
            temperature=settings.temperature,
            top_p=settings.top_p,
            seed=None if settings.seed is None else batch_seed(settings.seed, prompts, images),
        )


def batch_seed(seed: int, prompts: Sequence[Any], images: Sequence[str] | None) -> int:
    """A sampling seed for one batch: ``seed`` mixed with the batch's prompts and screenshots.

    The same batch gets the same seed in any process, so labels do not depend on where it ran.

    >>> batch_seed(42, ["a", "b"], None)
    205526043183872589
    >>> batch_seed(42, ["a", "b"], None) != batch_seed(42, ["b", "a"], None)
    True
    """
    text = json.dumps([seed, list(prompts), list(images) if images is not None else None], sort_keys=True)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16)


class EndpointPolicy:
    """A model behind an OpenAI-compatible endpoint; ``concurrency`` requests in flight."""

    takes_images = True

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.name = client.settings.model

    def check(self) -> None:
        """Fail before any work when the endpoint cannot be used."""
        self.client.check()

    def answer(
        self, prompts: Sequence[Any], images: Sequence[str] | None, settings: LabelSettings
    ) -> list[str]:
        """One completion per prompt; :class:`PartialAnswers` when some prompts failed for good (after their retries).

        An empty completion is an answer (a failed attempt, as in training), not a fault to retry.
        """
        shots = list(images) if images is not None else [None] * len(prompts)

        def one(pair: tuple[Any, str | None]) -> str | RequestFailed:
            prompt, shot = pair
            messages = _chat_messages(prompt, shot)
            try:
                reply = self.client.complete(
                    messages,
                    max_tokens=settings.max_new_tokens,
                    temperature=settings.temperature,
                    empty_ok=True,
                )
            except RequestFailed as exc:
                return exc
            return reply.text

        with ThreadPoolExecutor(self.client.settings.concurrency, thread_name_prefix="label") as pool:
            results = list(pool.map(one, zip(prompts, shots, strict=True)))
        failures = {i: r for i, r in enumerate(results) if isinstance(r, RequestFailed)}
        if failures:
            raise PartialAnswers([r if isinstance(r, str) else None for r in results], failures)
        return [r for r in results if isinstance(r, str)]


class PartialAnswers(RequestFailed):
    """Some prompts of a call failed for good: ``answers`` has the completions (None where failed), ``failures`` the errors by index.

    :func:`label_batch` rejects only the records of the failed prompts; a caller that knows only
    :class:`RequestFailed` sees the first failure.
    """

    def __init__(self, answers: list[str | None], failures: dict[int, RequestFailed]) -> None:
        first = failures[min(failures)]
        super().__init__(first.kind, str(first), first.raw)
        self.answers = answers
        self.failures = failures


def _chat_messages(prompt: Any, screenshot: str | None) -> list[Message]:
    """Chat messages of a prompt (messages, or a plain string as one user turn), the screenshot in the user turn."""
    messages = (
        [dict(m) for m in prompt] if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    )
    if screenshot is not None:
        user = next(m for m in messages if m.get("role") == "user")
        text = user["content"] if isinstance(user["content"], str) else ""
        user["content"] = [image_part(screenshot), {"type": "text", "text": text}]
    return messages


JUDGE_PROMPT = (
    "Question: {question}\nReference answer(s): {references}\nCandidate answer: {candidate}\n"
    "Does the candidate give the same fact as a reference answer? Reply with one word: yes or no."
)


class LLMJudge:
    """Asks a model behind an endpoint whether a boxed answer that does not match exactly is still right."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.calls = 0
        self.unparsed = 0

    def check(self) -> None:
        """Fail before any work when the judge's endpoint cannot be used."""
        self.client.check()

    def __call__(self, question: str, answers: Sequence[str], candidate: str) -> bool:
        prompt = JUDGE_PROMPT.format(question=question, references=" | ".join(answers), candidate=candidate)
        reply = self.client.complete([{"role": "user", "content": prompt}], max_tokens=8, temperature=0.0)
        self.calls += 1
        words = normalize_answer(reply.text).split()
        if not words or words[0] not in ("yes", "no"):
            self.unparsed += 1  # counted as a failed attempt
            return False
        return words[0] == "yes"


class Judge(Protocol):
    """Says whether a boxed answer that does not match exactly is still right (e.g. :class:`LLMJudge`)."""

    def __call__(self, question: str, answers: Sequence[str], candidate: str) -> bool: ...


def attempt_passes(
    completion: str, answers: Sequence[str], question: str, judge: Judge | None = None
) -> bool:
    r"""Whether an attempt is right: its last ``\boxed{}`` matches an answer exactly after normalisation, or the judge says so.

    >>> attempt_passes(r"It is \boxed{\$1,000}.", ["1000"], "Price?"), attempt_passes("1000", ["1000"], "Price?")
    (True, False)
    """
    if exact_match_reward([completion], answers=[list(answers)])[0] == 1.0:
        return True
    boxed = extract_boxed(completion)
    return bool(judge is not None and boxed and judge(question, answers, boxed))


@dataclass
class LabelOutcome:
    """One record: its labelled row, or a reject."""

    id: str
    row: dict[str, Any] | None = None
    reject: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def readable_image(path: str) -> bool:
    """Whether ``path`` is an image file PIL can read (headers checked, pixels not decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True


def screenshot_prompt(example: DomQAExample, prepare: PrepareSettings) -> list[Message]:
    """The chat prompt of a screenshot-only attempt: the run's system text and screenshot-only user text.

    The same prompt that ``eval --inputs screenshot`` gives (:func:`domvqa_train.prompts.presets.screenshot_messages`);
    the image is added to the user turn by the labeller.
    """
    return screenshot_messages(prepare.template or default_template(), example.question)


def label_batch(
    examples: Sequence[DomQAExample],
    labeller: Labeller,
    settings: LabelSettings,
    prepare: PrepareSettings,
    judge: Judge | None = None,
) -> list[LabelOutcome]:
    """Label ``examples`` with ``labeller``; one outcome per example, in order.

    A record whose request fails for good (after its retries) is rejected with the failure's kind;
    the other records of the batch are labelled (with a labeller that raises :class:`PartialAnswers`,
    as :class:`EndpointPolicy` does; a plain :class:`RequestFailed` rejects the whole call's records).
    Raises only :class:`~domvqa_train.common.endpoint.EndpointError` (the endpoint cannot be used at all).
    """
    k = settings.attempts
    fitted: list[tuple[DomQAExample, dict[str, Any]]] = []
    outcomes: dict[str, LabelOutcome] = {}
    for example in examples:
        row = fit_example(example, prepare)
        if isinstance(row, Reject):
            outcomes[example.id] = _reject(example, row.kind, row.reason)
        else:
            fitted.append((example, row))
    dom_prompts = [row["prompt"] for _, row in fitted for _ in range(k)]
    dom_by_id, failed = _answers(labeller, dom_prompts, None, settings, [ex.id for ex, _ in fitted], k)
    fitted = [(ex, row) for ex, row in fitted if ex.id not in failed]  # no screenshot attempts for those
    with_image = [
        (ex, row)
        for ex, row in fitted
        if settings.images and labeller.takes_images and ex.screenshot and readable_image(ex.screenshot)
    ]
    img_prompts = [screenshot_prompt(ex, prepare) for ex, _ in with_image for _ in range(k)]
    img_paths = [str(ex.screenshot) for ex, _ in with_image for _ in range(k)]
    images_by_id: dict[str, list[str]] = {}
    if img_prompts:
        images_by_id, img_failed = _answers(
            labeller, img_prompts, img_paths, settings, [ex.id for ex, _ in with_image], k
        )
        failed.update(img_failed)
    for example in examples:
        if example.id in failed:
            exc = failed[example.id]
            outcomes[example.id] = _reject(example, exc.kind, f"labelling request failed: {exc}")

    def passes(example: DomQAExample, completions: list[str]) -> int:
        return sum(attempt_passes(c, example.answers, example.question, judge) for c in completions)

    for example, row in fitted:
        if example.id in failed:
            continue
        dom = dom_by_id[example.id]
        img = images_by_id.get(example.id)
        try:
            dom_passes = passes(example, dom)
            img_passes = None if img is None else passes(example, img)
        except RequestFailed as exc:
            outcomes[example.id] = _reject(example, f"judge_{exc.kind}", f"judge request failed: {exc}")
            continue
        outcome = _labelled(example, row, labeller, k, dom, dom_passes, img, img_passes)
        if img is None and example.screenshot and settings.images and labeller.takes_images:
            outcome.summary["img_skipped"] = "unreadable screenshot"
        outcomes[example.id] = outcome
    return [outcomes[e.id] for e in examples]


def _answers(
    labeller: Labeller,
    prompts: list[Any],
    images: list[str] | None,
    settings: LabelSettings,
    ids: list[str],
    k: int,
) -> tuple[dict[str, list[str]], dict[str, RequestFailed]]:
    """The ``k`` completions of each record (``ids``, ``k`` prompts each, in order), and the records whose requests failed."""
    failures: dict[int, RequestFailed]
    try:
        answers: list[str | None] = list(labeller.answer(prompts, images, settings))
        failures = {}
    except PartialAnswers as exc:
        answers, failures = exc.answers, exc.failures
    except RequestFailed as exc:
        answers, failures = [None] * len(prompts), dict.fromkeys(range(len(prompts)), exc)
    failed: dict[str, RequestFailed] = {}
    for index in sorted(failures):
        failed.setdefault(ids[index // k], failures[index])
    completions = {
        key: [a for a in answers[i * k : (i + 1) * k] if a is not None]
        for i, key in enumerate(ids)
        if key not in failed
    }
    return completions, failed


def _labelled(
    example: DomQAExample,
    row: dict[str, Any],
    labeller: Labeller,
    k: int,
    dom: list[str],
    dom_passes: int,
    img: list[str] | None,
    img_passes: int | None,
) -> LabelOutcome:
    record = raw_record(example)
    labelled = ["dom"] if img is None else ["dom", "image"]
    record.update(
        dom_difficulty=dom_passes / k,
        img_difficulty=img_passes / k if img_passes is not None else example.img_difficulty,
        dom_attempts=k,
        img_attempts=k if img_passes is not None else None,
        labelled=labelled,
        dom_passes=dom_passes,
        img_passes=img_passes,
        labeller=labeller.name,
        label_completions={"dom": dom, **({"image": img} if img is not None else {})},
        prompt_tokens=row["prompt_tokens"],
        answer_in_prompt=row["answer_in_prompt"],
    )
    summary = {
        "status": "ok",
        "dom": dom_passes / k,
        "img": img_passes / k if img_passes is not None else None,
        "attempts": k * len(labelled),
        "answer_in_prompt": row["answer_in_prompt"],
    }
    return LabelOutcome(example.id, record, None, summary)


def raw_record(example: DomQAExample) -> dict[str, Any]:
    """An example in the raw record shape that :func:`~domvqa_train.common.records.load_examples` reads, its extra fields kept."""
    record: dict[str, Any] = {**example.meta}
    record.update(
        id=example.id,
        cleaned_html=example.dom,
        question=example.question,
        answer=example.answers[0],
        answers=list(example.answers),
        screenshot=example.screenshot,
        split=example.split,
        dom_difficulty=example.dom_difficulty,
        img_difficulty=example.img_difficulty,
    )
    if example.reasoning is not None:
        record["reasoning"] = example.reasoning
    if example.shortened_context is not None:
        record["shortened_context"] = example.shortened_context
    return record


def _reject(example: DomQAExample, kind: str, reason: str) -> LabelOutcome:
    reject = {"id": example.id, "kind": kind, "reason": reason, "question": example.question}
    return LabelOutcome(example.id, None, reject, {"status": "rejected", "kind": kind, "attempts": 0})


class LabelReport(BaseModel):
    """What :func:`label_dataset` did; also written to ``report.json``."""

    source: str
    out_dir: str
    labeller: str
    settings: dict[str, Any]
    prompt_settings: dict[str, Any]
    records: int = Field(description="Records read (each is in labels.jsonl or rejects.jsonl).")
    labelled: int
    rejected: int
    rejects_by_kind: dict[str, int]
    resumed: int
    dom_histogram: dict[str, int] = Field(description="Records per dom_difficulty value.")
    img_histogram: dict[str, int] = Field(description="Records per img_difficulty value labelled here.")
    dom_mean: float | None
    img_mean: float | None
    dom_with_variance: int = Field(
        description="Records with 0 < dom_difficulty < 1: GRPO groups with reward variance."
    )
    img_skipped: int = Field(
        description="Records with a screenshot that could not be read (DOM labelled only)."
    )
    answer_lost_by_pruning: int = Field(
        description="Labelled records whose fitted prompt lacks every answer."
    )
    attempts: int = Field(description="Attempts made by this run.")
    seconds: float
    records_per_second: float | None = Field(description="Records labelled by this run / its wall time.")
    attempts_per_second: float | None
    judge: dict[str, int]
    requests: dict[str, Any] = Field(
        description="The labeller's requests (an endpoint); with engine 'ray', summed over the actors "
        "(in flight: per actor; see endpoint.combined_summary)."
    )
    histogram_png: str | None


def label_dataset(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    labeller: Labeller,
    settings: LabelSettings,
    prepare: PrepareSettings,
    judge: Judge | None = None,
) -> LabelReport:
    """Label every record of ``source`` (any format :func:`~domvqa_train.common.records.load_examples` reads)."""
    start = time.perf_counter()
    out = Path(out_dir)
    loaded = load_examples(source, media_dir=out / SCREENSHOTS_DIR)
    for user in (labeller, judge):
        check = getattr(user, "check", None)
        if check is not None:
            check()  # an unreachable endpoint or a refused key stops the run before any work
    if settings.engine == "ray":
        check_picklable(labeller, f"labeller {labeller.name!r}")
        check_picklable(judge, "judge")
    fingerprint = {
        "labeller": labeller.name,
        "judge": _judge_name(judge),
        **settings.model_dump(
            exclude={"batch_size", "generation_batch", "resume", "progress", *ENGINE_FIELDS}
        ),
        "prompt": prepare.fingerprint(),
    }
    store = JobStore(
        out, [LABELS_FILE, REJECTS_FILE], settings_file=SETTINGS_FILE, fingerprint=fingerprint,
        resume=settings.resume,
    )  # fmt: skip
    order: list[str] = []
    for reject in loaded.rejects:
        key = f"reject:{reject.source}:{reject.line}:{reject.reason[:80]}"
        order.append(key)
        if key not in store.done:
            store.commit(
                key,
                {REJECTS_FILE: [reject.model_dump(mode="json")]},
                {"status": "rejected", "kind": reject.kind},
            )
    order += [e.id for e in loaded.examples]
    todo = [e for e in loaded.examples if e.id not in store.done]
    resumed = len(loaded.examples) - len(todo)
    attempts = 0
    bar = tqdm(
        total=len(loaded.examples), initial=resumed, desc="label", unit="rec", disable=not settings.progress
    )
    batches = [
        todo[begin : begin + settings.batch_size] for begin in range(0, len(todo), settings.batch_size)
    ]
    snapshots = ActorSnapshots()
    if settings.engine == "ray":
        labelled = _label_on_ray(batches, labeller, settings, prepare, judge, snapshots)
    else:
        labelled = (label_batch(batch, labeller, settings, prepare, judge) for batch in batches)
    try:
        for batch, outcomes in zip(batches, labelled, strict=True):
            for outcome in outcomes:
                rows = {
                    LABELS_FILE: [outcome.row] if outcome.row else [],
                    REJECTS_FILE: [outcome.reject] if outcome.reject else [],
                }
                store.commit(outcome.id, rows, outcome.summary)
                attempts += int(outcome.summary.get("attempts") or 0)
            bar.update(len(batch))
    except BaseException:
        store.close()
        bar.close()
        raise
    bar.close()
    units = store.finish(order)
    seconds = time.perf_counter() - start
    png = out / HISTOGRAM_FILE
    summaries = [u.summary for u in units]
    dom = [s["dom"] for s in summaries if s.get("status") == "ok"]
    img = [s["img"] for s in summaries if s.get("status") == "ok" and s.get("img") is not None]
    drawn = difficulty_histogram(dom, img, png, attempts=settings.attempts)
    computed = len(todo)
    client = getattr(labeller, "client", None)
    requests = client.stats.summary(client.settings) if client is not None else {}
    judge_counts = {"calls": getattr(judge, "calls", 0), "unparsed": getattr(judge, "unparsed", 0)}
    if settings.engine == "ray":
        counters = snapshots.counters()
        per_actor = [c["requests"] for c in counters if c["requests"] is not None]
        requests = combined_summary(per_actor, client.settings) if client is not None and per_actor else {}
        for name in judge_counts:
            judge_counts[name] += sum(c["judge"][name] for c in counters)
    report = LabelReport(
        source=os.fspath(source),
        out_dir=os.fspath(out),
        labeller=labeller.name,
        settings=settings.model_dump(),
        prompt_settings=prepare.fingerprint(),
        records=len(summaries),
        labelled=len(dom),
        rejected=len(summaries) - len(dom),
        rejects_by_kind=dict(
            Counter(str(s.get("kind")) for s in summaries if s.get("status") != "ok").most_common()
        ),
        resumed=resumed,
        dom_histogram=_counts(dom),
        img_histogram=_counts(img),
        dom_mean=sum(dom) / len(dom) if dom else None,
        img_mean=sum(img) / len(img) if img else None,
        dom_with_variance=sum(0 < d < 1 for d in dom),
        img_skipped=sum("img_skipped" in s for s in summaries),
        answer_lost_by_pruning=sum(s.get("answer_in_prompt") is False for s in summaries),
        attempts=attempts,
        seconds=seconds,
        records_per_second=computed / seconds if computed and seconds > 0 else None,
        attempts_per_second=attempts / seconds if attempts and seconds > 0 else None,
        judge=judge_counts,
        requests=requests,
        histogram_png=str(png) if drawn else None,
    )
    atomic_write(out / REPORT_FILE, [report.model_dump_json(indent=2) + "\n"])
    return report


class _LabelActor(JsonBatchActor):
    """A Ray actor that labels batches of records with its own labeller (a local policy loads its model here) and judge."""

    def __init__(
        self, labeller: Labeller, settings: LabelSettings, prepare: PrepareSettings, judge: Judge | None
    ) -> None:
        self.labeller, self.settings, self.prepare, self.judge = labeller, settings, prepare, judge
        self.judge_before = {name: getattr(judge, name, 0) for name in ("calls", "unparsed")}

    def one(self, item: Any) -> dict[str, Any]:
        examples = [DomQAExample.model_validate(example) for example in item]
        try:
            outcomes = label_batch(examples, self.labeller, self.settings, self.prepare, self.judge)
            result: dict[str, Any] = {"outcomes": [dataclasses.asdict(o) for o in outcomes]}
        except DomVQAError as exc:  # EndpointError (401, model gone), ModelLoadError: stops the run
            result = fatal_result(exc)
        client = getattr(self.labeller, "client", None)
        judge = {name: getattr(self.judge, name, 0) - before for name, before in self.judge_before.items()}
        counters = {"requests": client.stats.summary() if client is not None else None, "judge": judge}
        return {**result, "snapshot": self.snapshot(counters)}


def _label_on_ray(
    batches: list[list[DomQAExample]],
    labeller: Labeller,
    settings: LabelSettings,
    prepare: PrepareSettings,
    judge: Judge | None,
    snapshots: ActorSnapshots,
) -> Iterator[list[LabelOutcome]]:
    """The outcomes of each batch, labelled on Ray actors (one batch per actor call), in input order."""
    items = [json.dumps([e.model_dump(mode="json") for e in batch], ensure_ascii=False) for batch in batches]
    kwargs = {"labeller": labeller, "settings": settings, "prepare": prepare, "judge": judge}
    results = ordered_map(
        items, _LabelActor, kwargs, workers=settings.workers, address=settings.ray_address, batch_size=1
    )
    with closing(results):  # a fatal result stops the actors now, not when the iterator is collected
        for result in decode_all(results, dict):
            snapshots.add(result["snapshot"])
            raise_fatal(result)
            yield [LabelOutcome(**outcome) for outcome in result["outcomes"]]


def _judge_name(judge: Judge | None) -> str | None:
    """What judged the attempts beyond exact match: the judge model's name, or None for exact match only."""
    if judge is None:
        return None
    client = getattr(judge, "client", None)
    return client.settings.model if client is not None else type(judge).__name__


def _counts(values: Sequence[float]) -> dict[str, int]:
    return {f"{v:g}": n for v, n in sorted(Counter(round(v, 6) for v in values).items())}


def difficulty_histogram(dom: Sequence[float], img: Sequence[float], path: Path, *, attempts: int) -> bool:
    """Draw the distributions of ``dom`` and ``img`` difficulties to ``path`` (PNG); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    edges = [(i - 0.5) / attempts for i in range(attempts + 2)]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    series = [(dom, "DOM only")] + ([(img, "screenshot only")] if img else [])
    ax.hist([s for s, _ in series], bins=edges, label=[n for _, n in series])
    ax.set_xlabel(f"difficulty (pass rate over {attempts} attempts; higher = easier)")
    ax.set_ylabel("records")
    ax.set_xticks([i / attempts for i in range(attempts + 1)])
    ax.legend()
    fig.tight_layout()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(temp, dpi=100)
    plt.close(fig)
    os.replace(temp, path)
    return True
