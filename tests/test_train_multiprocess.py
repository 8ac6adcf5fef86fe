"""Data-parallel training: two CPU processes launched by accelerate, and the shipped accelerate configs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "examples" / "accelerate"


@pytest.mark.parametrize("name", ["cpu_2proc", "multi_gpu", "deepspeed_zero3", "fsdp"])
def test_accelerate_configs_parse(name) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.num_processes >= 2 and config.num_machines == 1


@pytest.mark.slow
def test_two_process_cpu_run(tmp_path) -> None:
    if shutil.which("accelerate") is None:
        pytest.fail("the accelerate launcher is not on PATH; install the training extras")
    from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset
    from domvqa_train.testing.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "model", "qwen2")
    prepared = tmp_path / "prepared"
    prepare_dataset(
        ROOT / "examples" / "sample_conversations.json",
        prepared,
        PrepareSettings(prompt_budget=300, progress=False),
    )
    cfg = tmp_path / "run.yaml"
    # 1 prompt x 2 generations per round needs 2 processes: one process alone is refused before loading.
    cfg.write_text(
        f"model: {model}\nprepared_dir: {prepared}\noutput_dir: {tmp_path / 'run'}\nprompt_budget: 300\n"
        "max_steps: 2\nnum_generations: 2\nper_device_batch_size: 1\ngradient_accumulation_steps: 1\n"
        "max_completion_length: 4\ngradient_checkpointing: false\nsave_steps: 1\n"
        "lora: {rank: 2, alpha: 4}\nrewards: {format: 1.0}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    train = ["-m", "domvqa_train.cli", "train", "--config", str(cfg)]

    single = subprocess.run([sys.executable, *train], cwd=ROOT, env=env, capture_output=True, text=True)
    assert single.returncode == 2 and "processes (1)" in single.stderr

    launch = ["accelerate", "launch", "--config_file", str(CONFIGS / "cpu_2proc.yaml"), *train]
    done = subprocess.run(launch, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.rindex('{\n  "steps"') :])
    assert summary["steps"] == 2 and done.stdout.count('"steps"') == 1  # one summary, from rank 0
    adapter = Path(summary["adapter_dir"])
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "tokenizer_config.json").is_file()
    assert Path(summary["last_checkpoint"]).name == "checkpoint-2"
