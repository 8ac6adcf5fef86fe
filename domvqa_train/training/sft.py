r"""``domvqa-train sft``: a supervised LoRA warm-up on the prepared prompts, before GRPO, with trl's ``SFTTrainer``.

GRPO learns only from groups whose completions get different rewards; a model that has not learnt the
``\boxed{}`` answer format gets the lowest reward on every completion and GRPO has nothing to work with.
The warm-up teaches the format (and, from a ``reasoning`` column, how the generator reasoned) on the same
prompts GRPO will see: each prompt's target is :func:`sft_target`, the loss is on the completion only.
``train --init-adapter <sft.output_dir>/adapter`` then continues GRPO from the warmed-up adapter.

The run uses the settings of ``train`` (model, LoRA, batch, precision, prompt budget, checkpoints every
``save_steps``, resume, merge) with its own ``sft`` group (output folder, steps, learning rate, reasoning).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..errors import PrepareError, SettingsError
from .backends import TrainReport
from .report import StepClock, as_trainer_callback
from .settings import TrainSettings
from .train import TrlGrpoBackend, lora_config, trainer_options

REASONING_COLUMN = "reasoning"


def sft_target(answer: str, reasoning: str | None = None) -> str:
    r"""The assistant turn the warm-up teaches: ``\boxed{answer}``, after the reasoning when one is given.

    >>> print(sft_target("Paris"))
    \boxed{Paris}
    >>> print(sft_target("42", "The table lists 42 seats. "))
    The table lists 42 seats.
    \boxed{42}
    """
    box = f"\\boxed{{{answer.strip()}}}"
    return f"{reasoning.strip()}\n{box}" if reasoning and reasoning.strip() else box


def with_targets(dataset: Any, use_reasoning: bool) -> Any:
    """``dataset`` with a ``completion`` column: :func:`sft_target` of the first answer, as one assistant
    message after a chat prompt, or as a plain string after a plain-string prompt (``chat: false`` templates,
    e.g. a base model without a chat template). trl ends a plain-string target with the tokenizer's EOS token,
    and a chat target with the template's end of turn, so the model learns where its answer stops.
    """
    reasonings = (
        dataset[REASONING_COLUMN]
        if use_reasoning and REASONING_COLUMN in dataset.column_names
        else [None] * len(dataset)
    )
    plain = len(dataset) > 0 and isinstance(dataset[0]["prompt"], str)
    targets = [
        sft_target(answers[0], reasoning)
        for answers, reasoning in zip(dataset["answers"], reasonings, strict=True)
    ]
    completions = targets if plain else [[{"role": "assistant", "content": t}] for t in targets]
    return dataset.add_column("completion", completions)


def tokenized_plain_targets(dataset: Any, tokenizer: Any) -> Any:
    """``dataset`` (plain-string prompts with plain targets) as ``input_ids`` + ``completion_mask`` columns.

    The prompt is tokenized alone, as generation tokenizes it (with the tokenizer's special tokens, e.g. a
    base model's BOS), and the target + EOS after it. Tokenizing prompt and target as one string would let
    BPE merge the prompt's last characters with the target's first (``?`` and ``\\``): the model would
    then learn from a context it never sees when it answers.
    """
    prompts = tokenizer(list(dataset["prompt"]))["input_ids"]
    targets = tokenizer([target_text(c) for c in dataset["completion"]], add_special_tokens=False)[
        "input_ids"
    ]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids = [p + t + eos for p, t in zip(prompts, targets, strict=True)]
    masks = [[0] * len(p) + [1] * (len(t) + len(eos)) for p, t in zip(prompts, targets, strict=True)]
    rest = [c for c in dataset.column_names if c not in ("prompt", "completion")]
    return (
        dataset.remove_columns(["prompt", "completion", *rest])
        .add_column("input_ids", ids)
        .add_column("completion_mask", masks)
    )


def target_text(completion: str | list[dict[str, Any]]) -> str:
    """The text of a ``completion`` cell, plain or one assistant message."""
    return completion if isinstance(completion, str) else completion[0]["content"]


def check_targets_fit(dataset: Any, tokenizer: Any, max_tokens: int) -> int:
    """Raise unless every target fits ``max_tokens`` (GRPO's ``max_completion_length``); returns the longest.

    The warm-up must teach answers that GRPO can generate: a target longer than the completion GRPO samples
    would be cut there and score as unfinished.
    """
    texts = [target_text(c) for c in dataset["completion"]]
    end = tokenizer.eos_token or ""
    lengths = [len(ids) for ids in tokenizer([t + end for t in texts], add_special_tokens=False)["input_ids"]]
    over = [(row_id, n) for row_id, n in zip(dataset["id"], lengths, strict=True) if n > max_tokens]
    if over:
        shown = ", ".join(f"{row_id} ({n} tokens)" for row_id, n in over[:5])
        raise PrepareError(
            f"{len(over)} SFT target(s) are longer than max_completion_length={max_tokens} tokens, the most GRPO "
            f"generates: {shown}. Raise max_completion_length or set sft.reasoning=false (the box alone)"
        )
    return max(lengths, default=0)


def sft_config(settings: TrainSettings) -> Any:
    """trl ``SFTConfig`` for the warm-up: completion-only loss, no truncation (prompts and targets are checked)."""
    from trl import SFTConfig

    known = {f.name for f in dataclasses.fields(SFTConfig)}
    sft = settings.sft
    try:
        return SFTConfig(
            **trainer_options(
                settings,
                known,
                output_dir=sft.output_dir,
                learning_rate=sft.learning_rate,
                max_steps=sft.max_steps,
            ),
            completion_only_loss=True,
            max_length=None,  # never truncate: every prompt fits prompt_budget and every target max_completion_length
        )
    except ValueError as exc:
        raise SettingsError(f"trl rejected the SFT settings: {exc}") from None


def answer_positions_loss(
    model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
) -> tuple[Any, Any, Any]:
    """The causal-LM loss with the LM head applied only where a label follows (the answer), not at every
    prompt position; returns ``(loss, logits of those positions)``.

    A DOM prompt is hundreds of tokens and its answer a dozen; over a 262K-word vocabulary (Gemma 3) the LM
    head at every prompt position was most of a CPU step. The model is asked for the logits of the kept
    positions only (transformers' ``logits_to_keep`` with an index tensor), so the loss is the same sum of
    token cross-entropies over the same labels, divided by ``num_items_in_batch`` (or the labels' count).
    Returns ``(loss, logits, labels)`` of the kept positions.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    targets = labels[:, 1:]  # the token after position t is its label
    keep = (targets != -100).any(dim=0).nonzero().squeeze(-1)
    forward = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**forward, logits_to_keep=keep, use_cache=False).logits
    kept = targets[:, keep]
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), kept.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = (kept != -100).sum() if num_items_in_batch is None else num_items_in_batch
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1), logits, kept


def _accepts_logits_to_keep(model: Any) -> bool:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def answer_only_trainer_class() -> Any:
    """trl's ``SFTTrainer`` whose training loss applies the LM head to the answer's positions only
    (:func:`answer_positions_loss`); models whose forward takes no ``logits_to_keep`` keep trl's loss."""
    from trl import SFTTrainer

    class AnswerOnlySFTTrainer(SFTTrainer):  # type: ignore[misc, valid-type]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            if return_outputs or not _accepts_logits_to_keep(model):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            import torch

            loss, logits, kept = answer_positions_loss(model, inputs, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # as trl: DDP averages the gradients
            with torch.no_grad():
                valid = kept != -100
                correct = (logits.argmax(-1) == kept) & valid
                mode = "train" if model.training else "eval"
                metrics = getattr(self, "_metrics", None)
                if metrics is not None and valid.any():
                    metrics[mode]["mean_token_accuracy"].append((correct.sum() / valid.sum()).item())
            return loss

    return AnswerOnlySFTTrainer


class SftRun(TrlGrpoBackend):
    """The warm-up run. Loading, saving (adapter + tokenizer/processor + settings), merging and reloading are the
    GRPO backend's, so both stages leave the same kind of folder."""

    def __init__(self, settings: TrainSettings, *, callbacks: Sequence[Any] = ()) -> None:
        super().__init__(settings, callbacks=callbacks)

    def train(self) -> TrainReport:
        """Check settings and data, load the model, train (resuming if possible), save the adapter, write the report."""
        s = self.settings
        if s.init_adapter:
            raise SettingsError(
                "init_adapter is for `train` (GRPO from a warmed-up adapter); `sft` starts a new adapter"
            )
        s.check_environment()  # no check_batch: that rule is GRPO's (whole groups of completions); SFT samples none
        dataset, longest = self.checked_train_split()
        dataset = with_targets(dataset, s.sft.reasoning)
        check_targets_fit(dataset, self.tokenizer, s.max_completion_length)
        args = sft_config(s)
        if self.model is None:
            self.prepare_model()
        clock = StepClock()
        from trl import SFTTrainer

        trainer_class = answer_only_trainer_class() if s.sft.answer_only_head else SFTTrainer
        self.trainer = trainer_class(
            model=self.model,
            args=args,
            train_dataset=(
                tokenized_plain_targets(dataset.select_columns(["prompt", "completion"]), self.tokenizer)
                if isinstance(dataset[0]["prompt"], str)
                else dataset.select_columns(
                    [c for c in ("prompt", "completion", "image") if c in dataset.column_names]
                )
            ),
            processing_class=self.processor if self.processor is not None else self.tokenizer,
            peft_config=lora_config(s),
            callbacks=[as_trainer_callback(clock), *self.extra_callbacks],
        )
        return self.run_to_end(s.sft.output_dir, "sft", clock, len(dataset), longest, upload=False)
