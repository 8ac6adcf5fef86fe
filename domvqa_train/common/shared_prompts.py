"""Completions of one prompt generated from one reading of the prompt (GRPO's groups, label's attempts).

GRPO asks for ``num_generations`` completions of every prompt, and trl hands ``generate`` a batch in
which each prompt is repeated that many times. ``generate`` then runs the model over every copy of
the prompt before the first sampled token (the prefill). On a CPU, with prompts of hundreds of tokens
and completions of tens, that prefill is most of the generation: a profile of a GRPO step of Gemma 3
270M (2 prompts x 4 completions of 40 tokens, 384-token prompts) spent 32% of the step there and 12%
on the sampled tokens.

:func:`prompts_read_once` makes a model's ``generate`` read each distinct prompt of a batch once:
the prompts less their last token are run once each (batch of the distinct prompts), their key/value
cache is copied to every row that repeats them (:meth:`transformers.Cache.reorder_cache`, the
beam-search copy), and ``generate`` goes on from there with the whole batch, as HF's documented
reuse of a prompt's cache does. The completions are the ones the plain call samples (the same
tokens with greedy decoding, up to floating-point rounding of the batched prefill), at the cost of
one prefill per distinct prompt. Where that would not hold, the call runs as it is: with dropout
active (trl generates with the model in training mode: LoRA dropout 0 makes the shared path apply),
beams, several sequences per row, no cache or a cache kind set in the config, or several
processes. ``label`` (several attempts at each record) goes through the same path
(:func:`generate_reading_prompts_once` in :func:`domvqa_train.common.modelio.generate`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# what a call may hold for the shared path (anything else, such as images or a cache, runs as it is)
_INPUTS = frozenset({"input_ids", "attention_mask"})
_GENERATION_ARGS = frozenset(
    {
        "generation_config",
        "max_new_tokens",
        "do_sample",
        "temperature",
        "top_p",
        "top_k",
        "pad_token_id",
        "eos_token_id",
    }
)
# the prefill: one greedy token after each prompt less its last, its cache returned
_PREFILL = {
    "max_new_tokens": 1,
    "min_new_tokens": 0,
    "do_sample": False,
    "temperature": None,
    "top_p": None,
    "top_k": None,
    "num_return_sequences": 1,
    "return_dict_in_generate": True,
}


@contextmanager
def prompts_read_once(model: Any, enabled: bool = True) -> Iterator[bool]:
    """Inside the block, ``model.generate`` reads each distinct prompt of a batch once and shares its
    cache with the rows that repeat it; yields whether it does. Calls with other inputs (images, a
    cache of their own, positional arguments) or without a repeated prompt run unchanged. The
    model's own ``generate`` is back on exit.
    """
    if not enabled:
        yield False
        return
    own = vars(model).get("generate")  # (an instance attribute of its own, if any, is put back)
    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        return generate_reading_prompts_once(original, *args, model=model, **kwargs)

    model.generate = generate
    try:
        yield True
    finally:
        if own is None:
            del model.generate
        else:
            model.generate = own


def generate_reading_prompts_once(
    generate: Callable[..., Any], *args: Any, model: Any = None, **kwargs: Any
) -> Any:
    """``generate(*args, **kwargs)``, with each distinct row of ``input_ids`` (and its attention mask)
    read once before the rows that repeat it share its cache. ``model`` (the one ``generate`` runs):
    the per-row state a prefill leaves on it is copied to the rows too (Qwen2-VL's ``rope_deltas``,
    the offsets of its 3D positions)."""
    import torch

    ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
    if (
        args
        or ids is None
        or mask is None
        or not set(kwargs) <= _INPUTS | _GENERATION_ARGS
        or ids.size(1) < 2
        or not _shareable(model, kwargs.get("generation_config"))
    ):
        return generate(*args, **kwargs)
    rows, inverse = torch.unique(torch.cat([ids, mask.to(ids.dtype)], dim=1), dim=0, return_inverse=True)
    if rows.size(0) == ids.size(0):
        return generate(*args, **kwargs)  # no prompt repeats: nothing to share
    # one representative row of each distinct prompt: its first occurrence
    order = torch.arange(ids.size(0), device=ids.device)
    first = torch.full((rows.size(0),), ids.size(0), dtype=order.dtype, device=ids.device)
    first = first.scatter_reduce(0, inverse, order, reduce="amin")
    prefill: dict[str, Any] = {"input_ids": ids[first, :-1], "attention_mask": mask[first, :-1]}
    tokens = {k: kwargs[k] for k in ("pad_token_id", "eos_token_id") if k in kwargs}
    config = kwargs.get("generation_config")
    if config is None:
        prefill.update(tokens, **_PREFILL)
    else:  # (a config and generation arguments together are deprecated: change a copy instead)
        config = copy.deepcopy(config)
        config.update(**tokens, **_PREFILL)
        prefill["generation_config"] = config
    # the cache of every prompt but its last token (generate reads that one and samples after it)
    out = generate(**prefill)
    name = "cache" if getattr(out, "cache", None) is not None else "past_key_values"  # (transformers 5 / 4)
    cache = getattr(out, name)
    cache.reorder_cache(inverse)
    if model is not None:
        _copy_row_state(model, inverse, rows.size(0))
    return generate(**kwargs, **{name: cache})


def _shareable(model: Any, config: Any) -> bool:
    """Whether the shared path gives the plain call's completions with this model and config: not
    with beams or several sequences per row (generate would widen the rows, not the cache), without
    a cache or with a cache of the config's own kind, with dropout active (a training-mode model:
    each copy of a prompt would get its own dropout noise, the shared reading one for all), or
    across processes (ZeRO-3 and FSDP ranks generate in lockstep: each must make the same calls)."""
    import torch

    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return False
    if config is None and model is not None:
        config = getattr(model, "generation_config", None)
    if config is not None and (
        (getattr(config, "num_return_sequences", 1) or 1) > 1
        or (getattr(config, "num_beams", 1) or 1) > 1
        or getattr(config, "use_cache", True) is False
        or getattr(config, "cache_implementation", None) is not None
    ):
        return False
    return not (
        model is not None
        and model.training
        and any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())
    )


def _copy_row_state(model: Any, inverse: Any, distinct: int) -> None:
    """Each module's ``rope_deltas`` of the distinct prompts (Qwen2-VL models keep them from the
    prefill for the tokens after it) copied to every row that repeats a prompt."""
    import torch

    for module in model.modules():
        deltas = getattr(module, "rope_deltas", None)
        if isinstance(deltas, torch.Tensor) and deltas.dim() and deltas.size(0) == distinct:
            module.rope_deltas = deltas.index_select(0, inverse.to(deltas.device))
