r"""What a ``train`` or ``sft`` run did, step by step: ``report.md`` and PNG plots next to its checkpoints.

The numbers are the trainer's own log (``state.log_history``: one row every ``logging_steps``) plus the
wall time of every optimizer step (:class:`StepClock`). A GRPO report shows the reward of each reward
function (mean and spread within the step), ``frac_reward_zero_std``, completion lengths, clip ratios,
the learning rate and the step time, and warns when most groups had no reward variance:

>>> rows = [{"step": 1, "reward": -1.0, "reward_std": 0.0, "frac_reward_zero_std": 1.0}]
>>> print(flat_groups_warning(rows, num_generations=4).splitlines()[0])
## Warning: most groups had no reward variance
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPORT_FILE = "report.md"
#: ``report.md`` warns when the mean ``frac_reward_zero_std`` of the logged steps is at least this.
FLAT_SHARE = 0.5

RunKind = Literal["grpo", "sft"]


@dataclass(frozen=True)
class Plot:
    """One PNG of the report: the logged keys drawn on it (those the log has)."""

    file: str
    title: str
    keys: tuple[str, ...]
    ylabel: str


#: Plots of a GRPO run besides the per-reward-function plot (``rewards.png``).
GRPO_PLOTS = (
    Plot("frac_reward_zero_std.png", "Share of groups whose completions all got the same reward",
         ("frac_reward_zero_std",), "share of groups"),
    Plot("completion_lengths.png", "Completion length (tokens) and share cut at max_completion_length",
         ("completions/mean_length", "completions/min_length", "completions/max_length",
          "completions/clipped_ratio"), "tokens / share"),
    Plot("clip_ratios.png", "Share of tokens whose importance ratio was clipped",
         ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"), "share of tokens"),
)  # fmt: skip
#: Plots of an SFT run.
SFT_PLOTS = (
    Plot("loss.png", "Completion loss and token accuracy", ("loss", "mean_token_accuracy"), "nats / share"),
)
#: Plots of both kinds.
COMMON_PLOTS = (
    Plot("learning_rate.png", "Learning rate", ("learning_rate",), "learning rate"),
    Plot("step_time.png", "Seconds per optimizer step", ("step_seconds", "step_time"), "seconds"),
)


class StepClock:
    """A trainer callback that records the wall time of each optimizer step (``.seconds[step]``)."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self._started = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        """Called by the trainer before each optimizer step."""
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        """Called by the trainer after each optimizer step."""
        self.seconds[state.global_step] = time.perf_counter() - self._started


def as_trainer_callback(callback: Any) -> Any:
    """Wrap an object with ``on_log`` / ``on_step_begin`` / ``on_step_end`` methods as a ``TrainerCallback``."""
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        pass

    wrapped = _Callback()
    for event in ("on_log", "on_step_begin", "on_step_end"):
        if hasattr(callback, event):
            setattr(wrapped, event, getattr(callback, event))
    return wrapped


def step_rows(
    log_history: Sequence[dict[str, Any]], step_seconds: dict[int, float] | None = None
) -> list[dict]:
    """One row per logged training step (the final summary row left out), with ``step_seconds`` added."""
    seconds = step_seconds or {}
    rows = []
    for row in log_history:
        if "step" not in row or "train_runtime" in row:
            continue
        out = dict(row)
        if row["step"] in seconds:
            out["step_seconds"] = seconds[row["step"]]
        rows.append(out)
    return rows


def reward_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The reward functions in a GRPO log (``rewards/<name>/mean`` keys), in log order."""
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith("rewards/") and key.endswith("/mean"):
                names[key[len("rewards/") : -len("/mean")]] = None
    return list(names)


def flat_groups_warning(rows: Sequence[dict[str, Any]], num_generations: int) -> str:
    """A Markdown warning section when most groups had no reward variance (empty otherwise)."""
    fracs = [r["frac_reward_zero_std"] for r in rows if "frac_reward_zero_std" in r]
    if not fracs or sum(fracs) / len(fracs) < FLAT_SHARE:
        return ""
    flat = [r for r in rows if r.get("frac_reward_zero_std", 0.0) >= 1.0]
    rewards = [r["reward"] for r in rows if "reward" in r]
    mean_reward = sum(rewards) / len(rewards) if rewards else float("nan")
    return "\n".join(
        [
            "## Warning: most groups had no reward variance",
            "",
            f"On average {100 * sum(fracs) / len(fracs):.0f}% of each logged step's prompts gave all {num_generations} "
            f"of their completions the same reward ({len(flat)} of {len(fracs)} logged steps had no group with any "
            f"variance; mean reward {mean_reward:.3f}). GRPO's advantage is a completion's reward minus its group's "
            "mean, so such groups teach nothing. Usual causes and what to do:",
            "",
            "- **The model has not learnt the answer format yet**: every completion gets the lowest reward "
            "(e.g. -1 from `original` without a `\\boxed{}`). Warm up first with `domvqa-train sft`, then continue "
            "with `domvqa-train train --init-adapter <sft output_dir>/adapter`.",
            "- **Questions the model always or never answers**: label the data's difficulty with "
            "`domvqa-train label` and keep 0 < difficulty < 1 with `domvqa-train filter`; check "
            "`answers_lost_by_pruning` in prepare's `report.json` (a question whose answer was pruned away "
            "cannot be answered).",
            "- **Too few or too similar samples**: raise `num_generations` or `temperature`, or add a graded "
            "reward (`f1`, `anls`) beside exact match.",
            "",
        ]
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _summary_table(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    lines = ["| metric | first | last | mean | min | max |", "|---|---:|---:|---:|---:|---:|"]
    for key in keys:
        values = [r[key] for r in rows if isinstance(r.get(key), int | float)]
        if values:
            cells = [values[0], values[-1], sum(values) / len(values), min(values), max(values)]
            lines.append(f"| `{key}` | " + " | ".join(_fmt(float(v)) for v in cells) + " |")
    return "\n".join(lines)


def _plot(rows: Sequence[dict[str, Any]], plot: Plot, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in plot.keys if any(k in r for r in rows)]
    if not keys:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for key in keys:
        points = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="." if len(points) < 50 else None,
            label=key,
        )
    ax.set_xlabel("step")
    ax.set_ylabel(plot.ylabel)
    ax.set_title(plot.title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plot_rewards(rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Mean reward per step of each reward function and of the weighted total, with a +-std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(f"rewards/{n}/mean", f"rewards/{n}/std", n) for n in reward_names(rows)]
    series.append(("reward", "reward_std", "weighted total"))
    series = [s for s in series if any(s[0] in r for r in rows)]
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for mean_key, std_key, label in series:
        points = [(r["step"], r[mean_key], r.get(std_key, 0.0)) for r in rows if mean_key in r]
        steps = [p[0] for p in points]
        means = [p[1] for p in points]
        (line,) = ax.plot(steps, means, label=label)
        ax.fill_between(
            steps,
            [m - s for _, m, s in points],
            [m + s for _, m, s in points],
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_xlabel("step")
    ax.set_ylabel("reward (band: std within the step)")
    ax.set_title("Reward of the step's completions, per reward function", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_training_report(
    log_history: Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    kind: RunKind,
    step_seconds: dict[int, float] | None = None,
    num_generations: int = 0,
    title: str = "",
) -> Path:
    """Write ``report.md``, its PNGs and ``report_steps.json`` (every logged row) to ``out_dir``; returns report.md.

    Without matplotlib the report has the tables and says how to get the plots.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = step_rows(log_history, step_seconds)
    (out / "report_steps.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    names = reward_names(rows)
    plots = (*(GRPO_PLOTS if kind == "grpo" else SFT_PLOTS), *COMMON_PLOTS)
    keys = [k for p in plots for k in p.keys]
    if kind == "grpo":
        keys = ["reward", "reward_std"] + [f"rewards/{n}/{s}" for n in names for s in ("mean", "std")] + keys
    parts = [
        f"# {title or ('GRPO' if kind == 'grpo' else 'SFT warm-up')} run report",
        "",
        f"{len(rows)} logged steps (last: {rows[-1]['step'] if rows else '-'}); every number below is in "
        "`report_steps.json`.",
        "",
    ]
    if kind == "grpo":
        parts.append(flat_groups_warning(rows, num_generations))
    parts += ["## Summary", "", _summary_table(rows, keys), ""]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        parts.append("(plots need matplotlib: pip install matplotlib)")
    else:
        drawn = []
        if kind == "grpo" and _plot_rewards(rows, out / "rewards.png"):
            drawn.append(("Rewards", "rewards.png"))
        drawn += [(p.title, p.file) for p in plots if _plot(rows, p, out / p.file)]
        parts += ["## Plots", ""] + [f"![{t}]({f})\n" for t, f in drawn]
    path = out / REPORT_FILE
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    return path
