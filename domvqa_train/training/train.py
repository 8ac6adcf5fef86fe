"""GRPO with a LoRA adapter on the language model, through trl's ``GRPOTrainer`` and peft.

trl 1.x does not truncate prompts; this backend re-counts every prepared prompt with the model's own
tokenizer and refuses to start when one is over ``prompt_budget`` (``prepare`` guarantees it).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..common.modelio import (
    LoadedModel,
    is_vision_language,
    load_for_inference,
    load_model,
    load_processor,
    load_tokenizer,
    prompt_text,
    stop_at_end_of_turn,
)
from ..common.screenshots import image_prompt_tokens, resolve_screenshots
from ..common.shared_prompts import prompts_read_once
from ..errors import DomVQAError, PrepareError, SettingsError
from .backends import TrainReport
from .hub import check_hub_access, upload_after_training
from .report import StepClock, as_trainer_callback, write_training_report
from .settings import TrainSettings, launched_processes

RewardFunc = Callable[..., list[float]]
SETTINGS_FILE = "domvqa_train_settings.json"

#: GRPOConfig options this backend sets from :class:`TrainSettings`; ``trl_args`` may not repeat them.
_MANAGED = {
    "output_dir": "output_dir",
    "learning_rate": "learning_rate",
    "lr_scheduler_type": "lr_scheduler_type",
    "warmup_steps": "warmup_ratio",
    "warmup_ratio": "warmup_ratio",
    "weight_decay": "weight_decay",
    "adam_beta2": "adam_beta2",
    "push_to_hub": "push_to_hub",
    "hub_model_id": "push_to_hub",
    "per_device_train_batch_size": "per_device_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "max_steps": "max_steps",
    "num_generations": "num_generations",
    "max_completion_length": "max_completion_length",
    "temperature": "temperature",
    "top_p": "top_p",
    "beta": "beta",
    "reward_weights": "rewards",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "logging_steps": "logging_steps",
    "seed": "seed",
    "report_to": "report_to",
    "gradient_checkpointing": "gradient_checkpointing",
    "activation_checkpointing": "gradient_checkpointing",
    "bf16": "precision",
    "fp16": "precision",
    "use_vllm": "use_vllm",
    "vllm_mode": "vllm_mode",
    "loss_type": "loss_type",
    "importance_sampling_level": "importance_sampling_level",
    "epsilon": "epsilon",
    "epsilon_high": "epsilon_high",
    "use_liger_kernel": "use_liger_kernel",
    "vllm_gpu_memory_utilization": "vllm_gpu_memory_utilization",
    "vllm_max_model_length": "vllm_max_model_length",
}


class TrainingInterrupted(DomVQAError, RuntimeError):
    """Training stopped early (Ctrl-C); checkpoints already written are kept."""


def lora_target_regex(modules: Sequence[str]) -> str:
    """A peft ``target_modules`` regex matching ``modules`` in decoder layers but never in a vision tower.

    >>> import re
    >>> rx = lora_target_regex(["q_proj"])
    >>> bool(re.fullmatch(rx, "model.language_model.layers.0.self_attn.q_proj"))
    True
    >>> bool(re.fullmatch(rx, "model.visual.blocks.0.attn.q_proj"))
    False
    """
    names = "|".join(sorted(set(modules)))
    return rf"^(?!.*(?:visual|vision)).*\.layers\.\d+\.(?:self_attn|mlp)\.(?:{names})$"


def lora_config(settings: TrainSettings) -> Any:
    """peft ``LoraConfig`` for the language model's projection layers."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora.rank,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=lora_target_regex(settings.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def prompt_lengths(prompts: Sequence[list[dict[str, Any]] | str], tokenizer: Any) -> list[int]:
    """Exact token count of each prompt as the model sees it: a chat prompt with its template and the
    generation prompt, a plain-string prompt as it is (trl applies no chat template to it)."""
    texts = [prompt_text(p, tokenizer) for p in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def check_prompts_fit(
    dataset: Any, tokenizer: Any, budget: int, image_tokens: Sequence[int] | None = None
) -> int:
    """Re-count every ``prompt`` with the model's tokenizer; raise unless all are <= ``budget``.

    ``image_tokens`` adds each row's screenshot tokens (:func:`~domvqa_train.common.screenshots.image_prompt_tokens`).
    Returns the longest prompt's token count.
    """
    lengths = prompt_lengths(dataset["prompt"], tokenizer)
    extra = list(image_tokens) if image_tokens is not None else [0] * len(lengths)
    totals = [n + e for n, e in zip(lengths, extra, strict=True)]
    over = [(row_id, n, e) for row_id, n, e in zip(dataset["id"], totals, extra, strict=True) if n > budget]
    if over:
        shown = ", ".join(
            f"{row_id} ({n} tokens{f', {e} of them the screenshot' if e else ''})"
            for row_id, n, e in over[:5]
        )
        fix = (
            "Reserve the screenshot's tokens when preparing (--set image_tokens=N; Qwen2.5-VL: resized pixels / 784 "
            "+ 2) or lower the image processor's max_pixels"
            if any(e for _, _, e in over)
            else "Run `domvqa-train prepare` again with this model's tokenizer (--set tokenizer=hf:/path/to/model)"
        )
        raise PrepareError(
            f"{len(over)} prepared prompt(s) exceed prompt_budget={budget} with the model's tokenizer: {shown}. {fix}"
        )
    return max(totals, default=0)


class RewardVarianceCallback:
    """Warn when every prompt's completions got the same reward: zero advantage, no learning signal."""

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold
        self.flat_steps: list[int] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any
    ) -> None:
        """Called by the trainer after each logging step."""
        frac = (logs or {}).get("frac_reward_zero_std")
        if frac is not None and frac >= self.threshold:
            self.flat_steps.append(state.global_step)
            warnings.warn(
                f"step {state.global_step}: all {args.num_generations} completions of each prompt got the same "
                "reward, so every advantage is zero and this step taught nothing. Raise temperature or "
                "num_generations, or add a graded reward (f1, anls)",
                RuntimeWarning,
                stacklevel=1,
            )


def trainer_options(
    settings: TrainSettings, known: set[str], *, output_dir: str, learning_rate: float, max_steps: int
) -> dict[str, Any]:
    """The trainer options a GRPO run and an SFT run share: batch, saving, logging, precision, checkpointing.

    ``known`` is the option names of the config class (its dataclass fields), to pick transformers 5's names.
    """
    return {
        "output_dir": output_dir,
        "learning_rate": learning_rate,
        "lr_scheduler_type": settings.lr_scheduler_type,
        _warmup_option(known): settings.warmup_ratio,
        "weight_decay": settings.weight_decay,
        "adam_beta2": settings.adam_beta2,
        "per_device_train_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_steps": max_steps,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "logging_steps": settings.logging_steps,
        "seed": settings.seed,
        "report_to": settings.report_to,
        _checkpointing_option(known): settings.gradient_checkpointing,
        **_precision_flags(settings.precision),
        "use_liger_kernel": settings.use_liger_kernel,
        "disable_tqdm": False,  # the progress bar stays when third-party logs are quieted (it follows their level)
        "remove_unused_columns": False,
        "use_cpu": not _has_accelerator(),  # also makes CPU multi-process (gloo) launches distributed
    }


def grpo_config(settings: TrainSettings, reward_weights: list[float]) -> Any:
    """trl ``GRPOConfig`` from the settings (plus ``trl_args``)."""
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    for key in settings.trl_args:
        if key in _MANAGED:
            raise SettingsError(f"trl_args.{key}: set it with the `{_MANAGED[key]}` setting instead")
        if key not in known:
            raise SettingsError(f"trl_args.{key}: not a trl GRPOConfig option (trl {_trl_version()})")
    kwargs: dict[str, Any] = {
        **trainer_options(
            settings,
            known,
            output_dir=settings.output_dir,
            learning_rate=settings.learning_rate,
            max_steps=settings.max_steps,
        ),
        "num_generations": settings.num_generations,
        "max_completion_length": settings.max_completion_length,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "beta": settings.beta,
        "reward_weights": reward_weights,
        "loss_type": settings.loss_type,
        "importance_sampling_level": settings.importance_sampling_level,
        "epsilon": settings.epsilon,
        "epsilon_high": settings.epsilon_high,
        "use_vllm": settings.use_vllm,
        "vllm_mode": settings.vllm_mode,
        "vllm_gpu_memory_utilization": settings.vllm_gpu_memory_utilization,
        "vllm_max_model_length": settings.vllm_model_length(),
        **settings.trl_args,
    }
    try:
        return GRPOConfig(**kwargs)
    except ValueError as exc:
        raise SettingsError(f"trl rejected the settings: {exc}") from None


def train_resuming(trainer: Any, output_dir: str, resume: bool) -> str | None:
    """Run ``trainer`` from the last checkpoint in ``output_dir`` (when ``resume``); returns that checkpoint.

    Ctrl-C becomes :class:`TrainingInterrupted`, which says which checkpoint is kept.
    """
    from transformers.trainer_utils import get_last_checkpoint

    start = get_last_checkpoint(output_dir) if resume and Path(output_dir).is_dir() else None
    try:
        trainer.train(resume_from_checkpoint=start)
    except KeyboardInterrupt:
        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        kept = f"the last checkpoint {last} is kept" if last else "no checkpoint was written yet"
        raise TrainingInterrupted(
            f"training interrupted at step {trainer.state.global_step}; {kept}. "
            "Run the same command again to resume (resume=true)"
        ) from None
    return start


def attach_adapter(model: Any, adapter_dir: str) -> Any:
    """``model`` with the LoRA adapter of ``adapter_dir`` loaded for further training (a peft ``PeftModel``)."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    except Exception as exc:
        raise SettingsError(f"cannot load init_adapter {adapter_dir!r} onto the model: {exc}") from None


def _warmup_option(known: set[str]) -> str:
    """The option that takes a share of the steps: ``warmup_ratio`` before transformers 5; transformers 5
    dropped it, and its ``warmup_steps`` takes a float below 1 as a share (below 1 it is a whole step
    count on 4.x, so 0.1 there would mean no warm-up).

    >>> _warmup_option({"warmup_ratio", "warmup_steps"}), _warmup_option({"warmup_steps"})
    ('warmup_ratio', 'warmup_steps')
    """
    return "warmup_ratio" if "warmup_ratio" in known else "warmup_steps"


def _checkpointing_option(known: set[str]) -> str:
    """transformers 5 renamed ``gradient_checkpointing`` to ``activation_checkpointing``."""
    return "activation_checkpointing" if "activation_checkpointing" in known else "gradient_checkpointing"


def _precision_flags(precision: str) -> dict[str, bool]:
    """``bf16``/``fp16`` trainer flags; ``auto`` is bf16 on a GPU that supports it, else fp32."""
    if precision == "auto":
        import torch

        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def _has_accelerator() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)
    return bool(accelerator.is_available()) if accelerator is not None else torch.cuda.is_available()


def _trl_version() -> str:
    import trl

    return trl.__version__


def _attach_images(dataset: Any, prepared_dir: str) -> Any:
    """Add an ``image`` column (decoded screenshots) that trl gives to vision-language models."""
    from datasets import Image

    dataset = resolve_screenshots(dataset, prepared_dir)
    return dataset.add_column("image", dataset["screenshot"]).cast_column("image", Image())


@contextmanager
def lm_head_on_completion_rows(enabled: bool = True) -> Iterator[bool]:
    """Inside the block, trl's fused LM head scores only the positions that have a label (the completion) on
    a CPU too; yields whether it does.

    trl 1.16 computes GRPO's log-probs with a chunked LM head. On Triton devices it projects only the
    labelled positions; elsewhere every position, prompt included, against the whole vocabulary, masked
    afterwards (fixed tile shapes for compilers such as Neuron's). On a CPU that is many times the work for
    the same log-probs. trl picks the rows with ``trl.trainer.utils._use_triton``, a private name: when it
    is gone, nothing is changed and the block runs trl's own path. The name is restored on exit.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        yield False
        return
    original = getattr(trl_utils, "_use_triton", None)
    if not enabled or original is None:
        yield False
        return

    def compact(device: Any) -> bool:
        return device.type == "cpu" or original(device)

    trl_utils._use_triton = compact
    try:
        yield True
    finally:
        trl_utils._use_triton = original


class TrlGrpoBackend:
    """GRPO LoRA training with trl; the ``trl`` backend.

    ``reward_funcs``/``reward_weights`` replace the ``rewards`` setting (e.g. a custom reward in a script).
    """

    def __init__(
        self,
        settings: TrainSettings,
        *,
        reward_funcs: Sequence[RewardFunc] | None = None,
        reward_weights: Sequence[float] | None = None,
        callbacks: Sequence[Any] = (),
    ) -> None:
        from ..rewards import build_reward_funcs

        self.settings = settings
        if reward_funcs is None:
            funcs, weights = build_reward_funcs(settings.rewards)
        else:
            funcs = list(reward_funcs)
            weights = list(reward_weights) if reward_weights is not None else [1.0] * len(funcs)
            if len(weights) != len(funcs):
                raise SettingsError(f"{len(funcs)} reward functions but {len(weights)} weights")
        self.reward_funcs, self.reward_weights = list(funcs), list(weights)
        self.extra_callbacks = list(callbacks)
        self.variance = RewardVarianceCallback()
        self.model: Any = None
        self.tokenizer: Any = None
        self.processor: Any = None
        self.trainer: Any = None

    # -- setup ---------------------------------------------------------------------------------
    def load_split(self, split: str) -> Any:
        """The prepared ``split``, with decoded screenshots in an ``image`` column on screenshot runs."""
        from ..prompts.prepare import load_prepared

        dataset = load_prepared(self.settings.prepared_dir, split)
        if len(dataset) == 0:
            raise PrepareError(f"prepared split {split!r} in {self.settings.prepared_dir} has no examples")
        if self.settings.use_screenshots:
            dataset = _attach_images(dataset, self.settings.prepared_dir)
        return dataset

    def checked_train_split(self) -> tuple[Any, int]:
        """The train split, every prompt re-counted with the model's tokenizer (screenshot tokens included) and
        refused if over ``prompt_budget``; and the longest prompt's tokens."""
        s = self.settings
        dataset = self.load_split(s.train_split)
        if self.tokenizer is None:
            self.tokenizer = load_tokenizer(s.model)
        image_tokens = None
        if s.use_screenshots:
            image_tokens = image_prompt_tokens(self._load_processor(), dataset["screenshot"])
        return dataset, check_prompts_fit(dataset, self.tokenizer, s.prompt_budget, image_tokens)

    def prepare_model(self) -> None:
        """Load tokenizer, processor (screenshot runs only) and model; LoRA is attached by the trainer."""
        s = self.settings
        if self.tokenizer is None:  # checked_train_split loads it first
            self.tokenizer = load_tokenizer(s.model)
        self._load_processor()
        self.model = load_model(s.model, attn_implementation=s.attn_implementation, dtype=s.dtype)
        stop_at_end_of_turn(self.model, self.tokenizer)  # GRPO stops at every eos id of the generation config

    def _load_processor(self) -> Any:
        """The image processor of a screenshot run (loaded once); ``None`` for text-only runs."""
        if self.settings.use_screenshots and self.processor is None:
            self.processor = load_processor(self.settings.model, required=True)
        return self.processor

    # -- training ------------------------------------------------------------------------------
    def train(self) -> TrainReport:
        """Check settings and data, load the model, train (resuming if possible), save the adapter, write the report."""
        from trl import GRPOTrainer

        s = self.settings
        s.check_batch(launched_processes())
        s.check_environment()
        if s.push_to_hub:
            check_hub_access(s.push_to_hub)  # before hours of training, not after
        dataset, longest = self.checked_train_split()
        args = grpo_config(s, self.reward_weights)
        if self.model is None:
            self.prepare_model()
        model = attach_adapter(self.model, s.init_adapter) if s.init_adapter else self.model
        clock = StepClock()
        self.trainer = GRPOTrainer(
            model=model,
            reward_funcs=self.reward_funcs,
            args=args,
            train_dataset=dataset,
            processing_class=self.processor if self.processor is not None else self.tokenizer,
            peft_config=None if s.init_adapter else lora_config(s),
            callbacks=[as_trainer_callback(self.variance), as_trainer_callback(clock), *self.extra_callbacks],
        )
        generating = self.trainer.accelerator.unwrap_model(self.trainer.model)  # what trl calls generate on
        with (
            lm_head_on_completion_rows(s.completion_only_head),
            prompts_read_once(generating, s.read_prompts_once),
        ):
            return self.run_to_end(s.output_dir, "grpo", clock, len(dataset), longest, upload=True)

    def run_to_end(
        self, out_dir: str, kind: str, clock: StepClock, examples: int, longest: int, *, upload: bool
    ) -> TrainReport:
        """Train (resuming when asked), write report.md (also after Ctrl-C), save the adapter and
        the merged model if asked, upload (``upload``: the Hub settings decide), and report."""
        from transformers.trainer_utils import get_last_checkpoint

        s = self.settings
        try:
            resume = train_resuming(self.trainer, out_dir, s.resume)
        finally:
            report_md = self.write_report(out_dir, kind, clock)
        adapter_dir = self.save(Path(out_dir) / "adapter")
        merged = self.merge(Path(out_dir) / "merged") if s.merge_adapter else None
        pushed = None
        if upload and self.trainer.accelerator.is_main_process:
            pushed = upload_after_training(
                s,
                str(adapter_dir),
                str(merged) if merged else None,
                steps=self.trainer.state.global_step,
                vision_language=is_vision_language(self.model.config),
            )
        return TrainReport(
            pushed_to=pushed,
            steps=self.trainer.state.global_step,
            adapter_dir=str(adapter_dir),
            merged_dir=str(merged) if merged else None,
            last_checkpoint=get_last_checkpoint(out_dir),
            resumed_from=resume,
            train_examples=examples,
            max_prompt_tokens=longest,
            report=str(report_md) if report_md else None,
            log_history=list(self.trainer.state.log_history),
        )

    def write_report(self, out_dir: str, kind: str, clock: StepClock) -> Path | None:
        """``report.md`` and plots of the run so far in ``out_dir`` (main process only; also after Ctrl-C)."""
        if self.trainer is None or not self.trainer.accelerator.is_main_process:
            return None
        return write_training_report(
            self.trainer.state.log_history,
            out_dir,
            kind=kind,  # type: ignore[arg-type]
            step_seconds=clock.seconds,
            num_generations=self.settings.num_generations,
        )

    # -- saving and loading ----------------------------------------------------------------------
    def save(self, out_dir: str | Path) -> Path:
        """Write the LoRA adapter, tokenizer, processor (if any) and the run's settings to ``out_dir``."""
        if self.trainer is None:
            raise DomVQAError("nothing to save yet: call train() first")
        out = Path(out_dir)
        self.trainer.save_model(str(out))
        if self.trainer.accelerator.is_main_process:
            self.tokenizer.save_pretrained(out)
            self._save_processor(out)
            (out / SETTINGS_FILE).write_text(self.settings.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return out

    def merge(self, out_dir: str | Path) -> Path:
        """Save the base model with the adapter merged into its weights (a standalone model folder)."""
        out = Path(out_dir)
        if self.trainer.accelerator.is_main_process:
            model = self.trainer.accelerator.unwrap_model(self.trainer.model)
            merged = model.merge_and_unload()
            merged.save_pretrained(out)
            self.tokenizer.save_pretrained(out)
            self._save_processor(out)
        return out

    def _save_processor(self, out: Path) -> None:
        """Save the image processor of a vision-language model, also after a text-only run, so that the
        saved folder can answer from screenshots (``eval --inputs screenshot``)."""
        processor = self.processor
        if processor is None and is_vision_language(self.model.config):
            processor = load_processor(self.settings.model, required=False)
        if processor is not None:
            processor.save_pretrained(out)

    def load_for_inference(self, path: str | Path) -> LoadedModel:
        """Load a saved adapter (or merged model) folder for generation."""
        return load_for_inference(
            str(path),
            attn_implementation=self.settings.attn_implementation,
            dtype=self.settings.dtype,
            images=self.settings.use_screenshots,
        )
