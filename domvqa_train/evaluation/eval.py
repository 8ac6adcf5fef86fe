r"""Generate answers on a prepared split with one or more models and score them side by side.

The inputs a model answers from (``EvalSettings.inputs``): ``dom`` (the prepared prompt), ``screenshot``
(the question with the page's screenshot only, as the original project evaluated base VLMs) or
``both`` (the prepared prompt with the screenshot).

Scores per model, and the definition each one uses (:data:`METRIC_DEFINITIONS`):

- the original project's metrics, from :func:`~domvqa_train.rewards.original_reward`: its mean reward,
  its boxed-format accuracy (a first ``\boxed{}`` of fewer than 5 words), its mean similarity (the
  difflib ratio over the completions in that format), the reward's min / max / std and the best example;
- this project's: ``format_accuracy`` (:func:`~domvqa_train.rewards.format_reward`: exactly one short box
  and nothing after it), ``mean_reward`` (the run's weighted reward spec), exact match, token F1 and
  ANLS over normalised answers (:mod:`domvqa_train.rewards`).

Every generation is kept with its question, answers, prompt tokens, difficulties and whether the answer
survived pruning, so :mod:`domvqa_train.evaluation.analyze` can break the scores down.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domprune import PromptTemplate

from ..common.modelio import generate, load_for_inference
from ..common.screenshots import load_image
from ..errors import SettingsError
from ..prompts.presets import screenshot_messages

Inputs = Literal["dom", "screenshot", "both"]
REPORT_FILE = "eval_report.json"

METRIC_DEFINITIONS: dict[str, str] = {
    "original_reward": "original: mean of the original reward (-1 unless a first \\boxed{} of < 5 words, "
    "else difflib ratio against the reference)",
    "original_format": "original: share of completions whose first \\boxed{} holds < 5 words",
    "original_similarity": "original: mean difflib ratio over the completions in the original format",
    "original_min / max / std": "original: min, max and population std of the original reward",
    "format_accuracy": "project: share with exactly one non-empty \\boxed{} of <= 10 words and nothing after it",
    "mean_reward": "project: mean of the run's weighted reward spec (completions without ground truth skipped)",
    "exact_match": "project: normalised exact match of the last \\boxed{} with any accepted answer",
    "f1": "project: best token F1 of the last \\boxed{} over the accepted answers (normalised)",
    "anls": "project: best ANLS (threshold 0.5) of the last \\boxed{} over the accepted answers (normalised)",
}
"""What each reported column means."""


class EvalSettings(BaseModel):
    """How to generate during evaluation."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int | None = Field(None, ge=1, description="first N examples of the split (None = all)")
    max_new_tokens: int = Field(64, ge=1, description="tokens generated per answer at most")
    batch_size: int = Field(4, ge=1, description="prompts generated together")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling when temperature > 0 (no top-k)")
    rewards: dict[str, float] = Field(
        default_factory=lambda: {"original": 1.0}, description="reward name -> weight of mean_reward"
    )
    inputs: Inputs = Field("dom", description="what the model answers from: dom, screenshot or both")
    template: PromptTemplate = Field(
        default_factory=PromptTemplate, description="the run's template (system text, screenshot-only prompt)"
    )
    attn_implementation: str = Field("sdpa", description="attention kernel of the model")
    dtype: str = Field("auto", description="dtype the model loads in (auto: the checkpoint's own)")
    base_model: str | None = Field(None, description="base for adapter folders (default: from the adapter)")


class BestExample(BaseModel):
    """The completion with the highest original reward (the first one on ties)."""

    id: str
    question: str
    completion: str
    answers: list[str]
    original_reward: float


class ModelScores(BaseModel):
    """Averages over the evaluated examples for one model (definitions: :data:`METRIC_DEFINITIONS`)."""

    model: str
    examples: int
    format_accuracy: float
    mean_reward: float
    exact_match: float
    f1: float
    anls: float
    original_reward: float = 0.0
    original_format: float = 0.0
    original_similarity: float | None = None
    original_min: float = 0.0
    original_max: float = 0.0
    original_std: float = 0.0
    best_example: BestExample | None = None
    seconds: float


class EvalReport(BaseModel):
    """All models' scores on one split, plus every prediction."""

    split: str
    examples: int
    settings: EvalSettings
    scores: list[ModelScores]
    predictions: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

    def table(self) -> str:
        """Markdown tables, one row per model: the original's metrics, then the project's."""
        original = ["original_reward", "original_format", "original_similarity", "original_min",
                    "original_max", "original_std"]  # fmt: skip
        project = ["format_accuracy", "mean_reward", "exact_match", "f1", "anls"]
        return "\n\n".join(_markdown(self.scores, cols) for cols in (original, project))

    def write(self, out_dir: str | Path) -> Path:
        """Write ``eval_report.json`` (scores and predictions) and ``eval_report.md``; returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / REPORT_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        best = [
            f"- {s.model}: [{s.best_example.id}] Q: {s.best_example.question} -> "
            f"{' '.join(s.best_example.completion.split())[:200]} (reward {s.best_example.original_reward:.3f})"
            for s in self.scores
            if s.best_example is not None
        ]
        definitions = "\n".join(f"- `{name}`: {text}" for name, text in METRIC_DEFINITIONS.items())
        (out / "eval_report.md").write_text(
            f"Split `{self.split}`, inputs `{self.settings.inputs}`, {self.examples} examples\n\n"
            f"{self.table()}\n\nBest example per model (original reward):\n\n" + "\n".join(best) + "\n\n"
            f"Definitions:\n\n{definitions}\n",
            encoding="utf-8",
        )
        return path


def _markdown(scores: Sequence[ModelScores], cols: list[str]) -> str:
    lines = ["| model | n | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for s in scores:
        values = [getattr(s, c) for c in cols]
        shown = " | ".join("-" if v is None else f"{v:.3f}" for v in values)
        lines.append(f"| {s.model} | {s.examples} | {shown} |")
    return "\n".join(lines)


def _mean(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0


def score_completions(
    completions: Sequence[str], answers: Sequence[list[str]], rewards: dict[str, float]
) -> tuple[dict[str, float], list[dict[str, float | None]]]:
    """Average metrics and per-example scores of ``completions`` against their accepted ``answers``."""
    from ..rewards import (
        anls_reward,
        build_reward_funcs,
        exact_match_reward,
        f1_reward,
        format_reward,
        original_box,
        original_reward,
    )

    comps, golds = list(completions), [list(a) for a in answers]
    funcs, weights = build_reward_funcs(rewards)
    weighted: list[float | None] = [None] * len(comps)
    for func, weight in zip(funcs, weights, strict=True):
        for i, value in enumerate(func(comps, answers=golds)):
            if value is not None:
                weighted[i] = (weighted[i] or 0.0) + weight * value
    original = original_reward(comps, answers=golds)
    per: dict[str, list[float | None]] = {
        "format": list(format_reward(comps, answers=golds)),
        "reward": weighted,
        "exact_match": exact_match_reward(comps, answers=golds),
        "f1": f1_reward(comps, answers=golds),
        "anls": anls_reward(comps, answers=golds),
        "original_reward": list(original),
        "original_format": [float(isinstance(c, str) and original_box(c) is not None) for c in comps],
    }
    rows = [{key: per[key][i] for key in per} for i in range(len(comps))]
    formatted = [r for r, ok in zip(original, per["original_format"], strict=True) if ok]
    means = {
        "format_accuracy": _mean(per["format"]),
        "mean_reward": _mean(per["reward"]),
        "exact_match": _mean(per["exact_match"]),
        "f1": _mean(per["f1"]),
        "anls": _mean(per["anls"]),
        "original_reward": _mean(original),
        "original_format": _mean(per["original_format"]),
        "original_similarity": _mean(formatted) if formatted else None,
        "original_min": min(original, default=0.0),
        "original_max": max(original, default=0.0),
        "original_std": statistics.pstdev(original) if len(original) > 1 else 0.0,
    }
    return means, rows


def _best(rows: list[dict[str, Any]]) -> BestExample | None:
    if not rows:
        return None
    best = max(range(len(rows)), key=lambda i: (rows[i]["original_reward"], -i))
    row = rows[best]
    return BestExample(
        id=row["id"],
        question=row["question"] or "",
        completion=row["completion"],
        answers=row["answers"],
        original_reward=row["original_reward"],
    )


def _column(dataset: Any, name: str) -> list[Any]:
    return list(dataset[name]) if name in dataset.column_names else [None] * len(dataset)


def _images(dataset: Any, inputs: Inputs) -> list[Any] | None:
    """The screenshots as RGB images (paths already resolved, see :func:`~domvqa_train.common.screenshots.resolve_screenshots`)."""
    if inputs == "dom":
        return None
    shots = _column(dataset, "screenshot")
    missing = [row_id for row_id, shot in zip(dataset["id"], shots, strict=True) if not shot]
    if missing:
        raise SettingsError(
            f"inputs={inputs} needs a screenshot for every example; {len(missing)} have none (e.g. {missing[0]}). "
            "Evaluate with inputs=dom, or prepare only examples with screenshots"
        )
    return [load_image(p) for p in shots]


def eval_prompts(dataset: Any, settings: EvalSettings) -> list[Any]:
    """The prompts of ``dataset`` for ``settings.inputs``: prepared prompts, or screenshot-only chat prompts."""
    if settings.inputs == "screenshot":
        return [screenshot_messages(settings.template, question) for question in dataset["question"]]
    prompts = list(dataset["prompt"])
    if settings.inputs == "both" and any(isinstance(p, str) for p in prompts):
        raise SettingsError(
            "inputs=both adds the screenshot to the prepared prompt, which is a plain string here (template "
            "chat=false); prepare with a chat template, or evaluate with inputs=dom or inputs=screenshot"
        )
    return prompts


def evaluate_models(
    models: Sequence[str], dataset: Any, settings: EvalSettings, split: str = "eval"
) -> EvalReport:
    """Generate with each model (a model folder/name or an adapter folder) on ``dataset`` and score it.

    ``dataset`` is a prepared split (rows with ``id``, ``prompt``, ``question`` and ``answers``; with
    screenshots resolved when ``settings.inputs`` uses them).
    """
    if settings.max_examples is not None:
        dataset = dataset.select(range(min(settings.max_examples, len(dataset))))
    prompts = eval_prompts(dataset, settings)
    images = _images(dataset, settings.inputs)
    answers, ids = dataset["answers"], dataset["id"]
    context = {
        "question": _column(dataset, "question"),
        "prompt_tokens": _column(dataset, "prompt_tokens"),
        "dom_difficulty": _column(dataset, "dom_difficulty"),
        "img_difficulty": _column(dataset, "img_difficulty"),
        "answer_in_dom": _column(dataset, "answer_in_dom"),
        "answer_in_prompt": _column(dataset, "answer_in_prompt"),
    }
    scores: list[ModelScores] = []
    predictions: dict[str, list[dict[str, Any]]] = {}
    for name in models:
        start = time.perf_counter()
        loaded = load_for_inference(
            name,
            base_model=settings.base_model,
            attn_implementation=settings.attn_implementation,
            dtype=settings.dtype,
            images=images is not None,
        )
        if images is not None and not loaded.is_vision_language:
            raise SettingsError(
                f"inputs={settings.inputs} needs a vision-language model; {name!r} reads text only"
            )
        completions = generate(
            loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            images=images,
            batch_size=settings.batch_size,
            temperature=settings.temperature,
            top_p=settings.top_p,
        )
        means, rows = score_completions(completions, answers, settings.rewards)
        predictions[name] = [
            {"id": i, **{k: v[n] for k, v in context.items()}, "answers": a, "completion": c, **row}
            for n, (i, c, a, row) in enumerate(zip(ids, completions, answers, rows, strict=True))
        ]
        scores.append(
            ModelScores(
                model=name,
                examples=len(completions),
                seconds=time.perf_counter() - start,
                best_example=_best(predictions[name]),
                **means,
            )
        )
        del loaded
    return EvalReport(
        split=split, examples=len(ids), settings=settings, scores=scores, predictions=predictions
    )


def load_report(path: str | Path) -> EvalReport:
    """Read an ``eval_report.json`` (or the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / REPORT_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"cannot read the eval report {str(p)!r} ({exc.strerror}); run `domvqa-train eval` first"
        ) from None
    except ValueError as exc:
        raise SettingsError(f"{str(p)!r} is not valid JSON ({exc}); run `domvqa-train eval` again") from None
    try:
        return EvalReport.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(
            f"{str(p)!r} is not an eval report of this version ({exc.error_count()} problems, first: "
            f"{exc.errors()[0]['msg']}); run `domvqa-train eval` again"
        ) from None
