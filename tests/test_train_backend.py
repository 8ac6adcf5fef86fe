"""The trl GRPO backend end to end on tiny local models: prepare -> train -> save -> reload -> eval -> test."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import BUDGET, SAMPLES, text_hash_reward, tiny_run_settings

from domvqa_train.cli import main
from domvqa_train.common.modelio import ModelLoadError, generate, load_for_inference, load_model
from domvqa_train.errors import BackendError, PrepareError
from domvqa_train.evaluation.eval import EvalSettings, evaluate_models, load_report
from domvqa_train.prompts.prepare import PrepareSettings, load_prepared, prepare_dataset
from domvqa_train.testing.tiny import build_tiny_model
from domvqa_train.training.backends import available_backends, create_backend, get_backend
from domvqa_train.training.settings import TrainSettings
from domvqa_train.training.train import (
    RewardVarianceCallback,
    TrainingInterrupted,
    TrlGrpoBackend,
    check_prompts_fit,
    lora_target_regex,
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    report = prepare_dataset(SAMPLES, out, PrepareSettings(prompt_budget=BUDGET, progress=False))
    assert report.written == {"test": 2, "train": 4} and report.rejected == 0
    return out


@pytest.fixture(scope="module", params=["qwen2", "qwen2_5_vl"])
def trained(request, prepared, tmp_path_factory) -> SimpleNamespace:
    """A tiny model of each kind trained for 2 GRPO steps (once per module)."""
    root = tmp_path_factory.mktemp(request.param)
    model = build_tiny_model(root / "model", request.param)
    settings = tiny_run_settings(model, prepared, root / "run")
    report = TrlGrpoBackend(settings, reward_funcs=[text_hash_reward]).train()
    return SimpleNamespace(kind=request.param, model=model, settings=settings, report=report, root=root)


def _lora_tensors(adapter: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(adapter / "adapter_model.safetensors")


@pytest.mark.slow
def test_training_changes_the_language_model_lora_only(trained, prepared) -> None:
    report = trained.report
    assert report.steps == 2 and report.train_examples == 4
    assert 0 < report.max_prompt_tokens <= BUDGET
    assert all(row["prompt_tokens"] <= BUDGET for row in load_prepared(prepared, "train"))
    assert Path(report.last_checkpoint).name == "checkpoint-2"
    adapter = Path(report.adapter_dir)
    for name in ("adapter_config.json", "tokenizer_config.json", "domvqa_train_settings.json"):
        assert (adapter / name).is_file(), name
    assert any(row.get("frac_reward_zero_std") == 0.0 for row in report.log_history)

    tensors = _lora_tensors(adapter)
    lora_b = {k: v for k, v in tensors.items() if "lora_B" in k}
    assert lora_b, "no LoRA B matrices saved"
    assert any(v.abs().sum() > 0 for v in lora_b.values()), "LoRA B is still zero: training changed nothing"
    assert not any("visual" in k or "vision" in k for k in tensors), "LoRA must not touch the vision tower"
    assert {k.split(".")[-3] for k in lora_b} == set(trained.settings.lora.target_modules)


@pytest.mark.slow
def test_reload_eval_and_cli_test(trained, prepared, tmp_path, capsys) -> None:
    adapter = Path(trained.report.adapter_dir)
    loaded = load_for_inference(str(adapter))
    assert type(loaded.model).__name__.startswith("PeftModel")
    assert loaded.is_vision_language == (trained.kind == "qwen2_5_vl")
    out = generate(loaded, load_prepared(prepared, "test")["prompt"], max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    # sampling is trl's: the whole distribution at the temperature (no transformers top-k of 50)
    seen: dict = {}
    real_generate = loaded.model.generate

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_generate(*args, **kwargs)

    loaded.model.generate = spy
    generate(loaded, load_prepared(prepared, "test")["prompt"][:1], max_new_tokens=2, temperature=0.7)
    assert (seen["do_sample"], seen["temperature"], seen["top_k"], seen["top_p"]) == (True, 0.7, 0, 1.0)
    del loaded

    eval_report = evaluate_models(
        [str(trained.model), str(adapter)],
        load_prepared(prepared, "test"),
        EvalSettings(max_new_tokens=4, rewards={"original": 1.0, "format": 0.5}),
    )
    assert [s.model for s in eval_report.scores] == [str(trained.model), str(adapter)]
    for s in eval_report.scores:
        assert s.examples == 2
        # every test example has answers, so each completion's reward is its weighted sum, and so is the mean
        assert s.mean_reward == pytest.approx(s.original_reward + 0.5 * s.format_accuracy)
    assert len(eval_report.predictions[str(adapter)]) == 2
    path = eval_report.write(tmp_path / "eval")
    assert load_report(path).scores == eval_report.scores
    assert "| format_accuracy |" in (tmp_path / "eval" / "eval_report.md").read_text(encoding="utf-8")

    capsys.readouterr()
    args = [
        "test",
        str(adapter),
        "--prepared-dir",
        str(prepared),
        "-n",
        "2",
        "--set",
        "max_completion_length=4",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("  model:    ") == 2 and "Blue Hall, Berlin" in printed


class _InterruptAfterSave:
    """A trainer callback that presses Ctrl-C right after the checkpoint of ``step`` is written."""

    def __init__(self, step: int) -> None:
        from transformers import TrainerCallback

        outer = self

        class _Callback(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                if state.global_step == outer.step:
                    raise KeyboardInterrupt

        self.step, self.callback = step, _Callback()


@pytest.mark.slow
@pytest.mark.parametrize("trained", ["qwen2"], indirect=True)
def test_interrupt_keeps_checkpoints_and_resume_continues(trained, prepared, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained.settings.output_dir, run)  # a finished 2-step run
    longer = tiny_run_settings(trained.model, prepared, run, max_steps=4, merge_adapter=True)
    interrupted = TrlGrpoBackend(
        longer, reward_funcs=[text_hash_reward], callbacks=[_InterruptAfterSave(3).callback]
    )
    with pytest.raises(
        TrainingInterrupted, match=r"interrupted at step 3; the last checkpoint .*checkpoint-3"
    ):
        interrupted.train()
    assert (run / "checkpoint-3").is_dir()

    report = TrlGrpoBackend(longer, reward_funcs=[text_hash_reward]).train()
    assert Path(report.resumed_from).name == "checkpoint-3"
    assert report.steps == 4 and Path(report.last_checkpoint).name == "checkpoint-4"
    merged = Path(report.merged_dir)
    assert (merged / "config.json").is_file() and not (merged / "adapter_config.json").exists()
    assert type(load_model(str(merged))).__name__ == "Qwen2ForCausalLM"


@pytest.mark.slow
def test_cli_train_and_eval(prepared, tmp_path, capsys) -> None:
    """The CLI path with a registered reward (the tiny random model never boxes an answer: flat rewards)."""
    model = build_tiny_model(tmp_path / "model", "qwen2")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"model: {model}\nprepared_dir: {prepared}\noutput_dir: {tmp_path / 'run'}\nprompt_budget: {BUDGET}\n"
        "max_steps: 1\nnum_generations: 2\nper_device_batch_size: 2\ngradient_accumulation_steps: 1\n"
        "max_completion_length: 4\ngradient_checkpointing: false\n"
        "lora: {rank: 2, alpha: 4}\nrewards: {format: 1.0}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "--config", str(cfg)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed[printed.rindex('{\n  "steps"') :])
    assert summary["steps"] == 1 and Path(summary["adapter_dir"]).is_dir()
    assert any("advantage is zero" in str(w.message) for w in caught), "flat rewards must be warned about"
    args = ["eval", "--config", str(cfg), str(model), summary["adapter_dir"], "--out", str(tmp_path / "ev")]
    assert main(args) == 0
    assert "| mean_reward |" in capsys.readouterr().out
    assert (tmp_path / "ev" / "eval_report.json").is_file()


def test_prompts_over_budget_are_refused_before_training(prepared) -> None:
    from domvqa_train.testing.tiny import tiny_tokenizer

    dataset = load_prepared(prepared, "train")
    longest = check_prompts_fit(dataset, tiny_tokenizer(), BUDGET)
    assert longest == max(dataset["prompt_tokens"])
    with pytest.raises(PrepareError, match=r"4 prepared prompt\(s\) exceed prompt_budget=50"):
        check_prompts_fit(dataset, tiny_tokenizer(), 50)


def test_lora_regex_leaves_the_vision_tower_alone() -> None:
    import re

    rx = lora_target_regex(["q_proj", "down_proj"])
    assert re.fullmatch(rx, "model.language_model.layers.11.self_attn.q_proj")
    assert re.fullmatch(rx, "model.layers.0.mlp.down_proj")
    assert not re.fullmatch(rx, "model.visual.blocks.0.mlp.down_proj")
    assert not re.fullmatch(rx, "model.layers.0.self_attn.k_proj")


def test_reward_variance_callback_warns_on_flat_rewards() -> None:
    cb = RewardVarianceCallback()
    args, state = SimpleNamespace(num_generations=4), SimpleNamespace(global_step=7)
    cb.on_log(args, state, None, logs={"frac_reward_zero_std": 0.5})
    assert cb.flat_steps == []
    with pytest.warns(RuntimeWarning, match="step 7: all 4 completions"):
        cb.on_log(args, state, None, logs={"frac_reward_zero_std": 1.0})
    assert cb.flat_steps == [7]


def test_backend_registry() -> None:
    assert "trl" in available_backends()
    assert get_backend("trl") is TrlGrpoBackend
    with pytest.raises(BackendError, match="unknown training backend 'nope'"):
        create_backend(TrainSettings(backend="nope"))


def test_unloadable_model_says_how_to_point_at_a_local_copy(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match=r"--model /path/to/Holo1-3B"):
        load_model(str(tmp_path / "Holo1-3B-missing"))


@pytest.mark.slow
def test_screenshot_runs_need_screenshots_and_a_processor(prepared, tmp_path) -> None:
    from transformers.utils import is_torchvision_available

    from domvqa_train.common.modelio import image_text_processor_class, load_processor
    from domvqa_train.errors import SettingsError
    from domvqa_train.training.train import _attach_images

    with pytest.raises(SettingsError, match=r"2 example\(s\) have no screenshot"):
        _attach_images(load_prepared(prepared, "test"), str(prepared))
    model = build_tiny_model(tmp_path / "vl", "qwen2_5_vl")
    processor = load_processor(str(model), required=True)
    assert hasattr(processor, "image_processor") and processor.tokenizer.padding_side == "left"
    # AutoProcessor when it can build Qwen2.5-VL's processor; without torchvision, the image-and-text one
    assert isinstance(processor, image_text_processor_class()) != is_torchvision_available()

    text_only = build_tiny_model(tmp_path / "text", "qwen2")
    with pytest.raises(ModelLoadError, match="use_screenshots=false"):
        load_processor(str(text_only), required=True)
    assert load_processor(str(text_only), required=False) is None


def test_completion_rows_only_is_scoped_to_the_block() -> None:
    import torch
    import trl.trainer.utils as trl_utils

    from domvqa_train.training.train import lm_head_on_completion_rows

    before = trl_utils._use_triton
    cpu = torch.device("cpu")
    assert not before(cpu)  # trl's own CPU path: every position
    with lm_head_on_completion_rows(True) as on:
        assert on and trl_utils._use_triton(cpu)
    assert trl_utils._use_triton is before
    with lm_head_on_completion_rows(False) as on:
        assert not on and trl_utils._use_triton is before
