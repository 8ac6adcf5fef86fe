"""Does the RL loop learn? An extractive DOM question task, a tiny model, GRPO, a control, the curve.

Task: each page is a small product card with ``--fields`` colour fields (``Colour``, ``Trim``,
``Strap``, ...) holding distinct colours in a shuffled order; the question asks for the ``Colour``.
The tiny random Qwen2 model first gets a short supervised warm-up whose target is ``\\boxed{c}``: ``c``
is the right colour for a ``--warmup-correct`` fraction of the examples and otherwise a colour drawn AT
RANDOM among those written on the page, so the warm policy answers in the format but is right only part
of the time, and GRPO has reward variance to work with. Then GRPO trains a LoRA adapter through the
package's own code path (prepare -> ``TrlGrpoBackend``) with the exact-match reward, twice from the
same warm model with the same seed and steps:

* ``grpo``: the real reward;
* ``control``: the same rewards shuffled across the step's completions (same mean, no information),
  so a rise that the control does not show is attributable to the reward signal, not to the updates.

Held-out exact match (greedy decoding) is measured before and after each run. On CPU a step costs
seconds even for this tiny model: trl's fused LM head scores every completion token against the whole
151k-token vocabulary, and the backward pass through it dominates.

    python benchmarks/grpo_learning.py --out runs/grpo_learning

Writes ``grpo_learning.json`` (every number) and ``grpo_learning.png`` (the curves) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "blue", "green", "black", "white", "yellow", "purple", "orange"]
FIELDS = ["Colour", "Trim", "Strap", "Lining"]
PRODUCTS = ["scarf", "mug", "lamp", "chair", "backpack", "kettle", "notebook", "umbrella"]


def make_records(n: int, fields: int, palette: int, split: str, rng: random.Random) -> list[dict]:
    """``n`` raw records: a card with ``fields`` distinct colours (of the first ``palette``); the answer
    is the ``Colour`` field's."""
    records = []
    for i in range(n):
        product = rng.choice(PRODUCTS)
        colours = rng.sample(COLOURS[:palette], fields)
        rows = list(zip(FIELDS[:fields], colours, strict=True))
        rng.shuffle(rows)
        items = "".join(f"<li>{name}: {colour}</li>" for name, colour in rows)
        html = f"<div><h2>{product.title()}</h2><ul>{items}</ul></div>"
        records.append(
            {
                "id": f"{split}-{i}",
                "html": html,
                "question": f"What is the Colour of the {product}?",
                "answer": colours[0],
                "split": split,
                "page_colours": colours,
            }
        )
    return records


def warm_up(model_dir: Path, out_dir: Path, dataset, page_colours: dict[str, list[str]], args) -> dict:
    """Supervised warm-up on ``\\boxed{c}``: ``c`` is the right colour with probability
    ``--warmup-correct``, else a random colour of the page (format and copying only)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.warmup_lr)
    prompts = [
        tok(tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False), add_special_tokens=False)[
            "input_ids"
        ]
        for p in dataset["prompt"]
    ]
    ids_of = dataset["id"]
    losses = []
    for _ in range(args.warmup_steps):
        batch = rng.sample(range(len(prompts)), k=min(16, len(prompts)))
        ids, labels, completions = [], [], []
        for i in batch:
            colours = page_colours[ids_of[i]]  # colours[0] is the right answer
            answer = colours[0] if rng.random() < args.warmup_correct else rng.choice(colours)
            c = tok(f"\\boxed{{{answer}}}<|im_end|>", add_special_tokens=False)["input_ids"]
            ids.append(prompts[i] + c)
            labels.append([-100] * len(prompts[i]) + c)
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
    return {
        "steps": args.warmup_steps,
        "lr": args.warmup_lr,
        "correct_fraction": args.warmup_correct,
        "losses": losses,
    }


def evaluate(model: str, dataset, page_colours: dict[str, list[str]]) -> dict:
    """Greedy held-out scores, plus how often the boxed answer is some colour of the page (copy rate)."""
    from domvqa_train.evaluate import EvalSettings, evaluate_models
    from domvqa_train.rewards import extract_boxed

    report = evaluate_models(
        [model], dataset, EvalSettings(max_new_tokens=8, batch_size=32, rewards={"exact_match": 1.0})
    )
    scores = report.scores[0].model_dump(exclude={"model", "seconds"})
    rows = report.predictions[model]
    copied = [(extract_boxed(r["completion"]) or "").strip().lower() in page_colours[r["id"]] for r in rows]
    scores["copies_a_page_colour"] = sum(copied) / len(copied)
    return scores


class ShuffledReward:
    """Exact match with the values shuffled across the call's completions: same mean, no information."""

    __name__ = "shuffled_exact_match_reward"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        from domvqa_train.rewards import exact_match_reward

        values = exact_match_reward(completions, **kwargs)
        self.rng.shuffle(values)
        return values


def grpo_run(name: str, warm: Path, out: Path, args, reward_funcs=None) -> tuple[Any, float]:
    """One GRPO LoRA run from the warm model through ``TrlGrpoBackend``; returns (report, seconds)."""
    from domvqa_train.backends.trl_grpo import TrlGrpoBackend
    from domvqa_train.settings import TrainSettings

    settings = TrainSettings(
        model=str(warm),
        prepared_dir=str(out / "prepared"),
        output_dir=str(out / name),
        prompt_budget=256,
        max_steps=args.steps,
        per_device_batch_size=args.prompts * args.generations,
        gradient_accumulation_steps=1,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
        temperature=1.0,
        learning_rate=args.lr,
        lora={"rank": 16, "alpha": 32, "dropout": 0.0},
        rewards={"exact_match": 1.0},
        logging_steps=1,
        save_steps=args.steps,
        resume=False,
        gradient_checkpointing=False,
        dtype="float32",
        seed=args.seed,
    )
    started = time.perf_counter()
    backend = TrlGrpoBackend(settings, reward_funcs=reward_funcs, reward_weights=None)
    report = backend.train()
    return report, time.perf_counter() - started


def curve_of(report) -> list[dict]:
    """Per-step mean reward (= exact match of the step's sampled completions) from trl's log."""
    return [
        {
            "step": row["step"],
            "reward": row["reward"],
            "frac_reward_zero_std": row.get("frac_reward_zero_std"),
        }
        for row in report.log_history
        if "reward" in row
    ]


def _moving_mean(values: list[float], window: int) -> list[float]:
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]


def plot(curves: dict[str, list[dict]], chance: float, path: Path) -> None:
    """Per-step mean reward of the sampled completions (thin) and its moving mean (thick), per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in curves.items():
        steps = [row["step"] for row in curve]
        values = [row["reward"] for row in curve]
        window = max(1, len(curve) // 10)
        (line,) = ax.plot(steps, values, alpha=0.2, linewidth=1)
        ax.plot(
            steps, _moving_mean(values, window), color=line.get_color(), label=f"{name} ({window}-step mean)"
        )
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"1 / fields ({chance:.2f})")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("exact match of the step's sampled completions")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("GRPO on an extractive DOM question task (tiny Qwen2, CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _first_last(curve: list[dict]) -> dict[str, float]:
    tenth = max(1, len(curve) // 10)
    first, last = curve[:tenth], curve[-tenth:]
    return {
        "train_reward_first_10pct_steps": sum(r["reward"] for r in first) / len(first),
        "train_reward_last_10pct_steps": sum(r["reward"] for r in last) / len(last),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/grpo_learning")
    parser.add_argument("--fields", type=int, default=2, help="colour fields per page (chance = 1/fields)")
    parser.add_argument("--colours", type=int, default=4, help="colour vocabulary size (>= --fields)")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--test", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64, help="tiny model hidden size")
    parser.add_argument("--layers", type=int, default=2, help="tiny model decoder layers")
    parser.add_argument("--warmup-steps", type=int, default=60)
    parser.add_argument("--warmup-lr", type=float, default=5e-3, help="warm-up (full model) learning rate")
    parser.add_argument(
        "--warmup-correct",
        type=float,
        default=0.0,
        help="fraction of warm-up targets that are the right colour (the rest: a random page colour)",
    )
    parser.add_argument("--steps", type=int, default=150, help="GRPO steps")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per GRPO step")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3, help="GRPO (LoRA) learning rate")
    parser.add_argument("--no-control", action="store_true", help="skip the shuffled-reward control run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 2 <= args.fields <= len(FIELDS):
        parser.error(f"--fields must be between 2 and {len(FIELDS)}")
    if not args.fields <= args.colours <= len(COLOURS):
        parser.error(f"--colours must be between --fields and {len(COLOURS)}")

    from domprune import PromptTemplate
    from domvqa_train.prepare import PrepareSettings, load_prepared, prepare_dataset
    from domvqa_train.tiny import build_tiny_model

    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    records = make_records(args.train, args.fields, args.colours, "train", rng) + make_records(
        args.test, args.fields, args.colours, "test", rng
    )
    page_colours = {r["id"]: r["page_colours"] for r in records}
    data = out / "data.jsonl"
    data.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "page_colours"}) + "\n" for r in records),
        encoding="utf-8",
    )
    template = PromptTemplate(system=None, user="<dom>{dom}</dom>\n{question} Answer in \\boxed{}.")
    prep = prepare_dataset(
        data,
        out / "prepared",
        PrepareSettings(prompt_budget=256, template=template, progress=False, resume=False),
    )
    train, test = load_prepared(out / "prepared", "train"), load_prepared(out / "prepared", "test")

    base = build_tiny_model(
        out / "base", "qwen2", hidden_size=args.hidden, layers=args.layers, seed=args.seed
    )
    warm = out / "warm"
    warm_started = time.perf_counter()
    warm_info = warm_up(base, warm, train, page_colours, args)
    warm_info["seconds"] = time.perf_counter() - warm_started
    before = evaluate(str(warm), test, page_colours)
    print("held-out after warm-up:", json.dumps(before), flush=True)

    runs: dict[str, dict] = {}
    result: dict[str, Any] = {}
    variants = [("grpo", None)] + ([] if args.no_control else [("control", [ShuffledReward(args.seed)])])
    for name, funcs in variants:
        report, seconds = grpo_run(name, warm, out, args, reward_funcs=funcs)
        after = evaluate(report.adapter_dir, test, page_colours)
        curve = curve_of(report)
        runs[name] = {
            "reward": "exact match"
            if funcs is None
            else "exact match shuffled across each step's completions",
            "held_out_after": after,
            **_first_last(curve),
            "seconds": seconds,
            "seconds_per_step": seconds / max(1, report.steps),
            "curve": curve,
        }
        print(name, json.dumps({k: v for k, v in runs[name].items() if k != "curve"}), flush=True)
        result = {
            "command": "python " + " ".join(sys.argv),
            "args": vars(args),
            "exact_match_copying_a_random_page_colour": 1 / args.fields,
            "data": {"train": prep.written.get("train", 0), "test": prep.written.get("test", 0)},
            "example_prompt": train[0]["prompt"],
            "warm_up": warm_info,
            "held_out_before_grpo": before,
            "runs": runs,
            "total_seconds": time.perf_counter() - started,
        }
        # written after every run, so an interrupted benchmark keeps the runs it finished
        (out / "grpo_learning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        plot({n: run["curve"] for n, run in runs.items()}, 1 / args.fields, out / "grpo_learning.png")
    print(f"\nsummary (held-out exact match, greedy, n={len(test)})")
    print(f"  after warm-up          {before['exact_match']:.3f}")
    for name, run in runs.items():
        print(
            f"  after {name:<16} {run['held_out_after']['exact_match']:.3f}   train reward first->last 10% "
            f"of steps {run['train_reward_first_10pct_steps']:.3f} -> {run['train_reward_last_10pct_steps']:.3f}"
            f"   {run['seconds']:.0f} s ({run['seconds_per_step']:.2f} s/step)"
        )
    print(f"  total {result['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
