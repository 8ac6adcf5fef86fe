"""Random Qwen2.5-VL models of a chosen size (domvqa_train.testing.tiny): Holo1-3B's architecture and tiny copies."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from domvqa_train.common.modelio import load_model, load_tokenizer
from domvqa_train.testing.tiny import (
    HOLO1_3B_SIZE,
    RANDOM_MODEL_FILE,
    Qwen2_5_VLSize,
    build_random_qwen2_5_vl,
    qwen2_5_vl_config,
)


def test_default_size_is_qwen2_5_vl_3b() -> None:
    """The values of Qwen/Qwen2.5-VL-3B-Instruct's published config.json, and its 3.75B parameters."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    config = qwen2_5_vl_config(HOLO1_3B_SIZE)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (2048, 11008, 36)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (16, 2, 151936)
    assert text.rope_parameters["rope_theta"] == 1_000_000.0
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert config.tie_word_embeddings is True
    assert (vision.depth, vision.hidden_size, vision.intermediate_size, vision.num_heads) == (
        32,
        1280,
        3420,
        16,
    )
    assert (vision.out_hidden_size, vision.window_size, vision.patch_size) == (2048, 112, 14)
    assert (vision.spatial_merge_size, vision.temporal_patch_size) == (2, 2)
    assert list(vision.fullatt_block_indexes) == [7, 15, 23, 31]
    with torch.device("meta"):  # shapes only, no memory
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    assert round(sum(p.numel() for p in model.parameters()) / 1e9, 2) == 3.75  # the model card's size


def test_derived_sections_scale_with_the_size() -> None:
    small = Qwen2_5_VLSize(hidden_size=64, attention_heads=4, vision_depth=3)
    assert sum(small.rope_mrope_section()) == small.head_dim // 2 == 8
    assert small.vision_full_attention_blocks() == (2,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 64, "attention_heads": 16}, "mrope_section"),
        ({"hidden_size": 60, "attention_heads": 16}, "heads of an even size"),
        ({"attention_heads": 16, "kv_heads": 3}, "multiple of kv_heads"),
        ({"vision_hidden_size": 36, "vision_heads": 2}, "vision_hidden_size"),
        ({"vision_depth": 4, "fullatt_block_indexes": (7,)}, "fullatt_block_indexes"),
    ],
)
def test_impossible_sizes_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Qwen2_5_VLSize(**kwargs)


@pytest.mark.slow
def test_build_writes_a_loadable_model(tmp_path) -> None:
    size = Qwen2_5_VLSize(
        hidden_size=64,
        intermediate_size=128,
        layers=2,
        attention_heads=4,
        vocab_size=151936,
        vision_depth=1,
        vision_hidden_size=32,
        vision_intermediate_size=64,
        vision_heads=2,
    )
    out = build_random_qwen2_5_vl(tmp_path / "m", size, seed=1, dtype="bfloat16")
    model = load_model(str(out), dtype="auto")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert model.dtype.is_floating_point and str(model.dtype) == "torch.bfloat16"
    assert model.get_input_embeddings().weight.shape == (151936, 64)
    assert model.config.vision_config.fullatt_block_indexes == [0]
    tok = load_tokenizer(str(out))
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False).startswith(
        "<|im_start|>"
    )
    recorded = json.loads((out / RANDOM_MODEL_FILE).read_text(encoding="utf-8"))
    assert (recorded["kind"], recorded["seed"], recorded["dtype"]) == ("qwen2_5_vl", 1, "bfloat16")
    given = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "layers": 2,
        "attention_heads": 4,
        "vocab_size": 151936,
        "vision_depth": 1,
        "vision_hidden_size": 32,
        "vision_intermediate_size": 64,
        "vision_heads": 2,
    }
    assert {name: recorded["size"][name] for name in given} == given
