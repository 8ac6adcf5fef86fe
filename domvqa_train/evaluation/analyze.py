"""Turn eval outputs into a report a researcher reads in a minute: where the models fail, and why.

``analyze(eval_dirs, out_dir)`` reads each ``eval_report.json`` and writes ``analysis.md``,
``analysis.json`` (every number of the report) and PNG plots into ``out_dir``:

- accuracy (normalised exact match), the original reward and the format rate by difficulty bucket
  (``dom_difficulty``, and ``img_difficulty`` where labelled), by prompt-token bucket and by answer
  type (:func:`~domvqa_train.rewards.answer_type`);
- errors (exact match 0) split into "lost by pruning" (the answer is in the page's DOM but not in the
  pruned prompt), "not in the DOM" (no DOM text holds it: only the screenshot can) and "model error";
- each model against the baseline (the first model of its eval folder, or ``baseline=`` for all):
  wins, losses and ties per example on exact match (on the examples both answered), and the
  examples that flipped;
- histograms of the original reward per model.

Several eval folders can be analysed together; models are then named ``<folder>/<model>``.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import SettingsError
from ..rewards import ANSWER_TYPES, answer_type
from .eval import load_report

DIFFICULTY_BUCKETS = ("0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1)", "1", "unlabelled")
TOKEN_EDGES = (1024, 2048, 4096, 8192, 16384)
TOKEN_BUCKETS = ("<1K", "1K-2K", "2K-4K", "4K-8K", "8K-16K", ">=16K", "unknown")
ERROR_KINDS = ("lost by pruning", "not in the DOM", "model error", "unknown")
MAX_FLIPS_SHOWN = 10


class Bucket(BaseModel):
    """Scores of the examples in one bucket."""

    bucket: str
    n: int
    accuracy: float | None = Field(description="mean normalised exact match")
    original_reward: float | None
    original_format: float | None


class Flip(BaseModel):
    """An example one model got right and the other wrong (exact match)."""

    id: str
    question: str | None
    answers: list[str]
    baseline_completion: str
    completion: str


class Comparison(BaseModel):
    """A model against the baseline, example by example (on the ids both answered)."""

    baseline: str
    model: str
    examples: int
    wins: int = Field(description="the model right, the baseline wrong")
    losses: int = Field(description="the baseline right, the model wrong")
    ties: int
    mean_original_reward_delta: float | None
    gained: list[Flip]
    lost: list[Flip]


class ModelAnalysis(BaseModel):
    """Every breakdown of one model's predictions."""

    model: str
    source: str = Field(description="the eval folder and model name it came from")
    inputs: str
    examples: int
    accuracy: float | None
    by_dom_difficulty: list[Bucket]
    by_img_difficulty: list[Bucket]
    by_prompt_tokens: list[Bucket]
    by_answer_type: list[Bucket]
    errors: dict[str, int]
    reward_histogram: dict[str, int] = Field(description="original reward counts in 0.1-wide bins from -1")


class Analysis(BaseModel):
    """The whole report; ``analysis.json`` holds exactly this."""

    runs: list[str]
    models: list[ModelAnalysis]
    comparisons: list[Comparison]

    def summary(self) -> str:
        """The report as Markdown."""
        return _markdown(self)


def _difficulty_bucket(value: float | None) -> str:
    if value is None:
        return "unlabelled"
    if value <= 0:
        return "0"
    if value >= 1:
        return "1"
    for edge, name in zip((0.25, 0.5, 0.75), DIFFICULTY_BUCKETS[1:4]):
        if value <= edge:
            return name
    return "(0.75, 1)"


def _token_bucket(value: int | None) -> str:
    if value is None:
        return "unknown"
    for edge, name in zip(TOKEN_EDGES, TOKEN_BUCKETS):
        if value < edge:
            return name
    return ">=16K"


def _error_kind(row: dict[str, Any], inputs: str) -> str:
    if inputs == "screenshot":  # the prompt held no DOM: pruning had no part in it
        return "model error"
    in_dom, in_prompt = row.get("answer_in_dom"), row.get("answer_in_prompt")
    if in_dom is None or in_prompt is None:
        return "unknown"
    if not in_dom:
        return "not in the DOM"
    return "model error" if in_prompt else "lost by pruning"


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return sum(present) / len(present) if present else None


def _buckets(
    rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], str], order: Sequence[str]
) -> list[Bucket]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [
        Bucket(
            bucket=name,
            n=len(groups[name]),
            accuracy=_mean(r.get("exact_match") for r in groups[name]),
            original_reward=_mean(r.get("original_reward") for r in groups[name]),
            original_format=_mean(r.get("original_format") for r in groups[name]),
        )
        for name in order
        if name in groups
    ]


def _histogram(values: Iterable[float | None]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for value in values:
        if value is None or not math.isfinite(value):
            continue
        low = min(19, max(0, math.floor((value + 1.0) * 10 + 1e-9)))
        counts[f"[{low / 10 - 1:.1f}, {low / 10 - 0.9:.1f}{']' if low == 19 else ')'}"] += 1
    return dict(sorted(counts.items(), key=lambda item: float(item[0][1:].split(",")[0])))


def analyze_model(label: str, source: str, inputs: str, rows: list[dict[str, Any]]) -> ModelAnalysis:
    """The breakdowns of one model's predictions."""
    wrong = [r for r in rows if not r.get("exact_match")]
    errors = Counter(_error_kind(r, inputs) for r in wrong)
    return ModelAnalysis(
        model=label,
        source=source,
        inputs=inputs,
        examples=len(rows),
        accuracy=_mean(r.get("exact_match") for r in rows),
        by_dom_difficulty=_buckets(
            rows, lambda r: _difficulty_bucket(r.get("dom_difficulty")), DIFFICULTY_BUCKETS
        ),
        by_img_difficulty=_buckets(
            rows, lambda r: _difficulty_bucket(r.get("img_difficulty")), DIFFICULTY_BUCKETS
        ),
        by_prompt_tokens=_buckets(rows, lambda r: _token_bucket(r.get("prompt_tokens")), TOKEN_BUCKETS),
        by_answer_type=_buckets(rows, lambda r: answer_type(r["answers"][0]), ANSWER_TYPES),
        errors={kind: errors[kind] for kind in ERROR_KINDS if errors[kind]},
        reward_histogram=_histogram(r.get("original_reward") for r in rows),
    )


def compare(
    baseline: str, base_rows: list[dict[str, Any]], model: str, rows: list[dict[str, Any]]
) -> Comparison:
    """Wins, losses and ties of ``model`` against ``baseline`` on the examples both answered."""
    base_by_id = {r["id"]: r for r in base_rows}
    pairs = [(base_by_id[r["id"]], r) for r in rows if r["id"] in base_by_id]
    gained: list[Flip] = []
    lost: list[Flip] = []
    ties = 0
    for base, row in pairs:
        right, base_right = bool(row.get("exact_match")), bool(base.get("exact_match"))
        if right == base_right:
            ties += 1
            continue
        flip = Flip(
            id=row["id"],
            question=row.get("question"),
            answers=row["answers"],
            baseline_completion=base["completion"],
            completion=row["completion"],
        )
        (gained if right else lost).append(flip)
    deltas = [
        r["original_reward"] - b["original_reward"]
        for b, r in pairs
        if r.get("original_reward") is not None and b.get("original_reward") is not None
    ]
    return Comparison(
        baseline=baseline,
        model=model,
        examples=len(pairs),
        wins=len(gained),
        losses=len(lost),
        ties=ties,
        mean_original_reward_delta=_mean(deltas),
        gained=gained,
        lost=lost,
    )


def _short(name: str) -> str:
    """A readable model label: the last two parts of a path, or the name itself."""
    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name


def analyze(
    eval_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    baseline: str | None = None,
) -> Analysis:
    """Analyse the eval reports in ``eval_dirs``; write ``analysis.md``, ``analysis.json`` and plots to ``out_dir``."""
    if not eval_dirs:
        raise SettingsError("give at least one eval folder (holding eval_report.json)")
    several = len(eval_dirs) > 1
    labelled: list[tuple[str, str, str, list[dict[str, Any]]]] = []
    run_of: list[int] = []
    for run_index, folder in enumerate(eval_dirs):
        report = load_report(folder)
        run = Path(folder).name or str(folder)
        for name, rows in report.predictions.items():
            label = f"{run}/{_short(name)}" if several else _short(name)
            labelled.append((label, f"{os.fspath(folder)}: {name}", report.settings.inputs, rows))
            run_of.append(run_index)
    labels = [label for label, *_ in labelled]
    if len(set(labels)) != len(labels):  # two folders with the same name: fall back to full names
        labelled = [(source, source, inputs, rows) for _, source, inputs, rows in labelled]
    models = [analyze_model(*item) for item in labelled]
    if baseline is not None:
        bases = [_pick_baseline(baseline, labelled)] * len(labelled)
    else:  # each folder's first model
        bases = [run_of.index(run) for run in run_of]
    comparisons = [
        compare(labelled[b][0], labelled[b][3], label, rows)
        for i, ((label, _, _, rows), b) in enumerate(zip(labelled, bases, strict=True))
        if i != b
    ]
    analysis = Analysis(runs=[os.fspath(d) for d in eval_dirs], models=models, comparisons=comparisons)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        plots = _plots(analysis, out)
        images = "".join(f"\n![{name}]({name})\n" for name in plots)
    except ImportError as exc:  # the tables do not need the plots
        images = f"\n(no plots: {exc}; matplotlib comes with `pip install 'domprune[train]'`)\n"
    (out / "analysis.json").write_text(analysis.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out / "analysis.md").write_text(analysis.summary() + "\n" + images, encoding="utf-8")
    return analysis


def _pick_baseline(baseline: str | None, labelled: list[tuple[str, str, str, list[dict[str, Any]]]]) -> int:
    if baseline is None:
        return 0
    for i, (label, source, _, _) in enumerate(labelled):
        if baseline in (label, source) or source.endswith(f": {baseline}"):
            return i
    names = ", ".join(label for label, *_ in labelled)
    raise SettingsError(f"--baseline {baseline!r} is none of the analysed models: {names}")


# --------------------------------------------------------------------------- report

_BREAKDOWNS: list[tuple[str, str, Callable[[ModelAnalysis], list[Bucket]], Sequence[str]]] = [
    (
        "dom_difficulty",
        "DOM difficulty (pass rate, higher = easier)",
        lambda m: m.by_dom_difficulty,
        DIFFICULTY_BUCKETS,
    ),
    (
        "img_difficulty",
        "screenshot difficulty (pass rate)",
        lambda m: m.by_img_difficulty,
        DIFFICULTY_BUCKETS,
    ),
    ("prompt_tokens", "prompt tokens", lambda m: m.by_prompt_tokens, TOKEN_BUCKETS),
    ("answer_type", "answer type", lambda m: m.by_answer_type, ANSWER_TYPES),
]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


_Picker = Callable[[ModelAnalysis], list[Bucket]]


def _present(models: Sequence[ModelAnalysis], pick: _Picker, order: Sequence[str]) -> list[str]:
    """The buckets of ``order`` that some model has."""
    seen = {b.bucket for m in models for b in pick(m)}
    return [name for name in order if name in seen]


def _bucket_table(title: str, models: Sequence[ModelAnalysis], pick: _Picker, order: Sequence[str]) -> str:
    order = _present(models, pick, order)
    if not order:
        return ""
    lines = [
        f"### Accuracy by {title}",
        "",
        "| model | " + " | ".join(order) + " |",
        "|---|" + "---:|" * len(order),
    ]
    for m in models:
        cells = {b.bucket: f"{_fmt(b.accuracy)} (n={b.n})" for b in pick(m)}
        lines.append(f"| {m.model} | " + " | ".join(cells.get(name, "") for name in order) + " |")
    return "\n".join(lines) + "\n"


def _markdown(analysis: Analysis) -> str:
    models = analysis.models
    out = ["# Eval analysis", "", f"Runs: {', '.join(analysis.runs)}", ""]
    out += ["| model | inputs | n | accuracy | " + " | ".join(ERROR_KINDS) + " |",
            "|---|---|---:|---:|" + "---:|" * len(ERROR_KINDS)]  # fmt: skip
    for m in models:
        errors = " | ".join(str(m.errors.get(kind, 0)) for kind in ERROR_KINDS)
        out.append(f"| {m.model} | {m.inputs} | {m.examples} | {_fmt(m.accuracy)} | {errors} |")
    out += [
        "",
        "Accuracy is normalised exact match. Errors (exact match 0): *lost by pruning* = the answer is in the "
        "page's DOM but not in the pruned prompt; *not in the DOM* = no DOM text holds it; *model error* = "
        "the prompt held the answer.",
        "",
    ]
    for _, title, pick, order in _BREAKDOWNS:
        table = _bucket_table(title, models, pick, order)
        if table and _present(models, pick, order) != ["unlabelled"]:
            out.append(table)
    if analysis.comparisons:
        out += ["### Against the baseline (exact match, per example)", "",
                "| baseline | model | n | wins | losses | ties | mean original reward delta |",
                "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for c in analysis.comparisons:
            out.append(
                f"| {c.baseline} | {c.model} | {c.examples} | {c.wins} | {c.losses} | {c.ties} | "
                f"{_fmt(c.mean_original_reward_delta)} |"
            )
        for c in analysis.comparisons:
            for title, flips in ((f"{c.model} gained", c.gained), (f"{c.model} lost", c.lost)):
                if flips:
                    out += ["", f"#### {title} ({len(flips)})", ""]
                    for f in flips[:MAX_FLIPS_SHOWN]:
                        out.append(
                            f"- [{f.id}] {f.question}: expected {' | '.join(f.answers)}; baseline "
                            f"`{_one_line(f.baseline_completion)}`, model `{_one_line(f.completion)}`"
                        )
        out.append("")
    return "\n".join(out)


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _plots(analysis: Analysis, out: Path) -> list[str]:
    """Bar charts of accuracy per bucket and the reward histograms; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    for stem, title, pick, order in _BREAKDOWNS:
        order = _present(analysis.models, pick, order)
        if not order or order == ["unlabelled"]:
            continue
        name = f"accuracy_by_{stem}.png"
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(order) + 2), 3.5))
        width = 0.8 / max(1, len(analysis.models))
        for k, m in enumerate(analysis.models):
            values = {b.bucket: b.accuracy or 0.0 for b in pick(m)}
            ax.bar(
                [i + k * width for i in range(len(order))],
                [values.get(b, 0.0) for b in order],
                width,
                label=m.model,
            )
        ax.set_xticks(
            [i + width * (len(analysis.models) - 1) / 2 for i in range(len(order))], order, fontsize=8
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("exact match")
        ax.set_title(f"Accuracy by {title}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(name)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m in analysis.models:
        centers = [float(label[1:].split(",")[0]) + 0.05 for label in m.reward_histogram]
        ax.plot(centers, list(m.reward_histogram.values()), marker="o", label=m.model)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("original reward")
    ax.set_ylabel("completions")
    ax.set_title("Original reward per completion")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "reward_histogram.png", dpi=110)
    plt.close(fig)
    written.append("reward_histogram.png")
    return written


def read_analysis(path: str | os.PathLike[str]) -> Analysis:
    """Read an ``analysis.json``."""
    return Analysis.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
