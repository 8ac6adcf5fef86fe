"""Load a model, its tokenizer and (for vision-language models) its processor; generate answers.

Names resolve like ``from_pretrained``: a local folder, or a model already in the local hub cache.
A folder holding a LoRA adapter (``adapter_config.json``) loads its base model and applies it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DomVQAError
from .shared_prompts import generate_reading_prompts_once

Message = dict[str, Any]
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
"""Files that hold a multimodal processor's settings in a model folder."""


class ModelLoadError(DomVQAError, OSError):
    """A model, tokenizer or processor could not be loaded."""


@dataclass
class LoadedModel:
    """A model ready for generation with what it needs to read prompts."""

    model: Any
    tokenizer: Any
    processor: Any | None
    is_vision_language: bool
    name: str


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_error(what: str, name: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load the {what} of {name!r}: {_first_line(exc)}. Without network access, point at a local "
        "copy of the model: --model /path/to/Holo1-3B (a folder with config.json and the weights)"
    )


def adapter_base(path: str) -> str | None:
    """The base model named by a LoRA adapter folder, or ``None`` if ``path`` is not an adapter."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(f"{cfg} names no base model; pass --base-model /path/to/base")
    return str(base)


def load_config(name: str) -> Any:
    """The model's ``PretrainedConfig``."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except Exception as exc:
        raise _load_error("config", name, exc) from None


def is_vision_language(config: Any) -> bool:
    """True for image-text-to-text models such as Qwen2.5-VL (Holo1-3B)."""
    return getattr(config, "vision_config", None) is not None


def load_tokenizer(name: str) -> Any:
    """The tokenizer, padded on the left (generation)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except Exception as exc:
        raise _load_error("tokenizer", name, exc) from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_processor(name: str, *, required: bool) -> Any | None:
    """The multimodal processor, or ``None`` when it cannot be loaded and is not ``required``.

    ``AutoProcessor`` first. Without ``torchvision`` it cannot build Qwen2.5-VL's processor (the video
    processor needs torchvision); then a model with a Qwen2-VL image processor gets the image-and-text
    processor of :func:`image_text_processor_class`, which is all screenshots need. Text-only prompts never
    need a processor.
    """
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(name, padding_side="left")
    except Exception as exc:
        processor, error = None, exc
        if _has_qwen2_vl_images_without_torchvision(name):
            try:
                processor = image_text_processor_class().from_pretrained(name, padding_side="left")
            except Exception as fallback_exc:
                error = fallback_exc
        if processor is None:
            if required:
                raise ModelLoadError(
                    f"screenshots need the image processor of {name!r}, which did not load: {_first_line(error)}. "
                    "Point at a model folder with its processor files (preprocessor_config.json or "
                    "processor_config.json), install torchvision, or set use_screenshots=false"
                ) from None
            return None
    if not hasattr(processor, "image_processor"):
        if required:
            raise ModelLoadError(f"{name!r} has no image processor; set use_screenshots=false")
        return None
    return processor


def _has_qwen2_vl_images_without_torchvision(name: str) -> bool:
    """True when torchvision is missing and ``name``'s image processor is Qwen2-VL's (PIL backend)."""
    from transformers import AutoImageProcessor, Qwen2VLImageProcessorPil
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return False  # AutoProcessor failed for another reason; its error is the one to show
    try:
        return isinstance(AutoImageProcessor.from_pretrained(name), Qwen2VLImageProcessorPil)
    except Exception:
        return False


@functools.cache
def image_text_processor_class() -> type:
    """``Qwen2_5_VLProcessor`` without its video processor: images and text only, no torchvision needed.

    transformers' Qwen2.5-VL processor requires a video processor, and Qwen2-VL's video processor needs
    torchvision, which some machines cannot install (e.g. next to a CPU-only torch build). Screenshots are
    images, which ``Qwen2VLImageProcessorPil`` handles with PIL. This subclass only drops ``video_processor``
    from the constructor (transformers reads a processor's parts from its ``__init__`` signature); the chat
    template, image-token expansion and image features are ``Qwen2_5_VLProcessor``'s own code. It saves as a
    ``Qwen2_5_VLProcessor`` plus the legacy ``preprocessor_config.json`` that Qwen2.5-VL checkpoints such as
    Holo1-3B ship, where ``AutoProcessor`` (with torchvision) finds the settings of the video processor.
    """
    from transformers import Qwen2_5_VLProcessor

    class ImageTextQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
        ) -> None:
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

        def to_dict(self) -> dict[str, Any]:
            return {**super().to_dict(), "processor_class": "Qwen2_5_VLProcessor"}

        def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
            files = super().save_pretrained(save_directory, *args, **kwargs)
            self.image_processor.save_pretrained(save_directory)
            return files

    return ImageTextQwen2_5_VLProcessor


def torch_dtype(name: str) -> Any:
    """``"auto"`` (the checkpoint's dtype) or a ``torch.dtype``."""
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


def load_model(name: str, *, attn_implementation: str = "sdpa", dtype: str = "auto") -> Any:
    """Instantiate the weights: image-text-to-text auto class for VL configs, causal LM otherwise."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    config = load_config(name)
    auto = AutoModelForImageTextToText if is_vision_language(config) else AutoModelForCausalLM
    try:
        return auto.from_pretrained(name, attn_implementation=attn_implementation, dtype=torch_dtype(dtype))
    except ImportError as exc:  # e.g. flash_attention_2 without flash-attn
        raise ModelLoadError(
            f"cannot load {name!r} with attn_implementation={attn_implementation!r}: {_first_line(exc)}; "
            "use attn_implementation=sdpa"
        ) from None
    except Exception as exc:
        raise _load_error("weights", name, exc) from None


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The special token that closes an assistant turn in the tokenizer's chat template (``<|im_end|>`` for
    Qwen, ``<end_of_turn>`` for Gemma); ``None`` without a chat template or when the turn ends in plain text."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    probe = "\u2063answer\u2063"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": probe}], tokenize=False
        )
    except Exception:  # a template that refuses this minimal conversation names no end of turn
        return None
    if not isinstance(text, str) or probe not in text:
        return None
    tail = text[text.rindex(probe) + len(probe) :]
    special = {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    found = [(tail.find(t), t) for t in special if t and t in tail]
    return min(found)[1] if found else None


def stop_at_end_of_turn(model: Any, tokenizer: Any) -> None:
    """Make generation stop at the chat template's end of turn, as it stops at EOS.

    A model whose template closes a turn with another token than its EOS (a base model given a chat template,
    e.g. Gemma's ``<end_of_turn>``) would otherwise write past its answer until the length limit. trl's GRPO
    and :func:`generate` stop at every id of ``model.generation_config.eos_token_id``.
    """
    token = end_of_turn_token(tokenizer)
    config = getattr(model, "generation_config", None)
    if token is None or config is None:
        return
    token_id = tokenizer.convert_tokens_to_ids(token)
    ids = config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if isinstance(token_id, int) and token_id not in ids:
        ids.append(token_id)
    config.eos_token_id = ids


def load_for_inference(
    name: str,
    *,
    base_model: str | None = None,
    attn_implementation: str = "sdpa",
    dtype: str = "auto",
    images: bool = False,
) -> LoadedModel:
    """Load a model or an adapter folder (its base from ``adapter_config.json`` unless ``base_model``)."""
    base = base_model or adapter_base(name)
    model = load_model(base or name, attn_implementation=attn_implementation, dtype=dtype)
    if base is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, name)
        except Exception as exc:
            raise _load_error("LoRA adapter", name, exc) from None
    has_tokenizer = (Path(name) / "tokenizer_config.json").is_file()
    tokenizer_src = name if has_tokenizer or base is None else base
    has_processor = any((Path(name) / f).is_file() for f in PROCESSOR_FILES)
    processor_src = name if has_processor or base is None else base
    vl = is_vision_language(model.config)
    model.eval()
    tokenizer = load_tokenizer(tokenizer_src)
    stop_at_end_of_turn(model, tokenizer)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        processor=load_processor(processor_src, required=images) if vl and images else None,
        is_vision_language=vl,
        name=name,
    )


def generate(
    loaded: LoadedModel,
    prompts: Sequence[list[Message] | str],
    *,
    max_new_tokens: int = 64,
    images: Sequence[Any | None] | None = None,
    batch_size: int = 4,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> list[str]:
    """Answer each chat prompt; greedy when ``temperature`` is 0. ``images`` pairs one image (or None) per prompt.

    Sampling draws from the model's distribution at ``temperature`` with nucleus ``top_p`` and no top-k cut,
    as trl's GRPO generation does (transformers would otherwise apply its default top-k of 50); with a
    ``seed``, from torch's generator seeded with it (the caller's random state is restored afterwards).
    """
    with _seeded(seed, loaded.model):
        return _generate(loaded, prompts, max_new_tokens, images, batch_size, temperature, top_p)


@contextmanager
def _seeded(seed: int | None, model: Any) -> Iterator[None]:
    """Inside the block torch's random state starts from ``seed``; outside it is left as it was."""
    if seed is None:
        yield
        return
    import torch

    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _generate(
    loaded: LoadedModel,
    prompts: Sequence[list[Message] | str],
    max_new_tokens: int,
    images: Sequence[Any | None] | None,
    batch_size: int,
    temperature: float,
    top_p: float,
) -> list[str]:
    import torch

    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        batch_images = list(images[start : start + batch_size]) if images is not None else None
        inputs = _encode(loaded, batch, batch_images)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": loaded.tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.no_grad():  # (label's attempts repeat each prompt: each is read once)
            out = generate_reading_prompts_once(loaded.model.generate, model=loaded.model, **inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1] :]
        outputs.extend(loaded.tokenizer.batch_decode(new, skip_special_tokens=True))
    return outputs


def prompt_text(prompt: list[Message] | str, tokenizer: Any) -> str:
    """The text a model reads for ``prompt``: a chat prompt rendered with the generation prompt, or a
    plain-string prompt unchanged (as trl treats plain strings: no chat template)."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)


def _encode(loaded: LoadedModel, batch: list[list[Message] | str], images: list[Any | None] | None) -> Any:
    device = next(loaded.model.parameters()).device
    if images is not None and any(img is not None for img in images):
        if any(isinstance(p, str) for p in batch):
            raise ModelLoadError("a screenshot needs a chat prompt; plain-string prompts are text only")
        if loaded.processor is None:
            raise ModelLoadError(
                f"{loaded.name!r} was loaded without an image processor; load it with images=True"
            )
        from trl.data_utils import prepare_multimodal_messages

        batch = [
            prepare_multimodal_messages(msgs, images=[img] if img is not None else [])
            for msgs, img in zip(batch, images, strict=True)
        ]
        texts = [
            loaded.processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in batch
        ]
        flat = [img for img in images if img is not None]
        return loaded.processor(text=texts, images=flat, padding=True, return_tensors="pt").to(device)
    texts = [prompt_text(p, loaded.tokenizer) for p in batch]
    # A rendered chat prompt holds its special tokens already; a plain string gets the tokenizer's own
    # (a base model's BOS), as trl tokenizes plain-string prompts in SFT and GRPO.
    plain = all(isinstance(p, str) for p in batch)
    return loaded.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=plain).to(device)
