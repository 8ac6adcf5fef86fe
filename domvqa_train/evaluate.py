"""Generate answers on a prepared split with one or more models and score them side by side.

Scores per model: format accuracy (share of completions with exactly one short ``\\boxed{}`` answer),
mean reward (the run's weighted reward spec), exact match, token F1 and ANLS (all from
:mod:`domvqa_train.rewards`, averaged over examples).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .modelio import generate, load_for_inference
from .screenshots import load_image


class EvalSettings(BaseModel):
    """How to generate during evaluation."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int | None = Field(None, ge=1, description="first N examples of the split (None = all)")
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(4, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling when temperature > 0 (no top-k)")
    rewards: dict[str, float] = Field(default_factory=lambda: {"original": 1.0})
    use_screenshots: bool = False
    attn_implementation: str = "sdpa"
    dtype: str = "auto"
    base_model: str | None = Field(None, description="base for adapter folders (default: from the adapter)")


class ModelScores(BaseModel):
    """Averages over the evaluated examples for one model."""

    model: str
    examples: int
    format_accuracy: float
    mean_reward: float
    exact_match: float
    f1: float
    anls: float
    seconds: float


class EvalReport(BaseModel):
    """All models' scores on one split, plus every prediction."""

    split: str
    examples: int
    settings: EvalSettings
    scores: list[ModelScores]
    predictions: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

    def table(self) -> str:
        """A Markdown table, one row per model."""
        cols = ["format_accuracy", "mean_reward", "exact_match", "f1", "anls"]
        lines = [
            "| model | n | " + " | ".join(cols) + " |",
            "|---|---:|" + "---:|" * len(cols),
        ]
        for s in self.scores:
            values = " | ".join(f"{getattr(s, c):.3f}" for c in cols)
            lines.append(f"| {s.model} | {s.examples} | {values} |")
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> Path:
        """Write ``eval_report.json`` (scores and predictions) and ``eval_report.md``; returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "eval_report.json"
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        (out / "eval_report.md").write_text(f"Split `{self.split}`\n\n{self.table()}\n", encoding="utf-8")
        return path


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def score_completions(
    completions: Sequence[str], answers: Sequence[list[str]], rewards: dict[str, float]
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Average metrics and per-example scores of ``completions`` against their accepted ``answers``."""
    from .rewards import anls_reward, build_reward_funcs, exact_match_reward, f1_reward, format_reward

    comps, golds = list(completions), [list(a) for a in answers]
    funcs, weights = build_reward_funcs(rewards)
    weighted = [0.0] * len(comps)
    for func, weight in zip(funcs, weights, strict=True):
        for i, value in enumerate(func(comps, answers=golds)):
            weighted[i] += weight * value
    per = {
        "format": format_reward(comps, answers=golds),
        "reward": weighted,
        "exact_match": exact_match_reward(comps, answers=golds),
        "f1": f1_reward(comps, answers=golds),
        "anls": anls_reward(comps, answers=golds),
    }
    means = {
        "format_accuracy": _mean(per["format"]),
        "mean_reward": _mean(per["reward"]),
        "exact_match": _mean(per["exact_match"]),
        "f1": _mean(per["f1"]),
        "anls": _mean(per["anls"]),
    }
    rows = [{key: per[key][i] for key in per} for i in range(len(comps))]
    return means, rows


def _images(dataset: Any, enabled: bool) -> list[Any] | None:
    """The screenshots as RGB images (paths already resolved, see :func:`~domvqa_train.screenshots.resolve_screenshots`)."""
    if not enabled or "screenshot" not in dataset.column_names:
        return None
    return [load_image(p) if p else None for p in dataset["screenshot"]]


def evaluate_models(
    models: Sequence[str], dataset: Any, settings: EvalSettings, split: str = "test"
) -> EvalReport:
    """Generate with each model (a model folder/name or an adapter folder) on ``dataset`` and score it.

    ``dataset`` is a prepared split (rows with ``id``, ``prompt`` and ``answers``).
    """
    if settings.max_examples is not None:
        dataset = dataset.select(range(min(settings.max_examples, len(dataset))))
    prompts, answers, ids = dataset["prompt"], dataset["answers"], dataset["id"]
    images = _images(dataset, settings.use_screenshots)
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
        scores.append(
            ModelScores(model=name, examples=len(completions), seconds=time.perf_counter() - start, **means)
        )
        predictions[name] = [
            {"id": i, "completion": c, "answers": a, **row}
            for i, c, a, row in zip(ids, completions, answers, rows, strict=True)
        ]
        del loaded
    return EvalReport(
        split=split, examples=len(ids), settings=settings, scores=scores, predictions=predictions
    )


def load_report(path: str | Path) -> EvalReport:
    """Read an ``eval_report.json``."""
    return EvalReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
