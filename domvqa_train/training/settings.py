"""One pydantic model for a training run, loadable from YAML/TOML and overridable with ``key=value``.

Everything that can be checked without loading a model is checked here, so a typo or an impossible
batch layout fails in a second instead of after the model has loaded.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domprune import PromptTemplate
from domprune.settings import OutputFormat

from ..errors import SettingsError
from ..prompts.presets import PRESETS, template_by_name

#: Options that older trl versions (or other GRPO scripts) accepted and that this package refuses.
REMOVED_OPTIONS: dict[str, str] = {
    "max_prompt_length": (
        "trl 1.x no longer truncates prompts, and this package does not either: domprune prunes every DOM "
        "so that the whole chat prompt fits `prompt_budget` tokens (counted by the model's tokenizer). "
        "Set `prompt_budget` instead"
    ),
    "max_length": "use `prompt_budget` (prompt tokens) and `max_completion_length` (generated tokens)",
    "truncation_side": "prompts are never truncated; domprune fits them to `prompt_budget`",
}

#: Language-model projection layers that LoRA adapts by default (Qwen2 / Qwen2.5-VL names).
DEFAULT_LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _reject_removed(data: Any, where: str) -> None:
    if isinstance(data, dict):
        for key in data:
            if key in REMOVED_OPTIONS:
                raise ValueError(f"{where}`{key}` is not supported: {REMOVED_OPTIONS[key]}")


class LoraSettings(BaseModel):
    """LoRA adapter on the language model only (the vision tower stays frozen and unadapted)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(64, ge=1, description="LoRA rank r")
    alpha: float = Field(128.0, gt=0, description="LoRA scaling alpha (effective scale alpha/rank)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA layers' input")
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LORA_MODULES),
        min_length=1,
        description="projection names inside the language model's decoder layers",
    )

    @field_validator("target_modules")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not name.isidentifier()]
        if bad:
            raise ValueError(f"target_modules must be plain layer names like 'q_proj', got {bad}")
        return value


class SftSettings(BaseModel):
    r"""`domvqa-train sft`: the supervised LoRA warm-up before GRPO (the rest of the run's settings are shared).

    The target of each prompt is ``\boxed{first answer}``, after the generator's reasoning when the prepared rows
    have a ``reasoning`` column and ``reasoning`` is on. The model, LoRA, batch, precision, prompt budget and the
    checkpoint/resume/save rules are the run's own, so `train --init-adapter <output_dir>/adapter` continues
    from exactly what was warmed up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    output_dir: str = Field(
        "runs/sft", description="checkpoints and the warmed-up adapter (<output_dir>/adapter)"
    )
    max_steps: int = Field(200, ge=1, description="optimizer steps of the warm-up")
    learning_rate: float = Field(
        2e-4, gt=0, description="warm-up learning rate (LoRA SFT usually takes a larger one than GRPO)"
    )
    reasoning: bool = Field(
        True, description="put the generator's reasoning before the box when the prepared rows have one"
    )
    answer_only_head: bool = Field(
        True,
        description="apply the LM head only at the answer's positions (the loss is the same; much less compute "
        "with a large vocabulary); false: trl's loss over every position",
    )


class TrainSettings(BaseModel):
    """Every setting of a GRPO LoRA run. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # model and backend
    model: str = Field(
        "Hcompany/Holo1-3B", description="model name in the local hub cache, or a local folder"
    )
    backend: str = Field("trl", description="training backend name (entry-point group domvqa_train.backends)")
    attn_implementation: Literal["sdpa", "flash_attention_2", "eager"] = Field(
        "sdpa", description="attention kernel of the model (transformers' attn_implementation)"
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="dtype the model's weights load in (auto: the checkpoint's own)"
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="mixed precision; auto = bf16 on a GPU that supports it, else fp32"
    )
    gradient_checkpointing: bool = Field(
        True,
        description="recompute each decoder layer's activations during the backward pass instead of storing them "
        "(transformers 5: activation_checkpointing); at 16K-token prompts the stored ones do not fit a GPU",
    )

    # data
    data: str | None = Field(None, description="raw data source for `prepare` (file, folder or hf:NAME)")
    prepared_dir: str = Field("runs/prepared", description="folder of prepared <split>.jsonl files")
    train_split: str = Field(
        "train", description="the prepared split that train and sft read (<split>.jsonl)"
    )
    eval_split: str | None = Field(
        None,
        description="split for eval/test; None: 'eval' (the original's name) or 'test', whichever exists",
    )
    tokenizer: str = Field("qwen2.5", description="tokenizer that counts prompt tokens during `prepare`")
    prompt_budget: int = Field(16384, ge=256, description="max tokens of the full prompt")
    template: PromptTemplate = Field(
        default_factory=PromptTemplate,
        description="prompt template: a name ('default', 'original') or {system, user, chat}; system null = "
        "no system message; chat false = a plain-string prompt (trl applies no chat template)",
    )
    dom_source: Literal["dom", "shortened_context"] = Field(
        "dom",
        description="'shortened_context': prompt with the original's LLM-shortened DOM instead of the page "
        "(for comparison; records without one are rejected)",
    )
    dom_format: OutputFormat = Field(
        "html",
        description="how prepare writes the pruned DOM into the prompt: html, text or markdown "
        "(domprune's PruneSettings.format)",
    )
    use_screenshots: bool = Field(False, description="give the page screenshot to a vision-language model")
    image_tokens: int = Field(
        0,
        ge=0,
        description="with use_screenshots: tokens of prompt_budget that `prepare` keeps free for the screenshot "
        "(Qwen2.5-VL: resized pixels / 784 + 2); training checks every prompt's exact total",
    )

    # LoRA and optimisation
    lora: LoraSettings = Field(
        default_factory=LoraSettings, description="the LoRA adapter (rank, alpha, dropout, modules)"
    )
    learning_rate: float = Field(5e-5, gt=0, description="peak learning rate of the AdamW optimizer")
    lr_scheduler_type: Literal[
        "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
        "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
    ] = Field("linear", description="learning-rate schedule (transformers' names)")  # fmt: skip
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of max_steps spent warming up")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    adam_beta2: float = Field(0.999, gt=0.0, lt=1.0, description="AdamW beta2")
    per_device_batch_size: int = Field(1, ge=1, description="prompts per device per forward pass")
    gradient_accumulation_steps: int = Field(
        8, ge=1, description="forward passes summed into one optimizer step"
    )
    max_steps: int = Field(1000, ge=1, description="optimizer steps of the run")
    seed: int = Field(42, description="seed of data order, sampling and adapter initialisation")

    # GRPO
    num_generations: int = Field(4, description="completions per prompt (>= 2)")
    max_completion_length: int = Field(64, ge=1, description="max generated tokens per completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the completions")
    top_p: float = Field(1.0, gt=0, le=1.0, description="nucleus sampling of the completions (1 = off)")
    beta: float = Field(0.0, ge=0, description="KL coefficient (0 = no reference model)")
    rewards: dict[str, float] = Field(
        default_factory=lambda: {"original": 1.0}, description="reward name -> weight (domvqa_train.rewards)"
    )
    use_vllm: bool = Field(False, description="generate with vLLM (pip install vllm) instead of transformers")
    vllm_mode: Literal["server", "colocate"] = Field(
        "colocate",
        description="colocate: a vLLM engine inside each training process, on its GPU (one GPU is enough); "
        "server: a `trl vllm-serve` server on a GPU of its own",
    )

    # GRPO at long prompts: loss, clipping, kernels, vLLM (the README's "GRPO settings" gives each default's reason)
    loss_type: Literal["dapo", "dr_grpo", "grpo", "bnpo"] = Field(
        "dapo",
        description="trl's loss aggregation: dapo = token mean over the whole accumulated batch (no length bias, "
        "the same loss at batch 1 x accumulation 8 as at batch 8); dr_grpo = sum / (batch x max_completion_length); "
        "grpo = per-sequence mean (favours short right and long wrong answers); bnpo = token mean per micro-batch",
    )
    importance_sampling_level: Literal["token", "sequence"] = Field(
        "token",
        description="token: one importance ratio per token; sequence: one per completion (GSPO, needs loss_type=grpo)",
    )
    epsilon: float = Field(
        0.2, gt=0, lt=1, description="lower clipping range of the importance ratio (1 - epsilon)"
    )
    epsilon_high: float | None = Field(
        0.28,
        gt=0,
        description="upper clipping range (1 + epsilon_high; DAPO's clip-higher); null = epsilon",
    )
    use_liger_kernel: bool = Field(
        False,
        description="Liger's Triton kernels for the model's layers (pip install liger-kernel; a CUDA GPU). trl 1.16 "
        "already scores log-probs with a chunked LM head, so no full logits tensor is built either way",
    )
    completion_only_head: bool = Field(
        True,
        description="on a CPU, trl's chunked LM head scores the completion positions only, as it does on CUDA "
        "with Triton (the same log-probs; the prompt positions were most of a CPU step); false: every position",
    )
    read_prompts_once: bool = Field(
        True,
        description="without vLLM, generation reads each distinct prompt of a GRPO batch once and shares its "
        "cache with the prompt's other completions (the same completions; trl repeats every prompt "
        "num_generations times and generate would read each copy); false: every copy. It applies where the "
        "completions stay the same: one process and no dropout while generating (lora.dropout 0; trl "
        "generates in training mode, so with dropout each copy is read as it is)",
    )
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, description="vllm_mode=colocate: the share of each GPU's memory vLLM reserves"
    )
    vllm_max_model_length: int | None = Field(
        None,
        ge=1,
        description="vLLM's context window; null = prompt_budget + max_completion_length (what one prompt and its "
        "completion need)",
    )
    init_adapter: str | None = Field(
        None, description="LoRA adapter folder that GRPO continues training (e.g. `domvqa-train sft`'s)"
    )
    sft: SftSettings = Field(default_factory=SftSettings, description="the `sft` warm-up's own settings")

    # saving
    output_dir: str = Field("runs/grpo", description="folder of checkpoints, the adapter and the run report")
    save_steps: int = Field(100, ge=1, description="write a checkpoint every N optimizer steps")
    save_total_limit: int | None = Field(
        3, ge=1, description="checkpoints kept (older ones are deleted; None: all)"
    )
    logging_steps: int = Field(10, ge=1, description="log loss and rewards every N optimizer steps")
    resume: bool = Field(True, description="continue from the last checkpoint in output_dir if there is one")
    merge_adapter: bool = Field(False, description="also save the base model with the adapter merged in")
    push_to_hub: str | None = Field(
        None,
        description="Hugging Face repo id (user/name) to upload the merged model (merge_adapter) or the adapter "
        "to after training, with a model card; token from HF_TOKEN",
    )
    hub_private: bool = Field(True, description="create the push_to_hub repo as private")
    preset: Literal["original"] | None = Field(
        None, description="settings preset applied under everything else ('original': the original trainer's)"
    )
    report_to: str = Field("none", description="experiment tracker for trl (none, wandb, tensorboard, ...)")
    trl_args: dict[str, Any] = Field(
        default_factory=dict, description="extra trl GRPOConfig options, passed through unchanged"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_removed_options(cls, data: Any) -> Any:
        _reject_removed(data, "")
        if isinstance(data, dict):
            _reject_removed(data.get("trl_args"), "trl_args.")
        return data

    @field_validator("template", mode="before")
    @classmethod
    def _template_by_name(cls, value: Any) -> Any:
        return template_by_name(value) if isinstance(value, str) else value

    @field_validator("push_to_hub")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is not None and (value.count("/") > 1 or not value.strip("/") or " " in value):
            raise ValueError(f"{value!r} is not a Hugging Face repo id; write it as user/name or name")
        return value

    @field_validator("num_generations")
    @classmethod
    def _at_least_two(cls, value: int) -> int:
        if value < 2:
            raise ValueError(
                f"GRPO compares completions of the same prompt, so it needs at least 2 (got {value})"
            )
        return value

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, value: dict[str, float]) -> dict[str, float]:
        from ..rewards import build_reward_funcs

        build_reward_funcs(value)  # RewardSpecError (a ValueError) names the known rewards
        return value

    @model_validator(mode="after")
    def _room_for_text(self) -> TrainSettings:
        if self.use_screenshots and not self.template.chat:
            raise ValueError(
                "use_screenshots needs a chat prompt (the image goes into a chat message); set template.chat "
                "to true, or use_screenshots to false"
            )
        if self.image_tokens >= self.prompt_budget:
            raise ValueError(
                f"image_tokens ({self.image_tokens}) must leave room for the text in prompt_budget "
                f"({self.prompt_budget}); lower image_tokens or the image processor's max_pixels"
            )
        return self

    @model_validator(mode="after")
    def _grpo_combinations(self) -> TrainSettings:
        if self.importance_sampling_level == "sequence" and self.loss_type != "grpo":
            raise ValueError(
                f"importance_sampling_level=sequence (GSPO) needs loss_type=grpo: {self.loss_type} sums per-token terms, "
                "which weights each completion by its length instead of optimising the per-sequence objective"
            )
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ValueError(
                f"epsilon_high ({self.epsilon_high}) must be at least epsilon ({self.epsilon}): the upper clipping "
                "range is 1 + epsilon_high; set it to null to use epsilon on both sides"
            )
        needed = self.prompt_budget + self.max_completion_length
        if self.vllm_max_model_length is not None and self.vllm_max_model_length < needed:
            raise ValueError(
                f"vllm_max_model_length ({self.vllm_max_model_length}) must hold a whole prompt and its completion: "
                f"prompt_budget + max_completion_length = {needed}; raise it or leave it unset"
            )
        if self.vllm_mode == "server" and "vllm_gpu_memory_utilization" in self.model_fields_set:
            raise ValueError(
                "vllm_gpu_memory_utilization applies to vllm_mode=colocate; a vLLM server takes it on its own command "
                "line (trl vllm-serve --gpu_memory_utilization ...)"
            )
        return self

    def vllm_model_length(self) -> int:
        """vLLM's context window: ``vllm_max_model_length``, or a whole prompt plus its completion."""
        return self.vllm_max_model_length or self.prompt_budget + self.max_completion_length

    def check_environment(self) -> None:
        """Raise :class:`SettingsError` when an option needs a package or a folder that is not there.

        Called before the model loads (``train``, ``sft``); ``plan`` does not, so a run for a GPU machine can be
        planned on a laptop.
        """
        if self.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
            raise SettingsError(
                "use_liger_kernel=true needs liger-kernel: pip install liger-kernel (CUDA GPUs only)"
            )
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise SettingsError("use_vllm=true needs vLLM: pip install vllm, or set use_vllm=false")
        if self.init_adapter is not None and not (Path(self.init_adapter) / "adapter_config.json").is_file():
            raise SettingsError(
                f"init_adapter {self.init_adapter!r} is not a LoRA adapter folder (no adapter_config.json); "
                "pass the `adapter` folder that `domvqa-train sft` wrote, e.g. runs/sft/adapter"
            )

    def generation_batch_size(self, num_processes: int) -> int:
        """Completions generated per optimisation round across all processes (trl's rule)."""
        return self.per_device_batch_size * num_processes * self.gradient_accumulation_steps

    def check_batch(self, num_processes: int) -> None:
        """Raise :class:`SettingsError` unless trl's generation batch holds whole groups of ``num_generations``.

        trl 1.x (GRPOConfig) sets ``generation_batch_size = per_device_train_batch_size * num_processes *
        gradient_accumulation_steps`` and requires it to be divisible by ``num_generations``.
        """
        total = self.generation_batch_size(num_processes)
        if total % self.num_generations:
            raise SettingsError(
                f"per_device_batch_size ({self.per_device_batch_size}) x processes ({num_processes}) x "
                f"gradient_accumulation_steps ({self.gradient_accumulation_steps}) = {total} completions per "
                f"round must be divisible by num_generations ({self.num_generations}); change "
                "gradient_accumulation_steps or num_generations"
            )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], overrides: list[str] | None = None) -> TrainSettings:
        """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file, then apply ``key=value`` overrides."""
        return cls.load(read_settings_file(path), overrides, source=str(path))

    @classmethod
    def load(
        cls, data: dict[str, Any] | None = None, overrides: list[str] | None = None, source: str = "settings"
    ) -> TrainSettings:
        """Validate ``data`` with dotted ``key=value`` overrides applied; errors become :class:`SettingsError`.

        A ``preset`` (in ``data`` or the overrides) is the base layer: every other value wins over it.
        """
        merged = apply_overrides(dict(data or {}), overrides or [])
        preset = merged.get("preset")
        if preset is not None:
            if preset not in PRESETS:
                raise SettingsError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
            merged = _deep_merge(PRESETS[preset], merged)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise SettingsError(f"invalid {source}: {format_validation_error(exc)}") from None


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s values over it; nested mappings merge key by key."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        out[key] = _deep_merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out


def launched_processes() -> int:
    """Number of processes of this launch (``WORLD_SIZE`` set by accelerate/torchrun), 1 when unset."""
    value = os.environ.get("WORLD_SIZE", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; `domvqa-train train --print-settings` shows them all)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def read_settings_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML or TOML settings file into a dict."""
    p = Path(path)
    if not p.is_file():
        raise SettingsError(f"settings file {str(p)!r} not found; pass an existing .yaml or .toml file")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError as exc:  # Python 3.10
                raise SettingsError("reading TOML needs Python 3.11+; use a .yaml settings file") from exc
            data: Any = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml", ".json"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise SettingsError(f"settings file {p.name!r}: use a .yaml, .yml or .toml file")
    except SettingsError:
        raise
    except Exception as exc:  # yaml/toml parse errors
        raise SettingsError(f"cannot parse {p.name}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{p.name} must hold a mapping of settings, not a {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"lora.rank=16"`` -> ``(["lora", "rank"], 16)``; the value is read as YAML (numbers, bools, lists)."""
    import yaml

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SettingsError(f"override {item!r} must look like key=value (e.g. lora.rank=16)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return ``data`` with each dotted ``key=value`` override set (nested dicts are created as needed)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, BaseModel):
                child = node[part] = child.model_dump()
            elif not isinstance(child, dict):
                raise SettingsError(f"override {item!r}: {part!r} is not a group of settings")
            else:
                child = node[part] = dict(child)
            node = child
        node[path[-1]] = value
    return data
