"""Every stage with a text-only causal LM that has no chat template (a pretrained base model such as
Gemma 3 270M): plain-string prompts, budgets counted by the model's own tokenizer (``hf:DIR``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import SAMPLES

from domvqa_train.cli import main
from domvqa_train.evaluation.eval import load_report
from domvqa_train.prompts.prepare import load_prepared
from domvqa_train.testing.tiny import build_tiny_model


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    """A tiny Qwen2 causal LM whose tokenizer has no chat template, like a pretrained base model."""
    from transformers import AutoTokenizer

    folder = build_tiny_model(tmp_path_factory.mktemp("base") / "model", "qwen2")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = None
    for name in ("chat_template.jinja", "chat_template.json"):
        (folder / name).unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert AutoTokenizer.from_pretrained(folder).chat_template is None
    return folder


@pytest.mark.slow
def test_every_stage_runs_on_a_base_model_without_a_chat_template(base_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    prepared, run = tmp_path / "prepared", tmp_path / "run"
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"model: {base_model}\ntokenizer: hf:{base_model}\ntemplate: {{system: null, chat: false}}\n"
        f"prepared_dir: {prepared}\noutput_dir: {run / 'grpo'}\nprompt_budget: 300\nmax_steps: 1\n"
        "num_generations: 2\nper_device_batch_size: 2\ngradient_accumulation_steps: 1\n"
        "max_completion_length: 24\ngradient_checkpointing: false\ndtype: float32\nlora: {rank: 2, alpha: 4}\n"
        f"sft: {{output_dir: {run / 'sft'}, max_steps: 1}}\n",
        encoding="utf-8",
    )
    config = ["--config", str(cfg)]
    assert main(["prepare", *config, "--data", str(SAMPLES)]) == 0
    train = load_prepared(prepared, "train")
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    for prompt, tokens in zip(train["prompt"], train["prompt_tokens"], strict=True):
        assert isinstance(prompt, str) and tokens == len(tokenizer(prompt)["input_ids"]) <= 300

    assert main(["sft", *config]) == 0
    assert (run / "sft" / "adapter" / "adapter_config.json").is_file()
    assert main(["train", *config, "--init-adapter", str(run / "sft" / "adapter")]) == 0
    adapter = run / "grpo" / "adapter"
    assert (adapter / "adapter_config.json").is_file()

    assert main(["eval", *config, str(base_model), str(adapter), "--out", str(tmp_path / "eval")]) == 0
    report = load_report(tmp_path / "eval")
    assert len(report.scores) == 2 and all(s.examples == report.examples > 0 for s in report.scores)
    assert main(["test", *config, str(adapter), "-n", "1"]) == 0
    assert main(["analyze", str(tmp_path / "eval"), "--out", str(tmp_path / "analysis")]) == 0
    assert (tmp_path / "analysis" / "analysis.json").is_file()

    labels = tmp_path / "labels"
    argv = ["label", *config, "--data", str(SAMPLES), "--out", str(labels), "--model", str(base_model)]
    assert main([*argv, "--attempts", "2", "--max-new-tokens", "4", "--no-images"]) == 0
    rows = [json.loads(line) for line in (labels / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and all(len(r["label_completions"]["dom"]) == 2 for r in rows)
    filtered = tmp_path / "filtered"
    assert main(["filter", "--data", str(labels / "labels.jsonl"), "--out", str(filtered), "--keep-range", "0<=d<=1"]) == 0
    assert (filtered / "report.json").is_file()
    assert main(["plan", *config, "--json"]) == 0
