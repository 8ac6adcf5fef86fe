"""``domvqa-train plan``: the estimated peak memory per GPU of a ``train`` (GRPO) or ``sft`` run, before renting one.

The model's architecture comes from its ``config.json`` (a local folder, a model in the hub cache, or a
known name whose config ships with the package: :data:`KNOWN_CONFIGS`); parameters are counted exactly
on an empty ("meta") copy of the model, LoRA parameters with the package's own target rule. The rest is
arithmetic over what the trainer keeps alive, read from transformers 5, peft and trl 1.16:

- **weights**: every parameter in the weight dtype (sharded over the GPUs with ZeRO-3, but gathered
  whole for generation, trl's default ``ds3_gather_for_generation``);
- **LoRA + optimizer**: adapter weights, their gradients and AdamW's two moments (fp32, peft's default;
  the moments and gradients sharded with ZeRO-1/-2, everything with ZeRO-3);
- **activations**: what autograd saves per decoder layer for the backward pass of one micro-batch
  (``per_device_batch_size`` sequences of prompt + completion tokens), per layer or, with gradient
  checkpointing, each layer's input plus one layer recomputed; the attention mask of a padded batch;
  one layer's backward workspace;
- **logits**: trl 1.16 never builds the ``tokens x vocabulary`` logits; its chunked LM head scores
  tiles of 4,096 rows x 32,768 vocabulary entries (on CUDA with Triton only the completion rows; on a
  CPU every row, with the torch fallback's 8.25 fp32 tiles alive at its peak); ``sft`` with
  ``sft.answer_only_head`` (the default) builds the whole logits of the answer's rows only;
- **generation KV cache** (GRPO with transformers generation): keys and values of the generation batch
  (``per_device_batch_size x gradient_accumulation_steps`` sequences) at full length, plus the prefill's
  largest layer and the attention mask of left-padded prompts. With vLLM colocated, its reserved share
  of the GPU (``vllm_gpu_memory_utilization``) instead; with a vLLM server, nothing on the training GPU.

The two phases of a GRPO step, generation and training, peak at different times; the estimate is the
larger. It is checked in the tests against measured peaks of tiny models on a CPU (within
:data:`CPU_TOLERANCE`); the comparison on a GPU is ``benchmarks/grpo_step_timing.py``'s.

>>> parse_memory("80GiB") == 80 * 2**30
True
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import SettingsError
from .settings import TrainSettings

#: Names whose config ships with the package (``domvqa_train/training/model_configs/<folder>/config.json``).
KNOWN_CONFIGS = {
    "Qwen/Qwen2.5-VL-3B-Instruct": "Qwen2.5-VL-3B-Instruct",
    "Hcompany/Holo1-3B": "Qwen2.5-VL-3B-Instruct",  # a fine-tune with the same architecture
}
CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"

#: The measured peaks of the tiny models on a CPU lie within this fraction of the estimate (tests).
CPU_TOLERANCE = 0.15
#: Share of a GPU kept free for the CUDA context, cuBLAS workspaces and allocator fragmentation when
#: deciding whether a run fits (a rule of thumb, not a measurement).
HEADROOM = 0.10

# trl 1.16's chunked LM head (trl/kernels/chunked_logprob.py): rows x vocabulary entries per tile
LM_HEAD_TOKEN_CHUNK = 4096
LM_HEAD_VOCAB_CHUNK = 32768
#: fp32 tiles alive at the peak of the torch fallback's backward (no Triton, e.g. on a CPU): the tile buffer,
#: y, z, log p, p, the gradient, the target mask (bool) and two temporaries
LM_HEAD_TORCH_TILES = 8.25

_UNITS = {"": 2**30, "gib": 2**30, "gb": 10**9, "mib": 2**20, "mb": 10**6, "tib": 2**40, "tb": 10**12}

Stage = Literal["grpo", "sft"]
Device = Literal["cuda", "cpu"]


def parse_memory(text: str) -> int:
    """Bytes of ``"80GiB"``, ``"24 GB"``, ``"512MiB"`` (a bare number is GiB).

    >>> parse_memory("24GB")
    24000000000
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise SettingsError(f"cannot read the memory size {text!r}; write it like 80GiB, 24GB or 512MiB")
    return int(float(match.group(1)) * _UNITS[unit])


def gib(n: float) -> str:
    """``n`` bytes in GiB, two decimals."""
    return f"{n / 2**30:.2f}"


# --------------------------------------------------------------------------- the model's shape


class ModelShape(BaseModel):
    """The sizes of a decoder (and its vision tower) that memory depends on."""

    parameters: int = Field(description="all parameters (tied embeddings counted once)")
    vision_parameters: int = Field(description="parameters of the vision tower (0 for text-only models)")
    lora_parameters: int = Field(description="LoRA A and B parameters for the run's rank and target modules")
    lora_modules_per_layer: dict[str, int] = Field(description="targeted projection -> its input size")
    largest_layer_parameters: int = Field(description="parameters of one decoder layer")
    hidden_size: int
    intermediate_size: int
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    weight_bytes: int = Field(description="bytes per weight of the checkpoint's dtype")


def load_model_config(name: str) -> Any:
    """The ``PretrainedConfig`` of a model folder, a model in the hub cache, or a name in :data:`KNOWN_CONFIGS`."""
    from transformers import AutoConfig

    if Path(name).is_dir():
        source = name
    elif name in KNOWN_CONFIGS:
        source = str(CONFIG_DIR / KNOWN_CONFIGS[name])
    else:
        source = name
    try:
        return AutoConfig.from_pretrained(source)
    except Exception as exc:
        raise SettingsError(
            f"no config for {name!r} ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}): "
            f"pass a model folder with config.json, or one of {', '.join(KNOWN_CONFIGS)}"
        ) from None


_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def _config_dtype_bytes(config: Any) -> int:
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return _DTYPE_BYTES.get(str(dtype).removeprefix("torch."), 4)


@functools.lru_cache(maxsize=8)
def _meta_model_counts(config_json: str, regex: str, rank: int) -> tuple[int, int, int, int, tuple]:
    """(parameters, vision parameters, LoRA parameters, one layer's parameters, targeted modules) of a config."""
    import json

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    data = json.loads(config_json)
    config = AutoConfig.for_model(**data)
    auto = (
        AutoModelForImageTextToText
        if getattr(config, "vision_config", None) is not None
        else AutoModelForCausalLM
    )
    with torch.device("meta"):
        model = auto.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in f".{n}" or "vision" in n)
    lora, layer0, modules = 0, None, {}
    pattern = re.compile(regex)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and pattern.fullmatch(name):
            lora += rank * (module.in_features + module.out_features)
            layer = re.search(r"\.layers\.(\d+)\.", name)
            if layer and layer.group(1) == "0":
                modules[name.rsplit(".", 1)[-1]] = module.in_features
        if layer0 is None and re.fullmatch(r"(?!.*(?:visual|vision)).*\.layers\.0", name):
            layer0 = sum(p.numel() for p in module.parameters())
    return total, vision, lora, layer0 or 0, tuple(sorted(modules.items()))


def model_shape(config: Any, settings: TrainSettings) -> ModelShape:
    """Exact parameter counts (on an empty meta-device model) and the text model's sizes."""
    from .train import lora_target_regex

    text = config.get_text_config()
    total, vision, lora, layer, modules = _meta_model_counts(
        config.to_json_string(use_diff=False),
        lora_target_regex(settings.lora.target_modules),
        settings.lora.rank,
    )
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return ModelShape(
        parameters=total,
        vision_parameters=vision,
        lora_parameters=lora,
        lora_modules_per_layer=dict(modules),
        largest_layer_parameters=layer,
        hidden_size=text.hidden_size,
        intermediate_size=text.intermediate_size,
        layers=text.num_hidden_layers,
        attention_heads=heads,
        kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=head_dim,
        vocab_size=text.vocab_size,
        weight_bytes=_config_dtype_bytes(config),
    )


# --------------------------------------------------------------------------- the estimate


class PhaseMemory(BaseModel):
    """Bytes per GPU alive at the peak of one phase of a step."""

    weights: int = 0
    lora_optimizer: int = 0
    activations: int = 0
    logits: int = 0
    generation_kv_cache: int = Field(
        0, description="KV cache and prefill of transformers generation, or vLLM's share"
    )

    @property
    def total(self) -> int:
        """All of it."""
        return self.weights + self.lora_optimizer + self.activations + self.logits + self.generation_kv_cache


class MemoryEstimate(BaseModel):
    """The estimate for one GPU, by phase, with what it was computed from."""

    model: str
    stage: Stage
    device: Device
    gpus: int
    zero_stage: int
    gpu_memory: int = Field(description="bytes of one GPU")
    shape: ModelShape
    inputs: dict[str, Any] = Field(description="token counts, batch sizes and switches the numbers assume")
    phases: dict[str, PhaseMemory]
    peak_phase: str
    peak: int = Field(description="bytes per GPU at the peak phase")
    usable: int = Field(
        description="gpu_memory less the headroom kept for the CUDA context and fragmentation"
    )
    fits: bool
    notes: list[str] = Field(default_factory=list)

    def table(self) -> str:
        """The estimate as a plain-text table with the fit verdict and notes."""
        names = list(self.phases)
        rows = [
            ("weights", "weights"),
            ("LoRA + optimizer", "lora_optimizer"),
            ("activations", "activations"),
            ("logits", "logits"),
            ("generation KV cache", "generation_kv_cache"),
        ]
        width = max(len(n) for n in names) + 2
        lines = [
            f"{self.stage} run of {self.model} ({self.shape.parameters / 1e9:.2f}B parameters, "
            f"{self.shape.lora_parameters / 1e6:.1f}M LoRA) on {self.gpus} GPU(s), ZeRO-{self.zero_stage}",
            "inputs: " + ", ".join(f"{k}={v}" for k, v in self.inputs.items()),
            "",
            f"{'GiB per GPU':<22}" + "".join(f"{n:>{width}}" for n in names),
        ]
        for label, key in rows:
            lines.append(
                f"{label:<22}" + "".join(f"{gib(getattr(self.phases[n], key)):>{width}}" for n in names)
            )
        lines.append(f"{'total':<22}" + "".join(f"{gib(self.phases[n].total):>{width}}" for n in names))
        verdict = "fits" if self.fits else "does NOT fit"
        lines += [
            "",
            f"peak {gib(self.peak)} GiB ({self.peak_phase}) {verdict} in {gib(self.gpu_memory)} GiB "
            f"({gib(self.usable)} GiB usable after {HEADROOM:.0%} headroom)",
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _activation_dtype_bytes(settings: TrainSettings, weight_bytes: int, device: Device) -> int:
    precision = settings.precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "fp32"
    return 2 if precision in ("bf16", "fp16") or weight_bytes == 2 else 4


def layer_activation_bytes(
    shape: ModelShape,
    settings: TrainSettings,
    act: int,
    *,
    adapter_bytes: int,
    masked: bool,
    device: Device,
) -> float:
    """Bytes autograd saves per token in one decoder layer for the backward pass (training, LoRA, no checkpointing).

    ``act``: bytes of an activation (2 under bf16 autocast); ``adapter_bytes``: of a LoRA weight; ``masked``: the
    batch has padding (SDPA then repeats the key/value heads instead of using grouped-query attention).
    """
    h, i, r = shape.hidden_size, shape.intermediate_size, settings.lora.rank
    hq, hkv = shape.attention_heads * shape.head_dim, shape.kv_heads * shape.head_dim
    liger = settings.use_liger_kernel
    # RMSNorm x2: the fp32 input (HF's norm upcasts); Liger's norm keeps the input in its dtype
    total = 2 * h * (act if liger else 4)
    # LoRA: each targeted projection saves its (dropped-out) input for lora_A's weight gradient, and lora_A's
    # output for lora_B's. peft casts the input to the adapter's dtype first; under autocast lora_A then saves
    # its own bf16 copy. Dropout keeps its mask: a bool on CUDA, a tensor of the input's dtype on a CPU.
    modules = shape.lora_modules_per_layer
    dropout = settings.lora.dropout > 0
    if dropout or act != adapter_bytes:
        mask = (1 if device == "cuda" else adapter_bytes) if dropout else 0
        total += sum(size * (act + mask) for size in modules.values())
    else:  # no copies: q/k/v share the norm's output, gate/up the other's; o_proj's is the attention output
        shared = {"q_proj": "attn", "k_proj": "attn", "v_proj": "attn", "gate_proj": "mlp", "up_proj": "mlp"}
        inputs = {shared.get(name, name): size for name, size in modules.items() if name != "o_proj"}
        total += sum(inputs.values()) * act
    total += len(modules) * r * act
    # attention: rotated q and k, v (repeated to every head when masked), the output, fp32 log-sum-exp per head
    repeated = masked and settings.attn_implementation == "sdpa" and hkv != hq
    total += (2 * hq + 2 * (hq if repeated else hkv)) * act + 4 * shape.attention_heads
    # gated MLP: the SiLU input, its output and the up projection (Liger's fused SwiGLU recomputes the SiLU)
    total += (2 if liger else 3) * i * act
    return total


def _attention_scores_bytes(
    shape: ModelShape, settings: TrainSettings, act: int, seq: int, masked: bool
) -> float:
    """Per token per layer, the part of attention that grows with the sequence length: eager's scores, or the
    float mask SDPA makes of a boolean one (saved for its backward)."""
    if settings.attn_implementation == "eager":
        return shape.attention_heads * seq * (4 + act)
    if settings.attn_implementation == "sdpa" and masked:
        return seq * act
    return 0.0


def estimate_memory(
    settings: TrainSettings,
    *,
    gpu_memory: int = 80 * 2**30,
    gpus: int = 1,
    zero_stage: int = 0,
    stage: Stage = "grpo",
    device: Device = "cuda",
    prompt_tokens: int | None = None,
    score_all_positions: bool | None = None,
    padded: bool | None = None,
    config: Any = None,
) -> MemoryEstimate:
    """Estimated peak bytes per GPU of a ``stage`` run with ``settings``.

    ``prompt_tokens`` defaults to ``prompt_budget`` (every prompt at the budget) and completions are
    ``max_completion_length`` long. ``score_all_positions`` is whether trl's LM head scores prompt positions
    too (default: on CUDA no; on a CPU, for GRPO only with ``completion_only_head`` off, for trl's SFT loss yes). ``padded`` is whether a micro-batch has padding, so that SDPA gets
    an attention mask (default: yes, the worst case; a batch of one prompt's completions that all run to
    ``max_completion_length`` has none). ``config`` overrides reading ``settings.model``'s config.
    """
    if gpus < 1:
        raise SettingsError(f"gpus must be at least 1 (got {gpus})")
    if zero_stage not in (0, 1, 2, 3):
        raise SettingsError(f"zero_stage must be 0, 1, 2 or 3 (got {zero_stage})")
    config = config if config is not None else load_model_config(settings.model)
    shape = model_shape(config, settings)
    weight_bytes = {"auto": shape.weight_bytes, **_DTYPE_BYTES}[settings.dtype]
    act = _activation_dtype_bytes(settings, weight_bytes, device)
    adapter_bytes = weight_bytes if zero_stage == 3 else 4  # peft keeps adapters in fp32 unless ZeRO-3 (trl)
    notes: list[str] = []

    prompt = prompt_tokens if prompt_tokens is not None else settings.prompt_budget
    completion = settings.max_completion_length
    seq = prompt + completion
    batch = settings.per_device_batch_size
    generation_batch = batch * settings.gradient_accumulation_steps
    # sft's answer-only head (sft.answer_only_head) builds the full-vocabulary logits of the answer rows only
    answer_only = stage == "sft" and settings.sft.answer_only_head
    all_rows = (
        score_all_positions
        if score_all_positions is not None
        else device == "cpu" and (stage == "sft" or not settings.completion_only_head)  # the latter is GRPO's
    )
    all_rows = all_rows and not answer_only
    h = shape.hidden_size

    # weights and the adapter's optimizer
    weights_full = shape.parameters * weight_bytes
    weights_train = (
        weights_full
        if zero_stage < 3
        else weights_full / gpus + shape.largest_layer_parameters * weight_bytes
    )
    lora = shape.lora_parameters
    lora_opt = lora * (
        adapter_bytes / (gpus if zero_stage >= 3 else 1)  # weights
        + adapter_bytes / (gpus if zero_stage >= 2 else 1)  # gradients
        + 8 / (gpus if zero_stage >= 1 else 1)  # AdamW's two fp32 moments
    )

    # training, one micro-batch: autograd's saved activations, and the two moments of the backward pass that
    # peak: the LM head's (all activations saved, plus its tiles) and the last decoder layer's (plus its workspace)
    masked = settings.attn_implementation != "flash_attention_2" and (padded is None or padded)
    tokens = batch * seq
    per_layer = layer_activation_bytes(
        shape, settings, act, adapter_bytes=adapter_bytes, masked=masked, device=device
    )
    per_layer += _attention_scores_bytes(shape, settings, act, seq, masked)
    layer_inputs = shape.layers * tokens * h * act
    saved = layer_inputs if settings.gradient_checkpointing else shape.layers * tokens * per_layer
    shared = 2 * tokens * shape.head_dim * act  # rotary cos/sin
    if masked and settings.attn_implementation == "sdpa":
        shared += batch * seq * seq  # the boolean causal+padding mask, built once per forward
    head_input = tokens * (
        4 * h + act * h
    )  # the final norm's fp32 input and its output (the LM head's input)
    # recomputed layer (checkpointing) and the gradients inside one layer's backward
    backward = saved + (tokens * per_layer if settings.gradient_checkpointing else 0) + shared
    backward += tokens * (h + 2 * shape.intermediate_size) * act

    # the LM head (log-probs of the scored rows, in tiles)
    rows = batch * (seq - 1) if all_rows else batch * completion
    tile_rows = min(rows, LM_HEAD_TOKEN_CHUNK)
    tile_cols = min(shape.vocab_size, LM_HEAD_VOCAB_CHUNK)
    if device == "cuda":
        logits = tile_rows * tile_cols * act + rows * h * 4  # the tile buffer, fp32 hidden gradient
    else:
        logits = LM_HEAD_TORCH_TILES * tile_rows * tile_cols * 4 + rows * h * 4
    if not all_rows:
        logits += rows * h * act  # the gathered completion rows
    if answer_only:  # the kept rows' logits, their fp32 log-softmax and its gradient, no tiles
        logits = rows * shape.vocab_size * (act + 2 * 4) + rows * h * act

    phases = {
        "training: LM head": PhaseMemory(
            weights=weights_train,
            lora_optimizer=lora_opt,
            activations=saved + shared + head_input,
            logits=logits,
        ),
        "training: backward": PhaseMemory(
            weights=weights_train, lora_optimizer=lora_opt, activations=backward
        ),
    }
    inputs: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "sequences_per_backward": batch,
        "weight_bytes": weight_bytes,
        "activation_bytes": act,
        "gradient_checkpointing": settings.gradient_checkpointing,
        "attn": settings.attn_implementation,
        "liger": settings.use_liger_kernel,
        "lm_head_rows": rows,
    }

    if stage == "grpo":
        inputs["generation_batch"] = generation_batch
        if settings.use_vllm and settings.vllm_mode == "colocate":
            reserve = settings.vllm_gpu_memory_utilization * gpu_memory
            kv_need = (
                generation_batch
                * settings.vllm_model_length()
                * shape.layers
                * 2
                * shape.kv_heads
                * shape.head_dim
                * 2
            )
            if reserve < shape.parameters * 2 + kv_need:
                notes.append(
                    f"vllm_gpu_memory_utilization={settings.vllm_gpu_memory_utilization} reserves {gib(reserve)} GiB, "
                    f"less than vLLM's bf16 weights ({gib(shape.parameters * 2)} GiB) plus the KV cache of "
                    f"{generation_batch} sequences of {settings.vllm_model_length()} tokens ({gib(kv_need)} GiB)"
                )
            for phase in phases.values():  # vLLM keeps its share through training
                phase.generation_kv_cache = int(reserve)
            phases["generation"] = PhaseMemory(
                weights=weights_full, lora_optimizer=lora_opt, generation_kv_cache=int(reserve)
            )
            notes.append("vLLM colocated: its reserved share is counted in both phases (no sleep mode)")
        elif settings.use_vllm:
            notes.append("vLLM server: generation runs on the server's GPU; only training is counted here")
        else:
            kv = generation_batch * seq * shape.layers * 2 * shape.kv_heads * shape.head_dim * act
            # read_prompts_once (domvqa_train.common.shared_prompts) reads each distinct prompt once where
            # it applies (one process, no dropout in the generating model); the cache is then the whole batch's
            shared = (
                settings.read_prompts_once
                and settings.lora.dropout == 0
                and gpus == 1
                and settings.num_generations > 1
            )
            read = max(1, generation_batch // settings.num_generations) if shared else generation_batch
            if shared:
                notes.append(
                    f"generation reads each distinct prompt once: the prefill of {read} of {generation_batch} rows"
                )
            gen_tokens = read * prompt
            hq, hkv = shape.attention_heads * shape.head_dim, shape.kv_heads * shape.head_dim
            left_padded = read > 1 and settings.attn_implementation == "sdpa" and padded is not False
            attn_ws = (2 * h + 2 * hq + 2 * (hq if left_padded else hkv)) * act
            mlp_ws = (2 * h + 3 * shape.intermediate_size) * act
            prefill = gen_tokens * max(attn_ws, mlp_ws)
            if left_padded:  # left-padded prompts: a boolean mask and SDPA's float copy of it
                prefill += read * prompt * prompt * (1 + act)
            prefill += generation_batch * shape.vocab_size * 4 * 2  # the last position's logits and sampling
            phases["generation"] = PhaseMemory(
                weights=weights_full, lora_optimizer=lora_opt, generation_kv_cache=int(kv + prefill)
            )
    if zero_stage == 3:
        notes.append("ZeRO-3 gathers the whole model for generation (trl's ds3_gather_for_generation=True)")
    if settings.use_screenshots:
        notes.append(
            "screenshot tokens are inside prompt_budget; the frozen vision tower adds only transient memory"
        )
    if masked and settings.attn_implementation == "sdpa":
        notes.append(
            "sdpa with padding keeps a seq x seq attention mask per sequence (and a float copy per layer for the "
            "backward); attn_implementation=flash_attention_2 needs none"
        )
    phases = dict(sorted(phases.items(), key=lambda item: item[0] != "generation"))  # generation first
    peak_phase = max(phases, key=lambda n: phases[n].total)
    peak = phases[peak_phase].total
    usable = int(gpu_memory * (1 - HEADROOM))
    return MemoryEstimate(
        model=settings.model,
        stage=stage,
        device=device,
        gpus=gpus,
        zero_stage=zero_stage,
        gpu_memory=gpu_memory,
        shape=shape,
        inputs=inputs,
        phases={n: PhaseMemory(**{k: int(v) for k, v in p.model_dump().items()}) for n, p in phases.items()},
        peak_phase=peak_phase,
        peak=int(peak),
        usable=usable,
        fits=peak <= usable,
        notes=notes,
    )
