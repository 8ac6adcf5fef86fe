"""`sft`: the supervised warm-up on \\boxed{} targets, its rules shared with `train`, and GRPO from its adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import BUDGET, SAMPLES, text_hash_reward, tiny_run_settings

from domprune import PromptTemplate
from domvqa_train.cli import main
from domvqa_train.common.modelio import end_of_turn_token, stop_at_end_of_turn
from domvqa_train.errors import PrepareError, SettingsError
from domvqa_train.prompts.prepare import PrepareSettings, load_prepared, prepare_dataset
from domvqa_train.testing.tiny import build_tiny_model, tiny_tokenizer
from domvqa_train.training.sft import (
    SftRun,
    answer_positions_loss,
    check_targets_fit,
    sft_target,
    with_targets,
)
from domvqa_train.training.train import TrlGrpoBackend


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(SAMPLES, out, PrepareSettings(prompt_budget=BUDGET, progress=False))
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", "qwen2")


@pytest.fixture(scope="module")
def plain_prepared(tmp_path_factory) -> Path:
    """Prompts of a plain-string template (``chat: false``), as a base model without a chat template reads."""
    out = tmp_path_factory.mktemp("plain")
    template = PromptTemplate(system=None, chat=False)
    prepare_dataset(SAMPLES, out, PrepareSettings(prompt_budget=BUDGET, progress=False, template=template))
    return out


def _sft_settings(model: Path, prepared: Path, root: Path, **sft) -> object:
    return tiny_run_settings(
        model,
        prepared,
        root / "grpo",
        max_completion_length=24,
        sft={"output_dir": str(root / "sft"), "max_steps": 2, "learning_rate": 1e-2, **sft},
    )


def _with_reasoning(dataset, reasoning: list[str | None]):
    """``dataset`` with its ``reasoning`` column (prepare writes one, empty here) replaced."""
    if "reasoning" in dataset.column_names:
        dataset = dataset.remove_columns("reasoning")
    return dataset.add_column("reasoning", reasoning)


def test_targets_are_the_box_after_the_reasoning_when_there_is_one(prepared) -> None:
    dataset = load_prepared(prepared, "train")
    boxed = with_targets(dataset, use_reasoning=True)
    assert [c[0] for c in boxed["completion"]] == [
        {"role": "assistant", "content": sft_target(answers[0])} for answers in dataset["answers"]
    ]
    reasoned = _with_reasoning(dataset, ["The page says so."] + [None] * (len(dataset) - 1))
    first = with_targets(reasoned, use_reasoning=True)["completion"][0][0]["content"]
    assert first == f"The page says so.\n\\boxed{{{dataset['answers'][0][0]}}}"
    assert with_targets(reasoned, use_reasoning=False)["completion"][0][0]["content"].startswith("\\boxed{")


def test_targets_longer_than_grpo_completions_are_refused(prepared) -> None:
    dataset = load_prepared(prepared, "train")
    long = _with_reasoning(dataset, ["word " * 80] * len(dataset))
    targets = with_targets(long, use_reasoning=True)
    with pytest.raises(PrepareError, match=r"4 SFT target\(s\) are longer than max_completion_length=64"):
        check_targets_fit(targets, tiny_tokenizer(), 64)
    assert check_targets_fit(with_targets(dataset, use_reasoning=True), tiny_tokenizer(), 64) <= 64


@pytest.mark.slow
def test_sft_then_grpo_continues_from_its_adapter(model, prepared, tmp_path) -> None:
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    settings = _sft_settings(model, prepared, tmp_path)
    run = SftRun(settings)
    report = run.train()
    adapter = Path(report.adapter_dir)
    assert report.steps == 2 and adapter == tmp_path / "sft" / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json"):
        assert (adapter / name).is_file(), name
    assert Path(report.last_checkpoint).name == "checkpoint-2"
    assert "SFT warm-up run report" in Path(report.report).read_text(encoding="utf-8")
    assert (tmp_path / "sft" / "loss.png").is_file()
    assert not (tmp_path / "grpo").exists()  # sft writes to its own folder only

    # loss on the completion only: the labels are the target and the end of the turn, never the prompt
    batch = next(iter(run.trainer.get_train_dataloader()))
    tok = tiny_tokenizer()
    targets = {sft_target(a[0]) + "<|im_end|>\n" for a in load_prepared(prepared, "train")["answers"]}
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        kept = [int(i) for i, label in zip(ids, labels, strict=True) if label != -100]
        assert tok.decode(kept) in targets

    warmed = load_file(adapter / "adapter_model.safetensors")
    seen: dict = {}

    class FirstWeights(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            from peft import get_peft_model_state_dict

            seen.update({k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()})

    grpo = settings.model_copy(update={"init_adapter": str(adapter), "max_steps": 1})
    grpo_report = TrlGrpoBackend(grpo, reward_funcs=[text_hash_reward], callbacks=[FirstWeights()]).train()
    assert seen.keys() == warmed.keys()
    assert all((seen[k] == warmed[k]).all() for k in warmed), "GRPO must start from the SFT adapter's weights"
    assert any(k.endswith("lora_B.weight") and warmed[k].abs().sum() > 0 for k in warmed)
    assert grpo_report.steps == 1 and Path(grpo_report.adapter_dir, "adapter_config.json").is_file()
    text = Path(grpo_report.report).read_text(encoding="utf-8")
    assert "GRPO run report" in text and "`rewards/text_hash_reward/mean`" in text
    assert (tmp_path / "grpo" / "rewards.png").is_file()


@pytest.mark.slow
def test_sft_resumes_from_its_last_checkpoint(model, prepared, tmp_path) -> None:
    first = SftRun(_sft_settings(model, prepared, tmp_path, max_steps=1)).train()
    assert first.steps == 1 and first.resumed_from is None
    again = SftRun(_sft_settings(model, prepared, tmp_path, max_steps=2)).train()
    assert Path(again.resumed_from).name == "checkpoint-1" and again.steps == 2


@pytest.mark.slow
def test_cli_sft(model, prepared, tmp_path, capsys) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"model: {model}\nprepared_dir: {prepared}\nprompt_budget: {BUDGET}\nnum_generations: 2\n"
        "per_device_batch_size: 2\ngradient_accumulation_steps: 1\nmax_completion_length: 24\n"
        "gradient_checkpointing: false\ndtype: float32\nlora: {rank: 2, alpha: 4}\n",
        encoding="utf-8",
    )
    out = tmp_path / "warm"
    assert (
        main(["sft", "--config", str(cfg), "--output-dir", str(out), "--max-steps", "1", "--print-settings"])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["sft"]["output_dir"] == str(out) and printed["sft"]["max_steps"] == 1
    assert printed["output_dir"] == "runs/grpo"  # train's folder is untouched by sft's flags
    assert main(["sft", "--config", str(cfg), "--output-dir", str(out), "--max-steps", "1"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed[printed.rindex('{\n  "steps"') :])
    assert summary["steps"] == 1 and summary["adapter_dir"] == str(out / "adapter")
    assert summary["report"] == str(out / "report.md") and Path(summary["report"]).is_file()


def test_sft_refuses_init_adapter(model, prepared, tmp_path) -> None:
    settings = _sft_settings(model, prepared, tmp_path).model_copy(update={"init_adapter": str(tmp_path)})
    with pytest.raises(SettingsError, match="init_adapter is for `train`"):
        SftRun(settings).train()


def test_plain_string_prompts_get_plain_string_targets(plain_prepared) -> None:
    dataset = load_prepared(plain_prepared, "train")
    assert all(isinstance(p, str) for p in dataset["prompt"])
    targets = with_targets(dataset, use_reasoning=True)["completion"]
    assert targets == [sft_target(answers[0]) for answers in dataset["answers"]]  # no message list
    assert check_targets_fit(with_targets(dataset, use_reasoning=True), tiny_tokenizer(), 64) <= 64


@pytest.mark.slow
def test_sft_on_plain_prompts_ends_each_target_with_eos_and_takes_any_accumulation(
    model, plain_prepared, tmp_path
) -> None:
    settings = _sft_settings(model, plain_prepared, tmp_path, max_steps=1).model_copy(
        update={"per_device_batch_size": 1, "gradient_accumulation_steps": 2, "num_generations": 4}
    )
    with pytest.raises(SettingsError, match="divisible by num_generations"):
        settings.check_batch(1)  # GRPO's rule: whole groups of 4 completions; SFT samples none
    run = SftRun(settings)
    assert run.train().steps == 1
    tok = tiny_tokenizer()
    train = load_prepared(plain_prepared, "train")
    targets = {sft_target(a[0]) for a in train["answers"]}
    prompts = {tuple(tok(p)["input_ids"]) for p in train["prompt"]}
    rows = run.trainer.train_dataset
    assert len(rows) == len(targets) > 0
    for ids, labels in zip(rows["input_ids"], rows["labels"], strict=True):
        completion = [i for i, label in zip(ids, labels, strict=True) if label != -100]
        context = tuple(i for i, label in zip(ids, labels, strict=True) if label == -100)
        assert context in prompts  # the prompt's tokens as generation makes them (no merge into the target)
        assert completion[-1] == tok.eos_token_id  # the model learns to stop after the box
        assert tok.decode(completion[:-1]) in targets


def test_generation_stops_at_the_chat_templates_end_of_turn() -> None:
    from transformers import GenerationConfig

    tok = tiny_tokenizer()
    assert end_of_turn_token(tok) == "<|im_end|>"

    class Model:
        generation_config = GenerationConfig(eos_token_id=7)

    model = Model()
    stop_at_end_of_turn(model, tok)
    assert model.generation_config.eos_token_id == [7, tok.convert_tokens_to_ids("<|im_end|>")]
    stop_at_end_of_turn(model, tok)  # idempotent
    assert model.generation_config.eos_token_id == [7, tok.convert_tokens_to_ids("<|im_end|>")]


    class NoTemplate:  # a base model's tokenizer (tiny_tokenizer() is shared: it is not changed here)
        chat_template = None

    assert end_of_turn_token(NoTemplate()) is None


def test_the_answer_only_loss_is_the_full_loss_from_fewer_positions(model) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    tok = tiny_tokenizer()
    rows = [tok(f"<p>{'filler ' * n}</p> Price? ")["input_ids"] for n in (30, 5)]
    answers = [tok(a, add_special_tokens=False)["input_ids"] for a in ("\\boxed{$12}", "\\boxed{no}")]
    width = max(len(r) + len(a) for r, a in zip(rows, answers, strict=True))
    ids = torch.full((2, width), tok.pad_token_id)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
    for i, (r, a) in enumerate(zip(rows, answers, strict=True)):
        ids[i, : len(r) + len(a)] = torch.tensor(r + a)
        mask[i, : len(r) + len(a)] = 1
        labels[i, len(r) : len(r) + len(a)] = torch.tensor(a)
    logits = lm(input_ids=ids, attention_mask=mask).logits
    full = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss, kept_logits, kept = answer_positions_loss(lm, {"input_ids": ids, "attention_mask": mask, "labels": labels})
    assert torch.allclose(loss, full, atol=1e-5)
    assert kept_logits.shape[1] == kept.shape[1] < width // 3  # the head ran on the answers' positions only
    loss_n, *_ = answer_positions_loss(
        lm, {"input_ids": ids, "attention_mask": mask, "labels": labels}, num_items_in_batch=torch.tensor(100)
    )
    assert torch.allclose(loss_n * 100, full * (labels != -100).sum(), atol=1e-4)
