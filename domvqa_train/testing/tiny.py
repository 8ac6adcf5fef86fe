"""Tiny, randomly initialised Qwen2 / Qwen2.5-VL models built offline, for tests and quick runs.

They share Holo1-3B's exact vocabulary and chat template (``domprune.tokenizers.qwen_hf_tokenizer``) and
are written to a folder with ``save_pretrained``, so the real loading code runs on a local path.
:func:`build_random_qwen2_5_vl` builds a random Qwen2.5-VL of any size the same way; its default
:class:`Qwen2_5_VLSize` is Holo1-3B's (Qwen2.5-VL-3B's) architecture, for timing runs without the weights.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Literal

TinyKind = Literal["qwen2", "qwen2_5_vl"]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    """The Qwen2.5 tokenizer (built once per process, ~5 s), padded on the left; one object shared by every
    caller: copy it (``copy.deepcopy``) before changing it."""
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
    from transformers import Qwen2_5_VLForConditionalGeneration

    half = hidden_size // 4 // 2  # mrope sections (time, height, width) add up to head_dim / 2
    size = Qwen2_5_VLSize(
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        layers=layers,
        attention_heads=4,
        kv_heads=2,
        vocab_size=len(tok),
        max_position_embeddings=32768,
        mrope_section=(half // 2, half // 4, half - half // 2 - half // 4),
        vision_depth=2,
        vision_hidden_size=32,
        vision_intermediate_size=64,
        vision_heads=2,
        fullatt_block_indexes=(1,),
    )
    return Qwen2_5_VLForConditionalGeneration(qwen2_5_vl_config(size, tok))


def _save_processor(tok: Any, out: Path) -> None:
    """Save a Qwen2.5-VL processor (small image processor, tokenizer, chat template) next to the model.

    It is :func:`domvqa_train.common.modelio.image_text_processor_class` (no video processor, so no torchvision
    needed); the folder gets the files a Qwen2.5-VL checkpoint ships, and ``load_processor`` reads them back.
    """
    from transformers import Qwen2VLImageProcessorPil

    from ..common.modelio import image_text_processor_class

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


@dataclasses.dataclass(frozen=True)
class Qwen2_5_VLSize:
    """The sizes of a Qwen2.5-VL model. The defaults are Qwen2.5-VL-3B's, the architecture of Holo1-3B.

    Sources of the defaults: the published ``config.json`` of Qwen/Qwen2.5-VL-3B-Instruct (language model:
    ``hidden_size`` 2048, ``intermediate_size`` 11008, ``num_hidden_layers`` 36, ``num_attention_heads`` 16,
    ``num_key_value_heads`` 2, ``vocab_size`` 151936, ``rope_theta`` 1e6, ``rms_norm_eps`` 1e-6,
    ``max_position_embeddings`` 128000, ``mrope_section`` [16, 24, 24], ``tie_word_embeddings`` true; vision:
    ``hidden_size`` 1280, ``out_hidden_size`` 2048). transformers' ``Qwen2_5_VLVisionConfig`` defaults agree
    with that file on ``depth`` 32, ``intermediate_size`` 3420, ``num_heads`` 16, ``fullatt_block_indexes``
    [7, 15, 23, 31], ``window_size`` 112, ``patch_size`` 14, ``spatial_merge_size`` 2 and
    ``temporal_patch_size`` 2 (its text defaults are the 72B model's, so none are relied on here).

    ``mrope_section=None`` splits ``head_dim / 2`` rotary frequencies in the 3B's 1/4, 3/8, 3/8 proportion
    (exactly [16, 24, 24] at head_dim 128); ``fullatt_block_indexes=None`` makes every 8th vision block and
    the last one full-attention (exactly [7, 15, 23, 31] at depth 32).
    """

    hidden_size: int = 2048
    intermediate_size: int = 11008
    layers: int = 36
    attention_heads: int = 16
    kv_heads: int = 2
    vocab_size: int = 151936
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 128000
    mrope_section: tuple[int, int, int] | None = None
    vision_depth: int = 32
    vision_hidden_size: int = 1280
    vision_intermediate_size: int = 3420
    vision_heads: int = 16
    fullatt_block_indexes: tuple[int, ...] | None = None
    window_size: int = 112
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2

    def __post_init__(self) -> None:
        if self.hidden_size % self.attention_heads or (self.hidden_size // self.attention_heads) % 2:
            raise ValueError(
                f"hidden_size {self.hidden_size} must split into {self.attention_heads} heads of an even size"
            )
        if self.attention_heads % self.kv_heads:
            raise ValueError(
                f"attention_heads {self.attention_heads} must be a multiple of kv_heads {self.kv_heads}"
            )
        if self.vision_hidden_size % (4 * self.vision_heads):
            raise ValueError(
                f"vision_hidden_size {self.vision_hidden_size} must split into {self.vision_heads} heads of a "
                "multiple of 4 (the vision rotary embedding)"
            )
        section = self.rope_mrope_section()
        if sum(section) != self.head_dim // 2 or min(section) < 1:
            raise ValueError(
                f"mrope_section {list(section)} must be 3 positive numbers adding up to head_dim / 2 = "
                f"{self.head_dim // 2}; raise hidden_size or lower attention_heads"
            )
        if any(not 0 <= i < self.vision_depth for i in self.vision_full_attention_blocks()):
            raise ValueError(f"fullatt_block_indexes must lie in [0, {self.vision_depth})")

    @property
    def head_dim(self) -> int:
        """Size of one attention head of the language model."""
        return self.hidden_size // self.attention_heads

    def rope_mrope_section(self) -> tuple[int, int, int]:
        """Rotary frequencies given to (time, height, width) positions; they add up to ``head_dim / 2``."""
        if self.mrope_section is not None:
            return self.mrope_section
        half = self.head_dim // 2
        time = half // 4
        height = (half - time) // 2
        return (time, height, half - time - height)

    def vision_full_attention_blocks(self) -> tuple[int, ...]:
        """Vision blocks with full (not windowed) attention."""
        if self.fullatt_block_indexes is not None:
            return self.fullatt_block_indexes
        return tuple(sorted({*range(7, self.vision_depth, 8), self.vision_depth - 1}))


#: Holo1-3B's architecture (Qwen2.5-VL-3B).
HOLO1_3B_SIZE = Qwen2_5_VLSize()


def qwen2_5_vl_config(size: Qwen2_5_VLSize = HOLO1_3B_SIZE, tokenizer: Any = None) -> Any:
    """A ``Qwen2_5_VLConfig`` of ``size`` with the special-token ids of ``tokenizer`` (default :func:`tiny_tokenizer`)."""
    from transformers import Qwen2_5_VLConfig

    tok = tokenizer if tokenizer is not None else tiny_tokenizer()
    if size.vocab_size < len(tok):
        raise ValueError(f"vocab_size {size.vocab_size} is smaller than the tokenizer's {len(tok)} tokens")
    text = _text_kwargs(tok, size.hidden_size, size.layers)
    text.update(
        vocab_size=size.vocab_size,
        intermediate_size=size.intermediate_size,
        num_attention_heads=size.attention_heads,
        num_key_value_heads=size.kv_heads,
        max_position_embeddings=size.max_position_embeddings,
        rms_norm_eps=size.rms_norm_eps,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": size.rope_theta,
            "mrope_section": list(size.rope_mrope_section()),
        },
    )
    vision = {
        "depth": size.vision_depth,
        "hidden_size": size.vision_hidden_size,
        "intermediate_size": size.vision_intermediate_size,
        "num_heads": size.vision_heads,
        "out_hidden_size": size.hidden_size,
        "fullatt_block_indexes": list(size.vision_full_attention_blocks()),
        "window_size": size.window_size,
        "patch_size": size.patch_size,
        "spatial_merge_size": size.spatial_merge_size,
        "temporal_patch_size": size.temporal_patch_size,
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


RANDOM_MODEL_FILE = "random_model.json"


def build_random_qwen2_5_vl(
    out_dir: str | Path,
    size: Qwen2_5_VLSize = HOLO1_3B_SIZE,
    *,
    seed: int = 0,
    dtype: str = "float32",
    device: str = "cpu",
    tokenizer: Any = None,
) -> Path:
    """Write a random Qwen2.5-VL of ``size`` (weights in ``dtype``) with the Qwen2.5 tokenizer and a processor.

    The weights are initialised on ``device`` (``"cuda"`` makes a 3B model in seconds) and saved with
    ``save_pretrained``; ``random_model.json`` records the size, seed and dtype. Returns the folder.
    """
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    tok = tokenizer if tokenizer is not None else tiny_tokenizer()
    config = qwen2_5_vl_config(size, tok)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    del model
    if device != "cpu":
        import gc

        gc.collect()
        torch.cuda.empty_cache()  # so that the trainer's memory figures start clean
    tok.save_pretrained(out)
    _save_processor(tok, out)
    info = random_model_info(size, seed=seed, dtype=dtype)
    (out / RANDOM_MODEL_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def random_model_info(size: Qwen2_5_VLSize, *, seed: int, dtype: str) -> dict[str, Any]:
    """What :func:`build_random_qwen2_5_vl` records in ``random_model.json`` (to tell whether a folder can be reused)."""
    return {"kind": "qwen2_5_vl", "size": dataclasses.asdict(size), "seed": seed, "dtype": dtype}
