"""Does the RL loop learn? An extractive DOM question task, a tiny model, SFT warm-up, GRPO, a control, the curve.

Task: each page is a small product card with ``--fields`` colour fields (``Colour``, ``Trim``,
``Strap``, ...) holding distinct colours in a shuffled order; the question asks for the ``Colour``.
The tiny random Qwen2 model (Holo1's tokenizer) is first warmed up with the package's own ``sft`` run
(``SftRun``: trl's SFTTrainer, a LoRA adapter, loss on the ``\\boxed{c}`` completion only) on a warm-up
split of ``--warmup-copies`` rows per training page whose target ``c`` is the right colour (with
``--warmup-correct`` below 1, only that fraction of the rows; the rest get a colour drawn AT RANDOM
among those on the page). The warm-up stops at the first validation check that reaches
``--warmup-target-em``, so the warm policy answers in the format and reads the card, but is right only
part of the time, and GRPO has reward variance to work with. Then GRPO continues that adapter through
the package's own code path (prepare -> ``TrlGrpoBackend`` with ``init_adapter``) with the exact-match
reward, from the same warm adapter with the same seed and steps:

* ``grpo``: the real reward;
* ``control``: the same rewards shuffled across the step's completions (same mean, no information),
  so a rise that the control does not show is attributable to the reward signal, not to the updates.

Held-out exact match is measured before and after each run, greedy and sampled (4 answers per
example at temperature 1, sampled like trl's GRPO generation: the policy GRPO trains). The package's
defaults apply the LM head only where the loss needs it (``sft.answer_only_head``,
``completion_only_head``: on CPU trl would score every prompt position against the 151k-token
vocabulary); ``--score-all-positions`` turns both off.

One process, everything in turn::

    python benchmarks/grpo_learning.py --out runs/grpo_learning

or on two cores, warm-up once and the two runs side by side, then one JSON and plot::

    python benchmarks/grpo_learning.py --out runs/gl/warm --runs ''
    OMP_NUM_THREADS=1 python benchmarks/grpo_learning.py --out runs/gl/grpo --runs grpo --warm runs/gl/warm/warm &
    OMP_NUM_THREADS=1 python benchmarks/grpo_learning.py --out runs/gl/control --runs control --warm runs/gl/warm/warm
    wait; python benchmarks/grpo_learning.py --out runs/gl --combine runs/gl/warm runs/gl/grpo runs/gl/control

Writes ``grpo_learning.json`` (every number) and ``grpo_learning.png`` (the curves) to ``--out``; each
run folder (``warm``, ``grpo``, ``control``) also holds the package's ``report.md`` with its plots.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "blue", "green", "black", "white", "yellow", "purple", "orange"]
FIELDS = ["Colour", "Trim", "Strap", "Lining"]
USER_TEMPLATE = "<dom>{dom}</dom>\n{question} Answer in \\boxed{}."
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


def write_and_prepare(records: list[dict], data: Path, prepared: Path) -> Any:
    """Write the raw records as JSONL and prepare them (256-token prompts); returns prepare's report."""
    from domprune import PromptTemplate
    from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset

    data.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "page_colours"}) + "\n" for r in records),
        encoding="utf-8",
    )
    template = PromptTemplate(system=None, user=USER_TEMPLATE)
    settings = PrepareSettings(prompt_budget=256, template=template, progress=False, resume=False)
    return prepare_dataset(data, prepared, settings)


def warm_up_records(train: list[dict], copies: int, correct: float, rng: random.Random) -> list[dict]:
    """The ``warm`` split: ``copies`` rows per training page whose answer (the SFT target) is the right colour
    with probability ``correct``, else a colour of the page drawn at random (each row drawn apart)."""
    rows = []
    for record in train:
        colours = record["page_colours"]  # colours[0] is the right answer
        for k in range(copies):
            answer = colours[0] if rng.random() < correct else rng.choice(colours)
            rows.append({**record, "id": f"warm-{record['id']}-{k}", "answer": answer, "split": "warm"})
    return rows


def stop_at_validation_target(val, args) -> Any:
    """A trainer callback: every ``--warmup-check-every`` steps, greedy exact match of the adapter being trained
    on the validation pages; stops the warm-up at the first check that reaches ``--warmup-target-em``.

    When a tiny model starts to use the field label is a sudden, seed-dependent event (hundreds of steps
    apart between runs), so a fixed step count gives warm policies of very different skill; a target gives
    GRPO a comparable start: right part of the time, not always.
    """
    from transformers import TrainerCallback

    from domvqa_train.common.modelio import LoadedModel, generate
    from domvqa_train.rewards import exact_match_reward

    class StopAtTarget(TrainerCallback):
        def __init__(self) -> None:
            self.checks: list[dict[str, float]] = []

        def on_step_end(self, targs, state, control, model=None, processing_class=None, **kwargs):
            step = state.global_step
            if step % args.warmup_check_every and step != state.max_steps:
                return
            model.eval()
            side, processing_class.padding_side = processing_class.padding_side, "left"  # for generation
            loaded = LoadedModel(model, processing_class, None, False, "warm-up")
            answers = generate(loaded, val["prompt"], max_new_tokens=8, batch_size=32)
            processing_class.padding_side = side
            model.train()
            em = sum(exact_match_reward(answers, answers=val["answers"])) / len(answers)
            self.checks.append({"step": step, "val_exact_match": em})
            print(f"warm-up step {step}: validation exact match {em:.3f}", flush=True)
            if em >= args.warmup_target_em:
                control.should_training_stop = True

    return StopAtTarget()


def sharpen_output(model_dir: Path, factor: float) -> Path:
    """Multiply the tiny model's final RMSNorm weight by ``factor`` in place (its logits by ``factor``); returns it.

    A random model's output distribution is uniform (logits of std 0.16 at the default init), and a LoRA
    warm-up cannot sharpen it: the final norm and the output embeddings are frozen and LoRA only turns the
    hidden states, so a logit can rise at most |hidden| x |embedding| = 8 x 0.16 above the others and the
    151,936-token vocabulary keeps most of the probability. With the final norm's weight at 30 (logit std
    4.8) a hidden state turned toward one colour, or halfway between two, puts the mass there, as the sharp
    output of a trained model does (a LoRA warm-up of Holo1-3B starts from one). Only the output is scaled:
    the input embeddings, and so what the layers see, stay as initialised.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if factor == 1:
        return model_dir
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        model.model.norm.weight.mul_(factor)
    model.save_pretrained(model_dir)
    return model_dir


def warm_up(model_dir: Path, out_dir: Path, prepared: Path, val, args) -> dict:
    """The package's ``sft`` warm-up (``SftRun``) on the ``warm`` split, stopped at the validation target."""
    from domvqa_train.training.settings import TrainSettings
    from domvqa_train.training.sft import SftRun

    settings = TrainSettings(
        model=str(model_dir),
        prepared_dir=str(prepared),
        train_split="warm",
        prompt_budget=256,
        per_device_batch_size=16,
        gradient_accumulation_steps=1,
        num_generations=args.generations,  # not used by sft; keeps the batch rule of the run
        max_completion_length=args.max_completion_length,
        lora={"rank": args.lora_rank, "alpha": 2 * args.lora_rank, "dropout": 0.0},
        logging_steps=10,
        save_steps=args.warmup_steps,
        resume=False,
        gradient_checkpointing=False,
        completion_only_head=not args.score_all_positions,
        dtype="float32",
        seed=args.seed,
        sft={
            "output_dir": str(out_dir),
            "max_steps": args.warmup_steps,
            "learning_rate": args.warmup_lr,
            "answer_only_head": not args.score_all_positions,
        },
    )
    stopper = stop_at_validation_target(val, args)
    report = SftRun(settings, callbacks=[stopper]).train()
    losses = [row["loss"] for row in report.log_history if "loss" in row]
    return {
        "steps": report.steps,
        "max_steps": args.warmup_steps,
        "lr": args.warmup_lr,
        "lora_rank": args.lora_rank,
        "correct_fraction": args.warmup_correct,
        "copies_per_page": args.warmup_copies,
        "target_val_exact_match": args.warmup_target_em,
        "checks": stopper.checks,
        "losses_every_10_steps": losses,
        "adapter": report.adapter_dir,
        "report": report.report,
    }


def evaluate(model: str, dataset, page_colours: dict[str, list[str]], seed: int = 0) -> dict:
    """Held-out scores of greedy answers, plus how often the boxed answer is some colour of the page
    (copy rate), plus the exact match of 4 sampled answers per example at temperature 1 (no top-k, as
    trl samples during GRPO)."""
    import torch
    from datasets import concatenate_datasets

    from domvqa_train.evaluation.eval import EvalSettings, evaluate_models
    from domvqa_train.rewards import extract_boxed

    settings = EvalSettings(max_new_tokens=8, batch_size=32, rewards={"exact_match": 1.0})
    report = evaluate_models([model], dataset, settings)
    scores = report.scores[0].model_dump(exclude={"model", "seconds"})
    rows = report.predictions[model]
    copied = [(extract_boxed(r["completion"]) or "").strip().lower() in page_colours[r["id"]] for r in rows]
    scores["copies_a_page_colour"] = sum(copied) / len(copied)
    torch.manual_seed(seed)
    sampled = evaluate_models(
        [model], concatenate_datasets([dataset] * 4), settings.model_copy(update={"temperature": 1.0})
    )
    scores["sampled_exact_match"] = sampled.scores[0].exact_match
    return scores


class ShuffledReward:
    """A reward (exact match unless named) with the values shuffled across the call's completions:
    same mean, no information."""

    def __init__(self, seed: int, reward: str = "exact_match") -> None:
        from domvqa_train.rewards import REWARDS

        self.rng = random.Random(seed)
        self.reward = REWARDS[reward]
        self.__name__ = f"shuffled_{reward}_reward"

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float | None]:
        values = self.reward(completions, **kwargs)
        self.rng.shuffle(values)
        return values


def grpo_run(name: str, base: Path, warm: Path, out: Path, args, reward_funcs=None) -> tuple[Any, float]:
    """One GRPO run continuing the warm adapter through ``TrlGrpoBackend``; returns (report, seconds)."""
    from domvqa_train.training.settings import TrainSettings
    from domvqa_train.training.train import TrlGrpoBackend

    settings = TrainSettings(
        model=str(base),
        init_adapter=str(warm),
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
        rewards={"exact_match": 1.0},
        logging_steps=1,
        save_steps=args.steps,
        resume=False,
        gradient_checkpointing=False,
        completion_only_head=not args.score_all_positions,
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


_DATA_KEYS = ("fields", "colours", "train", "test", "seed", "hidden", "layers", "output_scale")
_GRPO_KEYS = ("steps", "prompts", "generations", "max_completion_length", "lr", "score_all_positions")


def evaluate_on_fresh_pages(results: dict[str, dict], n: int, out: Path) -> dict[str, Any]:
    """Greedy and sampled scores of the warm model and of every run's adapter on ``n`` new pages
    (a random stream of their own: none of them was seen in training, warm-up stopping or testing)."""
    from domvqa_train.prompts.prepare import load_prepared

    args = next(iter(results.values()))["args"]
    records = make_records(n, args["fields"], args["colours"], "fresh", random.Random(args["seed"] + 2))
    page_colours = {r["id"]: r["page_colours"] for r in records}
    write_and_prepare(records, out / "fresh.jsonl", out / "fresh_prepared")
    pages = load_prepared(out / "fresh_prepared", "fresh")
    models = {}
    for folder, result in results.items():
        if "reused" not in result["warm_up"]:
            models["warm-up"] = str(Path(folder) / "warm" / "adapter")
        for name in result["runs"]:
            models[name] = str(Path(folder) / name / "adapter")
    scores = {name: evaluate(path, pages, page_colours, seed=args["seed"]) for name, path in models.items()}
    return {"pages": len(pages), "scores": scores}


def combine(folders: list[str], out: Path, fresh: int = 0) -> int:
    """Merge the results of several processes into one ``grpo_learning.json`` and plot: a warm-up-only
    run (``--runs ''``) and ``--runs grpo`` / ``--runs control`` runs that reused its ``warm`` folder."""
    results = {f: json.loads((Path(f) / "grpo_learning.json").read_text(encoding="utf-8")) for f in folders}
    first = next(iter(results.values()))
    merged = {**first, "runs": {}, "commands": [r["command"] for r in results.values()]}
    merged.pop("command", None)
    first_run = next((r["args"] for r in results.values() if r["runs"]), None)
    for folder, result in results.items():
        checks = [(first["args"], _DATA_KEYS)] + ([(first_run, _GRPO_KEYS)] if result["runs"] else [])
        for reference, keys in checks:
            for key in keys:
                if result["args"][key] != reference[key]:
                    raise SystemExit(
                        f"cannot combine: {folder} has {key}={result['args'][key]!r}, not {reference[key]!r}"
                    )
        merged["runs"].update(result["runs"])
        if result["runs"]:  # the runs measured the warm model with the code they ran with
            merged["held_out_before_grpo"] = result["held_out_before_grpo"]
        if "reused" not in result["warm_up"]:
            merged["warm_up"] = result["warm_up"]
            warm = str(Path(folder) / "warm")
            reused = {r["warm_up"].get("reused") for r in results.values() if r["runs"]}
            if reused - {warm, None}:
                raise SystemExit(f"cannot combine: runs reused {reused}, not this warm-up's {warm}")
    merged["args"] = {k: v for k, v in first["args"].items() if k in _DATA_KEYS}
    if fresh:
        merged["fresh_pages"] = evaluate_on_fresh_pages(results, fresh, out)
    merged["total_seconds"] = sum(r["total_seconds"] for r in results.values())
    out.mkdir(parents=True, exist_ok=True)
    (out / "grpo_learning.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    chance = merged["exact_match_copying_a_random_page_colour"]
    plot({n: run["curve"] for n, run in merged["runs"].items()}, chance, out / "grpo_learning.png")
    before = merged["held_out_before_grpo"]
    print(
        f"after warm-up  held-out EM {before['exact_match']:.3f} (sampled {before['sampled_exact_match']:.3f})"
    )
    for name, run in merged["runs"].items():
        after = run["held_out_after"]
        print(
            f"{name:<14} held-out EM {after['exact_match']:.3f} (sampled {after['sampled_exact_match']:.3f})  "
            f"train reward first->last 10% {run['train_reward_first_10pct_steps']:.3f} -> "
            f"{run['train_reward_last_10pct_steps']:.3f}"
        )
    if fresh:
        print(f"on {merged['fresh_pages']['pages']} fresh pages:")
        for name, sc in merged["fresh_pages"]["scores"].items():
            print(f"  {name:<12} EM greedy {sc['exact_match']:.3f}  sampled {sc['sampled_exact_match']:.3f}")
    print(f"wrote {out / 'grpo_learning.json'} and {out / 'grpo_learning.png'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/grpo_learning")
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="DIR",
        help="only merge the grpo_learning.json of these --out folders into --out (no training)",
    )
    parser.add_argument(
        "--fresh",
        type=int,
        default=0,
        help="with --combine: also score the warm model and each run's adapter on this many new pages",
    )
    parser.add_argument("--fields", type=int, default=2, help="colour fields per page (chance = 1/fields)")
    parser.add_argument("--colours", type=int, default=4, help="colour vocabulary size (>= --fields)")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--test", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64, help="tiny model hidden size")
    parser.add_argument("--layers", type=int, default=2, help="tiny model decoder layers")
    parser.add_argument("--warmup-steps", type=int, default=1200, help="most warm-up steps")
    parser.add_argument(
        "--warmup-target-em",
        type=float,
        default=0.7,
        help="stop the warm-up once greedy exact match on the validation pages reaches this",
    )
    parser.add_argument("--warmup-check-every", type=int, default=100)
    parser.add_argument("--val", type=int, default=64, help="validation pages (warm-up stopping check)")
    parser.add_argument("--warmup-lr", type=float, default=5e-3, help="warm-up (sft, LoRA) learning rate")
    parser.add_argument("--warmup-copies", type=int, default=4, help="warm-up rows per training page")
    parser.add_argument(
        "--output-scale",
        type=float,
        default=30.0,
        help="multiply the random model's final norm weight, so its logits, by this (see sharpen_output)",
    )
    parser.add_argument(
        "--lora-rank", type=int, default=16, help="LoRA rank of the warm-up (GRPO continues it)"
    )
    parser.add_argument(
        "--warm",
        default=None,
        help="reuse this warm-up folder (an earlier run's OUT/warm, holding adapter/) instead of warming up",
    )
    parser.add_argument(
        "--score-all-positions",
        action="store_true",
        help="apply the LM head at every prompt position too (sft.answer_only_head and completion_only_head off: "
        "same numbers, several times slower steps on a CPU)",
    )
    parser.add_argument(
        "--warmup-correct",
        type=float,
        default=1.0,
        help="fraction of warm-up targets that are the right colour (the rest: a random page colour)",
    )
    parser.add_argument("--steps", type=int, default=100, help="GRPO steps")
    parser.add_argument("--prompts", type=int, default=16, help="prompts per GRPO step")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=8)
    parser.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="GRPO (LoRA) learning rate (5e-3 lost the answer format within 9 steps from the sft warm-up)",
    )
    parser.add_argument(
        "--runs",
        default="grpo,control",
        help="comma-separated runs: grpo (exact-match reward), control (shuffled rewards); '' = warm-up only. "
        "Two processes with --runs grpo / --runs control and the same --warm run them side by side",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.combine:
        return combine(args.combine, Path(args.out), args.fresh)
    if not 2 <= args.fields <= len(FIELDS):
        parser.error(f"--fields must be between 2 and {len(FIELDS)}")
    if not set(args.runs.split(",")) <= {"grpo", "control", ""}:
        parser.error("--runs takes grpo and/or control")
    if not args.fields <= args.colours <= len(COLOURS):
        parser.error(f"--colours must be between --fields and {len(COLOURS)}")

    from domvqa_train.prompts.prepare import load_prepared
    from domvqa_train.testing.tiny import build_tiny_model

    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    records = (
        make_records(args.train, args.fields, args.colours, "train", rng)
        + make_records(args.test, args.fields, args.colours, "test", rng)
        + make_records(args.val, args.fields, args.colours, "val", rng)
    )
    page_colours = {r["id"]: r["page_colours"] for r in records}
    warm_rows = warm_up_records(
        records[: args.train], args.warmup_copies, args.warmup_correct, random.Random(args.seed + 1)
    )
    prep = write_and_prepare(records + warm_rows, out / "data.jsonl", out / "prepared")
    train, test = load_prepared(out / "prepared", "train"), load_prepared(out / "prepared", "test")
    val = load_prepared(out / "prepared", "val")

    base = sharpen_output(
        build_tiny_model(out / "base", "qwen2", hidden_size=args.hidden, layers=args.layers, seed=args.seed),
        args.output_scale,
    )
    if args.warm:
        warm = Path(args.warm)
        warm_info = {"reused": str(warm)}
    else:
        warm = out / "warm"
        warm_started = time.perf_counter()
        warm_info = warm_up(base, warm, out / "prepared", val, args)
        warm_info["seconds"] = time.perf_counter() - warm_started
    warm_adapter = warm / "adapter"
    before = evaluate(str(warm_adapter), test, page_colours)
    print("held-out after warm-up:", json.dumps(before), flush=True)

    runs: dict[str, dict] = {}
    known = {"grpo": None, "control": [ShuffledReward(args.seed)]}
    variants = [(name, known[name]) for name in args.runs.split(",") if name]

    def write_result() -> dict[str, Any]:
        """Written after the warm-up and after every run: an interrupted benchmark keeps what finished."""
        result = {
            "command": "python " + shlex.join(sys.argv),
            "args": vars(args),
            "exact_match_copying_a_random_page_colour": 1 / args.fields,
            "data": {split: prep.written.get(split, 0) for split in ("train", "test", "val", "warm")},
            "example_prompt": train[0]["prompt"],
            "warm_up": warm_info,
            "lm_head_on_loss_positions_only": not args.score_all_positions,
            "held_out_before_grpo": before,
            "runs": runs,
            "total_seconds": time.perf_counter() - started,
        }
        (out / "grpo_learning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if runs:
            plot({n: run["curve"] for n, run in runs.items()}, 1 / args.fields, out / "grpo_learning.png")
        return result

    result = write_result()
    for name, funcs in variants:
        report, seconds = grpo_run(name, base, warm_adapter, out, args, reward_funcs=funcs)
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
        result = write_result()
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
