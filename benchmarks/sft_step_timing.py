"""Seconds per `sft` step of a real pretrained model on real pages, with the LM head over every position
(trl's loss) and over the answer's positions only (`sft.answer_only_head`, the default), same data, same run.

    python benchmarks/sft_step_timing.py --model models/gemma-3-270m --corpus ../shared/corpora \
        --budgets 384 768 --steps 3

Questions: `generate --generator rules` on the first `--pages` swde-book pages; prompts: `prepare` with the
model's own tokenizer (hf:DIR) and a plain-string template (the base model has no chat template). Each run
is batch 1 x accumulation 4 and reports the median of its steps after the first (the first warms up).
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
from domvqa_train.training.settings import TrainSettings
from domvqa_train.training.sft import SftRun


def _questions(corpus: Path, pages: int, out: Path) -> Path:
    folder = out / "pages"
    folder.mkdir(parents=True)
    for page in sorted((corpus / "swde-book" / "pages").glob("*.htm"))[:pages]:
        (folder / page.name).write_bytes(page.read_bytes())
    generate_dataset(folder, out / "qa", GenerateSettings(per_page=2, progress=False), RulesGenerator())
    return out / "qa" / "qa.jsonl"


def _timed_run(model: str, prepared: Path, out: Path, budget: int, steps: int, answer_only: bool,
               checkpointing: bool) -> list[float]:  # fmt: skip
    from transformers import TrainerCallback

    settings = TrainSettings.load(
        {
            "model": model,
            "prepared_dir": str(prepared),
            "prompt_budget": budget,
            "template": {"system": None, "chat": False},
            "per_device_batch_size": 1,
            "gradient_accumulation_steps": 4,
            "max_completion_length": 64,
            "gradient_checkpointing": checkpointing,
            "dtype": "float32",
            "save_steps": 10_000,
            "logging_steps": 1,
            "lora": {"rank": 16, "alpha": 32},
            "sft": {"output_dir": str(out), "max_steps": steps, "answer_only_head": answer_only},
        }
    )
    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not ends:
                ends.append(time.perf_counter())

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    SftRun(settings, callbacks=[Clock()]).train()
    return [b - a for a, b in itertools.pairwise(ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="local transformers folder (domvqa-train model get)")
    parser.add_argument("--corpus", required=True, type=Path, help="the shared corpora folder")
    parser.add_argument("--budgets", type=int, nargs="+", default=[384, 768])
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (the first is dropped)")
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing on")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
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
                PrepareSettings(tokenizer=f"hf:{args.model}", prompt_budget=budget, template=template, progress=False),
            )
            for answer_only in (False, True):
                seconds = _timed_run(
                    args.model, prepared, work / f"sft-{budget}-{answer_only}", budget, args.steps, answer_only,
                    args.checkpointing,
                )  # fmt: skip
                row = {
                    "budget": budget,
                    "median_prompt_tokens": report.prompt_tokens.median,
                    "lm_head": "answer positions" if answer_only else "every position",
                    "checkpointing": args.checkpointing,
                    "step_seconds": [round(s, 1) for s in seconds],
                    "median_after_first": round(statistics.median(seconds[1:] or seconds), 1),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
