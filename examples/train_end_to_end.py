"""Prepare -> train -> evaluate (base vs adapter) -> answer a few questions, in one script.

Without ``--model`` it builds a tiny random Qwen2.5-VL model offline, so the whole pipeline runs on a
laptop CPU in about a minute (its answers are noise; the point is the plumbing). With a real model:

    python examples/train_end_to_end.py --model /path/to/Holo1-3B --data my_data.json \\
        --budget 16384 --steps 1000 --out runs/holo1

Each stage is one library call; the CLI (``domvqa-train prepare|train|eval|test``) does the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from domvqa_train.common.modelio import generate, load_for_inference
from domvqa_train.errors import DomVQAError
from domvqa_train.evaluation.eval import EvalSettings, evaluate_models
from domvqa_train.prompts.prepare import PrepareSettings, find_eval_split, load_prepared, prepare_dataset
from domvqa_train.training.backends import create_backend
from domvqa_train.training.settings import TrainSettings

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or cached name (default: a tiny random model)")
    parser.add_argument("--data", default=str(HERE / "sample_conversations.json"))
    parser.add_argument("--out", default="runs/end_to_end")
    parser.add_argument("--budget", type=int, default=1024, help="prompt token budget")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    out = Path(args.out)

    model = args.model
    if model is None:
        from domvqa_train.testing.tiny import build_tiny_model

        model = str(build_tiny_model(out / "tiny-model", "qwen2_5_vl"))
        print(f"built a tiny random model in {model}")
    settings = TrainSettings.load(
        {
            "model": model,
            "data": args.data,
            "prepared_dir": str(out / "prepared"),
            "output_dir": str(out / "run"),
            "prompt_budget": args.budget,
            "max_steps": args.steps,
            "num_generations": 2,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "save_steps": max(1, args.steps // 2),
            "rewards": {"original": 1.0, "format": 0.5},
        },
        args.overrides,
    )

    report = prepare_dataset(
        settings.data,
        settings.prepared_dir,
        PrepareSettings(
            tokenizer=settings.tokenizer, prompt_budget=settings.prompt_budget, template=settings.template
        ),
    )
    print(f"prepared: {report.written} written, {report.rejected} rejected (see rejects.jsonl)")

    trained = create_backend(settings).train()
    print(f"trained {trained.steps} steps; adapter in {trained.adapter_dir}")

    split = find_eval_split(settings.prepared_dir, settings.eval_split)
    test = load_prepared(settings.prepared_dir, split)
    scores = evaluate_models(
        [settings.model, trained.adapter_dir],
        test,
        EvalSettings(max_new_tokens=settings.max_completion_length, rewards=settings.rewards),
        split=split,
    )
    print(scores.table())
    print(f"report: {scores.write(out / 'eval')}")

    loaded = load_for_inference(trained.adapter_dir)
    few = test.select(range(min(2, len(test))))
    for row, answer in zip(few, generate(loaded, few["prompt"], max_new_tokens=32), strict=True):
        print(json.dumps({"question": row["question"], "expected": row["answers"], "model": answer}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DomVQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
