"""report.md + plots of a run, from a trainer's log history; and the quiet default output of the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from domvqa_train.common.noise import quiet_third_party
from domvqa_train.training.report import (
    FLAT_SHARE,
    flat_groups_warning,
    reward_names,
    step_rows,
    write_training_report,
)


def _grpo_log(steps: int, zero_std: float) -> list[dict]:
    rows = []
    for step in range(1, steps + 1):
        rows.append(
            {
                "step": step,
                "loss": 0.0,
                "learning_rate": 1e-4 * (1 - step / (steps + 1)),
                "rewards/exact_match_reward/mean": 0.1 * step,
                "rewards/exact_match_reward/std": 0.2,
                "rewards/format_reward/mean": 1.0,
                "rewards/format_reward/std": 0.0,
                "reward": 0.1 * step + 0.2,
                "reward_std": 0.2,
                "frac_reward_zero_std": zero_std,
                "completions/mean_length": 12.0,
                "completions/min_length": 4.0,
                "completions/max_length": 64.0,
                "completions/clipped_ratio": 0.25,
                "clip_ratio/low_mean": 0.0,
                "clip_ratio/high_mean": 0.01,
                "clip_ratio/region_mean": 0.01,
                "step_time": 1.5,
            }
        )
    rows.append({"step": steps, "train_runtime": 10.0, "train_loss": 0.0})  # the trainer's closing row
    return rows


def test_grpo_report_has_every_plot_and_number(tmp_path) -> None:
    log = _grpo_log(5, zero_std=0.25)
    path = write_training_report(log, tmp_path, kind="grpo", step_seconds={1: 2.0, 3: 2.5}, num_generations=4)
    text = path.read_text(encoding="utf-8")
    assert path.name == "report.md" and "5 logged steps" in text
    assert "Warning" not in text  # a quarter of the groups flat is not most
    for png in (
        "rewards.png",
        "frac_reward_zero_std.png",
        "completion_lengths.png",
        "clip_ratios.png",
        "learning_rate.png",
        "step_time.png",
    ):
        assert (tmp_path / png).is_file() and f"]({png})" in text, png
    assert "| `rewards/exact_match_reward/mean` | 0.1 | 0.5 | 0.3 |" in text
    rows = json.loads((tmp_path / "report_steps.json").read_text(encoding="utf-8"))
    assert len(rows) == 5 and rows[0]["step_seconds"] == 2.0 and "step_seconds" not in rows[1]
    assert reward_names(rows) == ["exact_match_reward", "format_reward"]


def test_flat_groups_get_a_warning_that_says_what_to_do(tmp_path) -> None:
    path = write_training_report(_grpo_log(3, zero_std=1.0), tmp_path, kind="grpo", num_generations=4)
    text = path.read_text(encoding="utf-8")
    assert "## Warning: most groups had no reward variance" in text
    assert "all 4 of their completions the same reward" in text
    for pointer in ("domvqa-train sft", "--init-adapter", "domvqa-train label", "domvqa-train filter"):
        assert pointer in text
    rows = step_rows(_grpo_log(4, zero_std=FLAT_SHARE))
    assert flat_groups_warning(rows, 4) and not flat_groups_warning(step_rows(_grpo_log(4, 0.49)), 4)
    assert flat_groups_warning([{"step": 1, "loss": 1.0}], 4) == ""  # an SFT log has no groups


def test_sft_report(tmp_path) -> None:
    log = [
        {"step": s, "loss": 3.0 / s, "mean_token_accuracy": 0.2 * s, "learning_rate": 1e-3} for s in (1, 2, 3)
    ]
    text = write_training_report(log, tmp_path, kind="sft", step_seconds={1: 1.0, 2: 1.0, 3: 1.0}).read_text(
        encoding="utf-8"
    )
    assert "SFT warm-up run report" in text and "Warning" not in text
    assert (tmp_path / "loss.png").is_file() and not (tmp_path / "rewards.png").exists()


def test_without_matplotlib_the_report_says_how_to_get_plots(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    text = write_training_report(_grpo_log(2, 0.0), tmp_path, kind="grpo").read_text(encoding="utf-8")
    assert "pip install matplotlib" in text and not list(tmp_path.glob("*.png"))


def _warn_from(module: str, message: str, category: type[Warning] = FutureWarning) -> None:
    warnings.warn_explicit(
        message, category, filename=f"{module.replace('.', '/')}.py", lineno=1, module=module
    )


def test_third_party_warnings_are_hidden_unless_verbose() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_third_party(verbose=False):
            _warn_from("transformers.modeling_utils", "`gradient_checkpointing_enable` is deprecated")
            _warn_from("trl.models.utils", "some trl internals", UserWarning)
            _warn_from("domvqa_train.training.train", "ours", RuntimeWarning)
            _warn_from("mypackage.thing", "a user's own", FutureWarning)
        with quiet_third_party(verbose=True):
            _warn_from("transformers.modeling_utils", "shown with -v")
    assert [str(w.message) for w in caught] == ["ours", "a user's own", "shown with -v"]


def test_own_warnings_print_as_one_line() -> None:
    from domvqa_train.common import noise

    own = str(Path(noise.__file__).parent / "backends" / "trl_grpo.py")
    with quiet_third_party():
        line = warnings.formatwarning("step 3: flat", RuntimeWarning, own, 10)
        other = warnings.formatwarning("x", FutureWarning, "/site-packages/transformers/a.py", 10)
    assert line == "warning: step 3: flat\n"
    assert "FutureWarning" in other
    assert warnings.formatwarning("y", RuntimeWarning, own, 1) != "warning: y\n"  # restored afterwards


@pytest.mark.slow
def test_cli_train_output_is_quiet_by_default(tmp_path) -> None:
    """A real run with gradient checkpointing: trl calls transformers 5's deprecated checkpointing methods."""
    from train_helpers import BUDGET, SAMPLES

    from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset
    from domvqa_train.testing.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "model", "qwen2")
    prepare_dataset(SAMPLES, tmp_path / "prepared", PrepareSettings(prompt_budget=BUDGET, progress=False))
    args = [
        sys.executable, "-m", "domvqa_train.cli", "train", "--model", str(model),
        "--prepared-dir", str(tmp_path / "prepared"), "--output-dir", str(tmp_path / "run"),
        "--max-steps", "1", "--set", f"prompt_budget={BUDGET}", "--set", "num_generations=2",
        "--set", "per_device_batch_size=2", "--set", "gradient_accumulation_steps=1",
        "--set", "max_completion_length=4", "--set", "lora.rank=2", "--set", "dtype=float32",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    quiet = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "Warning:" not in quiet.stderr and "deprecated" not in quiet.stderr, quiet.stderr[-2000:]
    assert "Loading weights" not in quiet.stderr
    assert "warning: step 1: all 2 completions" in quiet.stderr  # ours stays, on one line
    assert '"steps": 1' in quiet.stdout
    loud_args = [*args, "-v", "--output-dir", str(tmp_path / "loud")]  # a new run, not a resumed one
    loud = subprocess.run(loud_args, capture_output=True, text=True, env=env, timeout=600)
    assert loud.returncode == 0 and "activation_checkpointing" in loud.stderr
