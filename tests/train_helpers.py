"""Helpers shared by the training tests: the sample data, a reward with variance, tiny-run settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from domvqa_train.training.settings import TrainSettings

SAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample_conversations.json"
BUDGET = 300


def text_hash_reward(completions, **_kwargs) -> list[float]:
    """A reward that differs between different completions, so GRPO advantages are never all zero."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) / 2**32 for t in texts]


def tiny_run_settings(model: Path, prepared: Path, out: Path, **extra) -> TrainSettings:
    """Settings of a 2-step GRPO run of a tiny model; ``extra`` overrides any of them."""
    data = {
        "model": str(model),
        "prepared_dir": str(prepared),
        "output_dir": str(out),
        "prompt_budget": BUDGET,
        "max_steps": 2,
        "num_generations": 2,
        "per_device_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_completion_length": 8,
        "save_steps": 1,
        "logging_steps": 1,
        "lora": {"rank": 4, "alpha": 8},
        "dtype": "float32",
        "learning_rate": 1e-3,
        "gradient_checkpointing": False,
        "seed": 3,
        **extra,
    }
    return TrainSettings.load(data)
