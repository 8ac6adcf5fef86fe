"""The original project's files go through prepare -> train -> eval -> analyze with the original's presets."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from domprune.conversation import ORIGINAL_USER_TEMPLATE, split_user_turn
from domvqa_train.cli import main
from domvqa_train.errors import SettingsError
from domvqa_train.evaluation.analyze import read_analysis
from domvqa_train.evaluation.eval import load_report
from domvqa_train.prompts.prepare import PrepareSettings, find_eval_split, load_prepared, prepare_dataset
from domvqa_train.prompts.presets import TEMPLATES
from domvqa_train.testing.tiny import build_tiny_model
from domvqa_train.training.settings import TrainSettings

ORIGINAL = Path(__file__).resolve().parent / "fixtures" / "original"

#: The original trainer's effective settings (tests/fixtures/../ORIGINAL facts), as TrainSettings fields.
ORIGINAL_TRAINER = {
    "learning_rate": 5e-5,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "adam_beta2": 0.99,
    "per_device_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "num_generations": 4,
    "max_completion_length": 64,
    "max_steps": 1000,
    "save_steps": 200,
    "merge_adapter": True,
    "rewards": {"original": 1.0},
}


def test_preset_original_is_the_original_trainer() -> None:
    settings = TrainSettings.load({"preset": "original"})
    for key, value in ORIGINAL_TRAINER.items():
        assert getattr(settings, key) == value, key
    assert (settings.lora.rank, settings.lora.alpha) == (32, 64)
    assert settings.lora.target_modules == ["q_proj", "k_proj", "v_proj"]  # its out_proj matched nothing
    assert settings.template == TEMPLATES["original"] and settings.template.chat is False
    # what the file and --set give wins over the preset, group by group
    mixed = TrainSettings.load({"preset": "original", "lora": {"rank": 8}}, ["max_steps=3"])
    assert (mixed.lora.rank, mixed.lora.alpha, mixed.max_steps) == (8, 64, 3)
    with pytest.raises(SettingsError, match="unknown preset 'nope'; known presets: original"):
        TrainSettings.load({"preset": "nope"})


def test_preset_original_reaches_trl() -> None:
    from domvqa_train.training.train import grpo_config, lora_config

    settings = TrainSettings.load({"preset": "original", "output_dir": "unused"})
    args = grpo_config(settings, [1.0])
    assert (args.lr_scheduler_type, args.warmup_steps, args.weight_decay, args.adam_beta2) == (
        "cosine",
        0.1,
        0.01,
        0.99,
    )
    assert (args.learning_rate, args.per_device_train_batch_size, args.gradient_accumulation_steps) == (
        5e-5,
        1,
        8,
    )
    assert (args.num_generations, args.max_completion_length, args.max_steps, args.save_steps) == (
        4,
        64,
        1000,
        200,
    )
    lora = lora_config(settings)
    assert (lora.r, lora.lora_alpha) == (32, 64)
    assert re.fullmatch(lora.target_modules, "model.language_model.layers.3.self_attn.k_proj")
    assert not re.fullmatch(lora.target_modules, "model.language_model.layers.3.self_attn.o_proj")


def test_template_original_prepares_the_original_plain_prompt(tmp_path: Path) -> None:
    settings = PrepareSettings(prompt_budget=4096, template=TEMPLATES["original"], progress=False)
    report = prepare_dataset(ORIGINAL / "vqa_rl_data.json", tmp_path, settings)
    assert report.written == {"eval": 2, "train": 11} and report.rejected == 0
    assert find_eval_split(tmp_path) == "eval"
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows:
        prompt = row["prompt"]
        assert isinstance(prompt, str)  # plain string: trl applies no chat template
        dom, question = split_user_turn(prompt)
        assert question == row["question"]
        assert prompt == ORIGINAL_USER_TEMPLATE.replace("{dom}", dom).replace("{question}", question)
        assert row["answer_in_prompt"] is True


def test_shortened_context_can_stand_for_the_dom(tmp_path: Path) -> None:
    fused = ORIGINAL / "domvqa_fused_filtered.json"
    plain = prepare_dataset(fused, tmp_path / "dom", PrepareSettings(prompt_budget=4096, progress=False))
    short = prepare_dataset(
        fused,
        tmp_path / "short",
        PrepareSettings(prompt_budget=4096, progress=False, dom_source="shortened_context"),
    )
    assert plain.written == short.written and short.rejected == 0
    assert short.settings["dom_source"] == "shortened_context"
    a, b = (load_prepared(tmp_path / name, "train") for name in ("dom", "short"))
    assert all(x > y for x, y in zip(a["dom_tokens_before"], b["dom_tokens_before"], strict=True))
    # difficulties stay numbers; screenshots are absolute
    assert all(isinstance(d, float) for d in a["dom_difficulty"])
    assert all(os.path.isabs(p) and Path(p).is_file() for p in a["screenshot"])
    raw = prepare_dataset(
        ORIGINAL / "domvqa_results.json",
        tmp_path / "raw",
        PrepareSettings(prompt_budget=4096, progress=False, dom_source="shortened_context"),
    )
    assert raw.written == {} and raw.rejects_by_kind == {"no_shortened_context": 16}


@pytest.fixture(scope="module")
def tiny_vl(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("vl") / "model", "qwen2_5_vl")


@pytest.mark.slow
def test_original_files_prepare_train_eval_analyze(
    tiny_vl: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # nothing depends on the working directory
    prepared, run = tmp_path / "prepared", tmp_path / "run"
    common = ["--preset", "original", "--model", str(tiny_vl), "--prepared-dir", str(prepared)]
    assert main(["prepare", "--data", str(ORIGINAL / "vqa_rl_data.json"), *common]) == 0
    tiny = ["max_steps=2", "num_generations=2", "per_device_batch_size=2", "gradient_accumulation_steps=1",
            "max_completion_length=6", "save_steps=2", "lora.rank=4", "dtype=float32", "seed=3",
            "gradient_checkpointing=false"]  # fmt: skip
    overrides = [arg for item in tiny for arg in ("--set", item)]
    assert main(["train", *common, "--output-dir", str(run), *overrides]) == 0
    adapter, merged = run / "adapter", run / "merged"
    for folder in (adapter, merged):
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert f"base_model: {json.dumps(str(tiny_vl))}" in card and "GRPO" in card
    assert (adapter / "adapter_config.json").is_file() and (merged / "config.json").is_file()
    from domvqa_train.common.modelio import load_for_inference

    for folder in (adapter, merged):  # what push_to_hub would upload loads, screenshots included
        loaded = load_for_inference(str(folder), images=True)
        assert loaded.is_vision_language and loaded.processor is not None
        del loaded

    evals = []
    out = tmp_path / "eval-dom"
    assert main(["eval", str(tiny_vl), str(adapter), "--out", str(out), *common, *overrides]) == 0
    evals.append(out)
    # the original evaluated from the screenshot only; the labelled file has the screenshots
    shots = ["--prepared-dir", str(tmp_path / "prepared-shots")]
    assert main(["prepare", "--data", str(ORIGINAL / "domvqa_fused_filtered.json"), *common, *shots]) == 0
    out = tmp_path / "eval-screenshot"
    argv = [
        "eval",
        str(tiny_vl),
        str(adapter),
        "--inputs",
        "screenshot",
        "--split",
        "train",
        "--out",
        str(out),
    ]
    assert main([*argv, *common, *shots, *overrides]) == 0
    evals.append(out)
    for out, split, n in zip(evals, ("eval", "train"), (2, 13), strict=True):
        report = load_report(out)
        assert report.split == split and report.examples == n and len(report.scores) == 2
        for row in report.predictions[str(adapter)]:
            assert {
                "question",
                "answers",
                "completion",
                "prompt_tokens",
                "dom_difficulty",
                "answer_in_prompt",
            } <= set(row)
    assert main(["analyze", *map(str, evals), "--out", str(tmp_path / "analysis")]) == 0
    analysis = read_analysis(tmp_path / "analysis" / "analysis.json")
    assert len(analysis.models) == 4 and len(analysis.comparisons) == 2  # adapter vs base, per folder
    assert [m.examples for m in analysis.models] == [2, 2, 13, 13]
    assert [m.inputs for m in analysis.models] == ["dom", "dom", "screenshot", "screenshot"]
    for name in ("analysis.md", "reward_histogram.png", "accuracy_by_answer_type.png"):
        assert (tmp_path / "analysis" / name).is_file(), name


def test_push_to_hub_offline_fails_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["train", "--model", "unused", "--prepared-dir", str(tmp_path / "p"), "--output-dir", str(tmp_path / "run"),
            "--push-to-hub", "someone/grpo-dom"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE is set" in err and "--push-to-hub" in err
    assert not (tmp_path / "run").exists()  # nothing started


def test_push_to_hub_unreachable_hub_is_a_clear_error(monkeypatch) -> None:
    import huggingface_hub.constants

    from domvqa_train.training.hub import HubError, check_hub_access

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(HubError, match="cannot reach the Hugging Face Hub"):
        check_hub_access("someone/grpo-dom")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", "/nonexistent/token")
    with pytest.raises(HubError, match="needs a Hugging Face token"):
        check_hub_access("someone/grpo-dom")


def test_bad_repo_id_is_refused() -> None:
    with pytest.raises(SettingsError, match="not a Hugging Face repo id"):
        TrainSettings.load({"push_to_hub": "a/b/c"})


def test_bad_prepare_and_eval_options_are_one_line_errors(tmp_path: Path, capsys) -> None:
    data, prepared = str(ORIGINAL / "vqa_rl_data.json"), str(tmp_path / "prepared")
    assert main(["prepare", "--data", data, "--prepared-dir", prepared, "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "invalid options: workers" in err and "Traceback" not in err
    assert not (tmp_path / "prepared").exists()  # nothing written
    assert main(["prepare", "--data", data, "--prepared-dir", prepared]) == 0
    capsys.readouterr()
    argv = ["eval", "unused", "--prepared-dir", prepared, "--batch-size", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "invalid options: batch_size" in err and "Traceback" not in err
