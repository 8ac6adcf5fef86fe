"""Seconds per `sft` or `train` (GRPO) step of a real pretrained model on real pages on a CPU, with the LM
head over every position and over the positions the loss needs only (`sft`: the answer's, with
`sft.answer_only_head`; GRPO: the completion's, with `completion_only_head`; both on by default), same data,
same run. With `--compare prompts` (GRPO): generation reading every copy of a prompt and each distinct
prompt once (`read_prompts_once`, on by default), both with the LM head at the completion only and LoRA
dropout 0 (trl generates in training mode: with dropout active each copy is read, so the comparison would
time the same path twice).

    python benchmarks/cpu_step_timing.py --model models/gemma-3-270m --corpus ../shared/corpora \
        --budgets 384 768 --steps 3
    python benchmarks/cpu_step_timing.py --stage grpo --model models/gemma-3-270m --corpus ../shared/corpora \
        --budgets 384 --steps 3
    python benchmarks/cpu_step_timing.py --stage grpo --compare prompts --model models/gemma-3-270m \
        --corpus ../shared/corpora --budgets 384 --steps 3

Questions: `generate --generator rules` on the first `--pages` swde-book pages; prompts: `prepare` with the
model's own tokenizer (hf:DIR) and a plain-string template (the base model has no chat template). An sft
run is batch 1 x accumulation 4; a GRPO run is 4 completions of 16 tokens of one prompt a step (exact-match
reward). Each run reports the median of its steps after the first (the first warms up).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from domprune import PromptTemplate
from domvqa_train.data.generate import GenerateSettings, RulesGenerator, generate_dataset
from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset
from domvqa_train.training.settings import LoraSettings, TrainSettings
from domvqa_train.training.sft import SftRun
from domvqa_train.training.train import TrlGrpoBackend


def _questions(corpus: Path, pages: int, out: Path) -> Path:
    folder = out / "pages"
    folder.mkdir(parents=True)
    for page in sorted((corpus / "swde-book" / "pages").glob("*.htm"))[:pages]:
        (folder / page.name).write_bytes(page.read_bytes())
    generate_dataset(folder, out / "qa", GenerateSettings(per_page=2, progress=False), RulesGenerator())
    return out / "qa" / "qa.jsonl"


def _timed_run(stage: str, model: str, prepared: Path, out: Path, budget: int, steps: int, head_on_needed: bool,
               checkpointing: bool, read_prompts_once: bool, lora_dropout: float) -> list[float]:  # fmt: skip
    from transformers import TrainerCallback

    settings = TrainSettings.load(
        {
            "model": model,
            "prepared_dir": str(prepared),
            "prompt_budget": budget,
            "template": {"system": None, "chat": False},
            "per_device_batch_size": 1 if stage == "sft" else 4,
            "gradient_accumulation_steps": 4 if stage == "sft" else 1,
            "num_generations": 4,
            "max_completion_length": 64 if stage == "sft" else 16,
            "max_steps": steps,
            "output_dir": str(out),
            "rewards": {"exact_match": 1.0},
            "completion_only_head": head_on_needed,
            "read_prompts_once": read_prompts_once,
            "gradient_checkpointing": checkpointing,
            "dtype": "float32",
            "save_steps": 10_000,
            "logging_steps": 1,
            "lora": {"rank": 16, "alpha": 32, "dropout": lora_dropout},
            "sft": {"output_dir": str(out), "max_steps": steps, "answer_only_head": head_on_needed},
        }
    )
    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not ends:
                ends.append(time.perf_counter())

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    if stage == "sft":
        SftRun(settings, callbacks=[Clock()]).train()
    else:
        TrlGrpoBackend(settings, callbacks=[Clock()]).train()
    return [b - a for a, b in itertools.pairwise(ends)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="local transformers folder (domvqa-train model get)")
    parser.add_argument("--corpus", required=True, type=Path, help="the shared corpora folder")
    parser.add_argument("--stage", choices=["sft", "grpo"], default="sft")
    parser.add_argument("--budgets", type=int, nargs="+", default=[384, 768])
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (the first is dropped)")
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing on")
    parser.add_argument(
        "--compare",
        choices=["head", "prompts"],
        default="head",
        help="head: the LM head at every position vs the needed ones; prompts (GRPO): every copy of a prompt "
        "read by generate vs each distinct prompt once",
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    if args.compare == "prompts" and args.stage != "grpo":
        parser.error("--compare prompts times GRPO's generation: add --stage grpo")
    # (the prompts comparison trains without dropout, where reading each prompt once applies)
    dropout = 0.0 if args.compare == "prompts" else LoraSettings().dropout
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        qa = _questions(args.corpus, args.pages, work)
        for budget in args.budgets:
            prepared = work / f"prepared-{budget}"
            template = PromptTemplate(system=None, chat=False)
            report = prepare_dataset(
                qa,
                prepared,
                PrepareSettings(
                    tokenizer=f"hf:{args.model}", prompt_budget=budget, template=template, progress=False
                ),
            )
            for on in (False, True):
                needed_only, once = (on, False) if args.compare == "head" else (True, on)
                seconds = _timed_run(
                    args.stage, args.model, prepared, work / f"{args.stage}-{budget}-{args.compare}-{on}", budget,
                    args.steps, needed_only, args.checkpointing, once, dropout,
                )  # fmt: skip
                row = {
                    "stage": args.stage,
                    "budget": budget,
                    "median_prompt_tokens": report.prompt_tokens.median,
                    "lm_head": "positions the loss needs" if needed_only else "every position",
                    "prompts": "each distinct prompt read once" if once else "every copy read",
                    "checkpointing": args.checkpointing,
                    "lora_dropout": dropout,
                    "step_seconds": [round(s, 1) for s in seconds],
                    "median_after_first": round(statistics.median(seconds[1:] or seconds), 1),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
