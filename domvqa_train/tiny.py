"""Tiny, randomly initialised Qwen2 / Qwen2.5-VL models built offline, for tests and quick runs.

They share Holo1-3B's exact vocabulary and chat template (``domprune.tokenizers.qwen_hf_tokenizer``) and
are written to a folder with ``save_pretrained``, so the real loading code runs on a local path.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

TinyKind = Literal["qwen2", "qwen2_5_vl"]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    """The Qwen2.5 tokenizer (built once per process, ~5 s), padded on the left."""
    from domprune.tokenizers import qwen_hf_tokenizer

    tok = qwen_hf_tokenizer()
    tok.padding_side = "left"
    return tok


def _text_kwargs(tok: Any, hidden_size: int, layers: int) -> dict[str, Any]:
    return {
        "vocab_size": len(tok),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.pad_token_id,
        "tie_word_embeddings": True,
    }


def _build_qwen2(tok: Any, hidden_size: int, layers: int) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return Qwen2ForCausalLM(Qwen2Config(**_text_kwargs(tok, hidden_size, layers)))


def _build_qwen2_5_vl(tok: Any, hidden_size: int, layers: int) -> Any:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    half = hidden_size // 4 // 2  # mrope sections (time, height, width) add up to head_dim / 2
    text = _text_kwargs(tok, hidden_size, layers)
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": 1_000_000.0,
        "mrope_section": [half // 2, half // 4, half - half // 2 - half // 4],
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": hidden_size,
        "fullatt_block_indexes": [1],
        "window_size": 112,
    }
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _save_processor(tok: Any, out: Path) -> None:
    """Save a Qwen2.5-VL processor (small image processor, tokenizer, chat template) next to the model.

    It is :func:`domvqa_train.modelio.image_text_processor_class` (no video processor, so no torchvision
    needed); the folder gets the files a Qwen2.5-VL checkpoint ships, and ``load_processor`` reads them back.
    """
    from transformers import Qwen2VLImageProcessorPil

    from .modelio import image_text_processor_class

    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    processor = image_text_processor_class()(image_processor, tok, chat_template=tok.chat_template)
    processor.save_pretrained(out)


def build_tiny_model(
    out_dir: str | Path,
    kind: TinyKind = "qwen2",
    *,
    hidden_size: int = 32,
    layers: int = 2,
    seed: int = 0,
    tokenizer: Any = None,
) -> Path:
    """Write a tiny random ``kind`` model with the Qwen2.5 tokenizer to ``out_dir``; returns the folder.

    ``tokenizer`` defaults to :func:`tiny_tokenizer` (Holo1-3B's vocabulary and chat template).
    A ``tiny_model.json`` next to the weights records what was built.
    """
    import torch

    if hidden_size % 32:
        raise ValueError(f"hidden_size must be a multiple of 32 (got {hidden_size})")
    tok = tokenizer if tokenizer is not None else tiny_tokenizer()
    torch.manual_seed(seed)
    builders = {"qwen2": _build_qwen2, "qwen2_5_vl": _build_qwen2_5_vl}
    if kind not in builders:
        raise ValueError(f"unknown tiny model kind {kind!r}; use one of {sorted(builders)}")
    model = builders[kind](tok, hidden_size, layers)
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    has_processor = kind == "qwen2_5_vl"
    if has_processor:
        _save_processor(tok, out)
    info = {
        "kind": kind,
        "hidden_size": hidden_size,
        "layers": layers,
        "seed": seed,
        "processor": has_processor,
    }
    (out / "tiny_model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out
