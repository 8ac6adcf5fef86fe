"""GRPO's repeated prompts read once by generate (domvqa_train.common.shared_prompts), on tiny models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import BUDGET, SAMPLES, text_hash_reward, tiny_run_settings

from domvqa_train.common import shared_prompts
from domvqa_train.common.shared_prompts import prompts_read_once
from domvqa_train.testing.tiny import build_tiny_model


@pytest.fixture(scope="module", params=["qwen2", "qwen2_5_vl"])
def tiny(request, tmp_path_factory) -> tuple:
    from transformers import AutoTokenizer

    from domvqa_train.common.modelio import load_model

    path = build_tiny_model(tmp_path_factory.mktemp("shared") / request.param, request.param, hidden_size=64)
    return load_model(str(path), dtype="float32").eval(), AutoTokenizer.from_pretrained(path)


def _batch(tok, prompts: list[str], repeats: int) -> tuple:
    """Each prompt ``repeats`` times in a row (as trl hands them to generate), left-padded."""
    import torch

    rows = [tok(p)["input_ids"] for p in prompts for _ in range(repeats)]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def _config(tok, **kw):
    from transformers import GenerationConfig

    return GenerationConfig(max_new_tokens=10, pad_token_id=tok.pad_token_id, eos_token_id=None, **kw)


def test_repeated_prompts_give_the_completions_of_the_plain_call(tiny) -> None:
    import torch

    model, tok = tiny
    # prompts of different lengths (so the batch is padded), one of them twice among the distinct ones
    prompts = [
        "What is the title of the book on this page?",
        "Who wrote it?",
        "What is the title of the book on this page?",
    ]
    ids, mask = _batch(tok, prompts, repeats=3)
    greedy = _config(tok, do_sample=False)
    with torch.no_grad():
        plain = model.generate(input_ids=ids, attention_mask=mask, generation_config=greedy)
        with prompts_read_once(model) as on:
            shared = model.generate(input_ids=ids, attention_mask=mask, generation_config=greedy)
    assert on and shared.shape == plain.shape == (9, ids.size(1) + 10)
    assert torch.equal(shared, plain)
    assert "generate" not in vars(model)  # the model's own generate is back
    # generation arguments instead of a config, as domvqa_train's generate (label, eval) passes them
    loose = {"max_new_tokens": 6, "do_sample": False, "temperature": None, "pad_token_id": tok.pad_token_id}
    with torch.no_grad():
        plain = model.generate(input_ids=ids, attention_mask=mask, **loose)
        shared = shared_prompts.generate_reading_prompts_once(
            model.generate, model=model, input_ids=ids, attention_mask=mask, **loose
        )
    assert torch.equal(shared, plain)


def test_the_prompts_are_read_once_each(tiny) -> None:
    import torch

    model, tok = tiny
    ids, mask = _batch(tok, ["First prompt here", "A second, longer prompt here"], repeats=4)
    calls: list[tuple[int, int]] = []  # (rows, prompt tokens) of each call generate gets
    original = model.generate

    def spy(**kwargs):
        calls.append((kwargs["input_ids"].size(0), kwargs["input_ids"].size(1)))
        return original(**kwargs)

    model.generate = spy
    try:
        sampled = _config(tok, do_sample=True, temperature=1.0)
        with torch.no_grad(), prompts_read_once(model):
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=sampled)
        assert model.generate is spy  # an instance's own generate is put back too
    finally:
        del model.generate
    # the two distinct prompts less their last token, once each; then the whole batch from their cache
    assert calls == [(2, ids.size(1) - 1), (8, ids.size(1))]
    assert out.shape == (8, ids.size(1) + 10)


def test_calls_it_cannot_share_run_as_they_are(tiny) -> None:
    import torch

    model, tok = tiny
    seen: list[dict] = []

    def generate(*args, **kwargs):
        seen.append(kwargs)
        return "plain"

    ids, mask = _batch(tok, ["One prompt", "Another prompt"], repeats=1)
    rep_ids, rep_mask = _batch(tok, ["One prompt"], repeats=2)
    assert (
        shared_prompts.generate_reading_prompts_once(generate, input_ids=ids, attention_mask=mask) == "plain"
    )
    extra = {
        "input_ids": rep_ids,
        "attention_mask": rep_mask,
        "pixel_values": torch.zeros(1),
    }  # images: as is
    assert shared_prompts.generate_reading_prompts_once(generate, **extra) == "plain"
    assert [set(k) for k in seen] == [{"input_ids", "attention_mask"}, set(extra)]
    with prompts_read_once(model, enabled=False) as on:
        assert not on and "generate" not in vars(model)


def test_calls_the_shared_path_would_change_run_as_they_are(tiny) -> None:
    import torch

    model, tok = tiny
    ids, mask = _batch(tok, ["One prompt here", "Another prompt"], repeats=2)
    calls: list[int] = []

    def generate(**kwargs):
        calls.append(kwargs["input_ids"].size(0))
        return model.generate(**kwargs)

    def run(**config) -> list[int]:
        calls.clear()
        with torch.no_grad():
            shared_prompts.generate_reading_prompts_once(
                generate,
                model=model,
                input_ids=ids,
                attention_mask=mask,
                generation_config=_config(tok, **config),
            )
        return list(calls)

    assert run(do_sample=False) == [2, 4]  # shared: the 2 prompts, then the 4 rows
    assert run(do_sample=True, num_return_sequences=2) == [4]  # generate widens rows, not a cache
    assert run(do_sample=False, num_beams=2) == [4]
    assert run(do_sample=False, use_cache=False) == [4]
    dropout = torch.nn.Dropout(0.1)
    model.add_module("extra_dropout", dropout)
    try:
        model.train()  # as trl generates: each copy of a prompt would get its own dropout noise
        assert run(do_sample=False) == [4]
        dropout.p = 0.0
        assert run(do_sample=False) == [2, 4]  # no noise to share: the shared path again
    finally:
        del model.extra_dropout
        model.eval()


@pytest.mark.slow
def test_grpo_reads_each_prompt_once(tmp_path, monkeypatch) -> None:
    from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset
    from domvqa_train.training.train import TrlGrpoBackend

    prepared = tmp_path / "prepared"
    prepare_dataset(SAMPLES, prepared, PrepareSettings(prompt_budget=BUDGET, progress=False))
    model = build_tiny_model(tmp_path / "model", "qwen2")
    # rows, distinct prompts and model calls of each generate trl made
    batches: list[tuple[int, int, int]] = []
    reading = shared_prompts.generate_reading_prompts_once

    def counting(generate, *args, **kwargs):
        ids = kwargs["input_ids"]
        calls = []

        def counted(*a, **k):
            calls.append(1)
            return generate(*a, **k)

        out = reading(counted, *args, **kwargs)
        batches.append((ids.size(0), len({tuple(r) for r in ids.tolist()}), len(calls)))
        return out

    monkeypatch.setattr(shared_prompts, "generate_reading_prompts_once", counting)
    # LoRA without dropout: trl generates in training mode, where dropout would give each copy its own noise
    lora = {"rank": 4, "alpha": 8, "dropout": 0.0}
    settings = tiny_run_settings(
        model, prepared, tmp_path / "run", max_steps=1, per_device_batch_size=4, lora=lora
    )
    report = TrlGrpoBackend(settings, reward_funcs=[text_hash_reward]).train()
    assert report.steps == 1
    assert batches == [(4, 2, 2)]  # 2 prompts x 2 completions: the prompts read once, then the 4 rows
