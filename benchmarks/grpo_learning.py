"""Does the RL loop learn? A synthetic DOM question task, a tiny model, GRPO, and the reward curve.

Task: each page is a small product card whose ``Colour:`` field holds one of ``--words`` colours; the
question asks for the colour. The tiny random Qwen2 model first gets a short supervised warm-up on
``\\boxed{<colour>}`` answers whose colour is drawn AT RANDOM by default (it learns the answer format
and the colour words, not which colour is right, so exact match starts near chance). Then GRPO trains
a LoRA adapter with the exact-match + format rewards through the package's trl backend. The script
records the per-step rewards of the sampled completions and greedy held-out scores before and after
GRPO, so whether the loop learned at a given scale is read off the numbers, not assumed.

On CPU, trl scores every prompt position against the whole 151k-token vocabulary (its Triton path
that scores only completion tokens needs a GPU), so each step costs seconds even for a tiny model.

    python benchmarks/grpo_learning.py --out runs/grpo_learning

Writes ``grpo_learning.json`` (every number) and ``grpo_learning.png`` (the curve) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "blue", "green", "black", "white", "yellow", "purple", "orange"]
PRODUCTS = ["scarf", "mug", "lamp", "chair", "backpack", "kettle", "notebook", "umbrella"]


def make_records(n: int, words: list[str], split: str, rng: random.Random) -> list[dict]:
    """``n`` raw records (html/question/answer) with a uniformly drawn colour each."""
    records = []
    for i in range(n):
        colour, product = rng.choice(words), rng.choice(PRODUCTS)
        price = rng.randint(5, 99)
        html = f"<div><h2>{product.title()}</h2><p>Price: {price} EUR</p><p>Colour: {colour}</p></div>"
        question = f"What colour is the {product}?"
        records.append(
            {"id": f"{split}-{i}", "html": html, "question": question, "answer": colour, "split": split}
        )
    return records


def warm_up(
    model_dir: Path, out_dir: Path, dataset, words: list[str], steps: int, lr: float, seed: int, correct: bool
) -> dict:
    """Supervised warm-up on ``\\boxed{colour}``; with ``correct=False`` the colour is random (format only)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    prompts = [
        tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in dataset["prompt"]
    ]
    losses = []
    for _ in range(steps):
        batch = rng.sample(range(len(prompts)), k=min(16, len(prompts)))
        ids, labels, completions = [], [], []
        for i in batch:
            p = tok(prompts[i], add_special_tokens=False)["input_ids"]
            answer = dataset[i]["answers"][0] if correct else rng.choice(words)
            c = tok(f"\\boxed{{{answer}}}<|im_end|>", add_special_tokens=False)["input_ids"]
            ids.append(p + c)
            labels.append([-100] * len(p) + c)
            completions.append(c)
        width = max(map(len, ids))
        keep = max(len(c) for c in completions) + 1  # logits only where a completion token is predicted
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
        label_ids = torch.tensor([[-100] * (width - len(x)) + x for x in labels])[:, -keep + 1 :]
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), label_ids.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return {"steps": steps, "lr": lr, "answers": "correct" if correct else "random", "losses": losses}


def evaluate(model: str, dataset, rewards: dict[str, float]) -> dict:
    from domvqa_train.evaluate import EvalSettings, evaluate_models

    report = evaluate_models(
        [model], dataset, EvalSettings(max_new_tokens=12, batch_size=16, rewards=rewards)
    )
    return report.scores[0].model_dump(exclude={"model", "seconds"})


def _moving_mean(values: list[float], window: int) -> list[float]:
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]


def plot(curve: list[dict], chance: float, path: Path) -> None:
    """Per-step means of the sampled completions' rewards (thin) and their moving means (thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in curve]
    window = max(1, len(curve) // 6)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (
        ("reward", "total reward"),
        ("format", "format reward"),
        ("exact_match", "exact match"),
    ):
        values = [row[key] for row in curve]
        (line,) = ax.plot(steps, values, alpha=0.25, linewidth=1)
        ax.plot(
            steps, _moving_mean(values, window), color=line.get_color(), label=f"{label} ({window}-step mean)"
        )
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"exact-match chance ({chance:.2f})")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean over the step's sampled completions")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("GRPO on a synthetic DOM question task (tiny Qwen2, CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/grpo_learning")
    parser.add_argument("--words", type=int, default=4, help="number of possible colours (chance = 1/words)")
    parser.add_argument("--train", type=int, default=128)
    parser.add_argument("--test", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=40)
    parser.add_argument("--steps", type=int, default=24, help="GRPO steps")
    parser.add_argument("--warmup-lr", type=float, default=5e-3, help="warm-up (full model) learning rate")
    parser.add_argument("--lr", type=float, default=3e-3, help="GRPO (LoRA) learning rate")
    parser.add_argument(
        "--warmup-answers",
        choices=["random", "correct"],
        default="random",
        help="warm-up targets: a random colour (format only; default) or the right one",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 2 <= args.words <= len(COLOURS):
        parser.error(f"--words must be between 2 and {len(COLOURS)}")

    from domprune import PromptTemplate
    from domvqa_train.backends.trl_grpo import TrlGrpoBackend
    from domvqa_train.prepare import PrepareSettings, load_prepared, prepare_dataset
    from domvqa_train.settings import TrainSettings
    from domvqa_train.tiny import build_tiny_model

    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    words = COLOURS[: args.words]
    records = make_records(args.train, words, "train", rng) + make_records(args.test, words, "test", rng)
    data = out / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    template = PromptTemplate(
        system=None, user="<dom>{dom}</dom>\nQuestion: {question}\nAnswer in \\boxed{}."
    )
    prep = prepare_dataset(
        data,
        out / "prepared",
        PrepareSettings(prompt_budget=256, template=template, progress=False, resume=False),
    )
    train, test = load_prepared(out / "prepared", "train"), load_prepared(out / "prepared", "test")

    base = build_tiny_model(out / "base", "qwen2", hidden_size=64, layers=2, seed=args.seed)
    warm = out / "warm"
    warm_info = warm_up(
        base,
        warm,
        train,
        words,
        args.warmup_steps,
        lr=args.warmup_lr,
        seed=args.seed,
        correct=args.warmup_answers == "correct",
    )
    rewards = {"exact_match": 1.0, "format": 0.5}
    before = evaluate(str(warm), test, rewards)

    settings = TrainSettings(
        model=str(warm),
        prepared_dir=str(out / "prepared"),
        output_dir=str(out / "grpo"),
        prompt_budget=256,
        max_steps=args.steps,
        per_device_batch_size=8,
        gradient_accumulation_steps=1,
        num_generations=8,
        max_completion_length=10,
        temperature=1.0,
        learning_rate=args.lr,
        lora={"rank": 16, "alpha": 32, "dropout": 0.0},
        rewards=rewards,
        logging_steps=1,
        save_steps=args.steps,
        resume=False,
        gradient_checkpointing=False,
        dtype="float32",
        seed=args.seed,
    )
    grpo_started = time.perf_counter()
    report = TrlGrpoBackend(settings).train()
    grpo_seconds = time.perf_counter() - grpo_started
    after = evaluate(report.adapter_dir, test, rewards)

    curve = [
        {
            "step": row["step"],
            "reward": row["reward"],
            "exact_match": row["rewards/exact_match_reward/mean"],
            "format": row["rewards/format_reward/mean"],
            "frac_reward_zero_std": row.get("frac_reward_zero_std"),
        }
        for row in report.log_history
        if "reward" in row
    ]
    tenth = max(1, len(curve) // 10)
    first, last = curve[:tenth], curve[-tenth:]
    result = {
        "command": "python " + " ".join(sys.argv),
        "chance_exact_match": 1 / args.words,
        "data": {"train": prep.written.get("train", 0), "test": prep.written.get("test", 0), "words": words},
        "warm_up": warm_info,
        "settings": settings.model_dump(),
        "held_out_before_grpo": before,
        "held_out_after_grpo": after,
        "train_reward_first_10pct_steps": sum(r["reward"] for r in first) / len(first),
        "train_reward_last_10pct_steps": sum(r["reward"] for r in last) / len(last),
        "train_exact_match_first_10pct_steps": sum(r["exact_match"] for r in first) / len(first),
        "train_exact_match_last_10pct_steps": sum(r["exact_match"] for r in last) / len(last),
        "grpo_seconds": grpo_seconds,
        "total_seconds": time.perf_counter() - started,
        "curve": curve,
    }
    (out / "grpo_learning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(curve, 1 / args.words, out / "grpo_learning.png")
    keys = ("format_accuracy", "exact_match", "mean_reward")
    print(json.dumps({k: v for k, v in result.items() if k != "curve" and k != "settings"}, indent=2))
    print("held-out", {k: (round(before[k], 3), round(after[k], 3)) for k in keys})
    return 0


if __name__ == "__main__":
    sys.exit(main())
