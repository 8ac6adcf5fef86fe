"""How long does one GRPO step of a Holo1-3B-sized model take at 16K prompt tokens, and how much memory?

A randomly initialised Qwen2.5-VL with Holo1-3B's architecture (Qwen2.5-VL-3B: 3.75B parameters, see
``domvqa_train.testing.tiny.Qwen2_5_VLSize`` for where each size comes from) is written to ``--out``/model, long
synthetic product pages are pruned by ``prepare_dataset`` so that each whole chat prompt fits
``--prompt-tokens`` tokens of the model's tokenizer, and GRPO trains the package's LoRA adapter through
``TrlGrpoBackend`` (bf16 on a GPU, gradient checkpointing on, ``--num-generations`` completions of one
prompt per optimizer step, a reward that differs between completions so that the backward pass runs).

On a machine with one GPU, full size (GPU required: 3.75B parameters):

    python benchmarks/grpo_step_timing.py --out runs/grpo_step_timing
    python benchmarks/grpo_step_timing.py --attn flash_attention_2 --model-dir runs/grpo_step_timing/model \\
        --out runs/grpo_step_timing_fa2

Tiny, on a CPU (checks the script; not a measurement of Holo1-3B). A CPU step is slow even for a tiny
model: trl's chunked LM head scores every prompt position against the 151,936-token vocabulary on a CPU,
and only the completion positions on CUDA with Triton (``trl.kernels.chunked_logprob._use_triton``):

    python benchmarks/grpo_step_timing.py --hidden 64 --intermediate 128 --layers 2 --heads 4 \\
        --vision-depth 1 --vision-hidden 32 --vision-intermediate 64 --vision-heads 2 \\
        --prompt-tokens 1024 --num-generations 2 --max-completion-length 16 --steps 3 --warmup 1 \\
        --out runs/grpo_step_timing_tiny

Per optimizer step it records the wall time (``on_step_begin`` to ``on_step_end``, with
``torch.cuda.synchronize``; it covers generation, log-probs, backward and the optimizer), trl's own
``step_time`` (without the optimizer), the tokens processed (trl's ``num_tokens``: the prompt once per
completion plus the completions), tokens/s and peak memory
(``torch.cuda.max_memory_allocated``/``max_memory_reserved`` per step on CUDA; the process's peak RSS on
CPU), and on CUDA the peak during generation apart (``generation_peak_allocated_gib``). Beside the measured
peaks it prints ``domvqa-train plan``'s estimate for the same settings (per phase: generation, training), so
one GPU run checks the estimate. The first ``--warmup`` steps are left out of the averages. ``grpo_step_timing.json`` in ``--out``
holds every number, the command, the versions, the device and the parameter counts (if training fails,
e.g. out of GPU memory, it keeps the error and the steps timed so far; ``--micro-batch 1`` then trades
speed for memory). One process only.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = (
    "soft durable cotton blend weave stitched seam classic modern fit everyday travel light warm breathable "
    "water resistant finish pocket zipper lining strap handle base frame panel edge corner texture colour "
    "shade natural recycled premium crafted tested rated reliable compact spacious sturdy elegant simple "
    "ideal gift home office outdoor kitchen garden season weekend morning evening comfort quality value"
).split()
PRODUCTS = ["backpack", "kettle", "desk lamp", "office chair", "umbrella", "notebook", "scarf", "travel mug"]
COLOURS = ["red", "blue", "green", "black", "white", "yellow", "purple", "orange"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def product_page(rng: random.Random, tokens: int) -> tuple[str, str, str]:
    """A product page of roughly ``2 * tokens`` tokens (so pruning has work); returns (html, question, answer).

    Navigation, breadcrumbs, a gallery, the product with its price and a specification table, many reviews,
    related products, a footer and a script: the mix of content and boilerplate of a real shop page.
    """
    product = rng.choice(PRODUCTS)
    price = f"${rng.randint(10, 400)}.{rng.randint(0, 99):02d}"
    nav = "".join(f'<li><a href="/c/{i}">{_sentence(rng, 2)}</a></li>' for i in range(40))
    gallery = "".join(f'<img src="/img/{i}.jpg" alt="{product} view {i}">' for i in range(12))
    specs = "".join(
        f"<tr><th>{_sentence(rng, 2)}</th><td>{rng.choice(COLOURS)} {rng.randint(1, 999)}</td></tr>"
        for _ in range(60)
    )
    # ~95 tokens per review, so pages come out near twice the budget (34,129 tokens at 16384, seed 0)
    reviews = "".join(
        f'<div class="review"><h4>{_sentence(rng, 4)}</h4><span class="stars">{rng.randint(1, 5)} stars</span>'
        f"<p>{_sentence(rng, 30)} {_sentence(rng, 25)}</p></div>"
        for _ in range(max(4, 2 * tokens // 95))
    )
    related = "".join(
        f'<li><a href="/p/{i}">{rng.choice(PRODUCTS).title()} {_sentence(rng, 3)}</a> '
        f"<span>${rng.randint(5, 300)}</span></li>"
        for i in range(30)
    )
    html = (
        f"<html><head><title>{product.title()} | Shop</title><style>.x{{color:red}}</style></head><body>"
        f'<header><nav><ul>{nav}</ul></nav></header><ol class="crumbs"><li>Home</li><li>{product}</li></ol>'
        f'<main><div class="gallery">{gallery}</div><h1>{product.title()}</h1>'
        f'<p class="price">Price: {price}</p><p>{_sentence(rng, 40)}</p>'
        f"<table>{specs}</table><section><h2>Reviews</h2>{reviews}</section></main>"
        f"<aside><h3>Related</h3><ul>{related}</ul></aside>"
        f"<footer><p>{_sentence(rng, 30)}</p></footer><script>var t = 1;</script></body></html>"
    )
    return html, f"What is the price of the {product}?", price


def completion_hash_reward(completions: list[Any], **_: Any) -> list[float]:
    """A reward that differs between different completions, so advantages are not all zero and backward runs."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) / 2**32 for t in texts]


def step_timer() -> Any:
    """A ``TrainerCallback`` that times each optimizer step and records its peak memory in ``.steps``."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[dict[str, Any]] = []
            self._started = 0.0
            self._generation_peak = 0.0
            self._before_generation = 0.0

        def wrap_generate(self, cls: Any) -> None:
            """Record the CUDA peak of each ``generate`` call apart from the training part of the step."""
            if not cuda:
                return
            original = cls.generate
            timer = self

            def generate(model: Any, *args: Any, **kwargs: Any) -> Any:
                timer._before_generation = max(timer._before_generation, torch.cuda.max_memory_allocated())
                torch.cuda.reset_peak_memory_stats()
                try:
                    return original(model, *args, **kwargs)
                finally:
                    timer._generation_peak = max(timer._generation_peak, torch.cuda.max_memory_allocated())
                    torch.cuda.reset_peak_memory_stats()

            cls.generate = generate

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                self._generation_peak = self._before_generation = 0.0
            self._started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            row: dict[str, Any] = {"step": state.global_step, "seconds": time.perf_counter() - self._started}
            if cuda:
                training = max(torch.cuda.max_memory_allocated(), self._before_generation)
                row["peak_allocated_gib"] = max(training, self._generation_peak) / 2**30
                row["generation_peak_allocated_gib"] = self._generation_peak / 2**30
                row["training_peak_allocated_gib"] = training / 2**30
                row["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
            else:
                row["peak_rss_gib"] = peak_rss_gib()
            self.steps.append(row)

    return StepTimer()


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


def device_info() -> dict[str, Any]:
    """The accelerator (or CPU) and the library versions."""
    import accelerate
    import peft
    import torch
    import transformers
    import trl

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            device="cuda",
            device_name=torch.cuda.get_device_name(0),
            device_memory_gib=props.total_memory / 2**30,
            cuda=torch.version.cuda,
            gpus=torch.cuda.device_count(),
        )
    else:
        info.update(
            device="cpu",
            device_name=platform.processor() or platform.machine(),
            threads=torch.get_num_threads(),
        )
    return info


def model_size(args: argparse.Namespace) -> Any:
    """Holo1-3B's size with the command line's overrides."""
    from domvqa_train.testing.tiny import HOLO1_3B_SIZE, Qwen2_5_VLSize

    overrides = {
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "layers": args.layers,
        "attention_heads": args.heads,
        "kv_heads": args.kv_heads,
        "vision_depth": args.vision_depth,
        "vision_hidden_size": args.vision_hidden,
        "vision_intermediate_size": args.vision_intermediate,
        "vision_heads": args.vision_heads,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return HOLO1_3B_SIZE
    try:
        return Qwen2_5_VLSize(**given)
    except ValueError as exc:
        raise SystemExit(f"error: impossible model size: {exc}") from None


def random_model(
    out: Path, size: Any, args: argparse.Namespace, dtype: str, device: str
) -> tuple[Path, bool]:
    """Build the random model in ``out``, or reuse the one there if it has the same size, seed and dtype."""
    from domvqa_train.testing.tiny import RANDOM_MODEL_FILE, build_random_qwen2_5_vl, random_model_info

    wanted = json.loads(json.dumps(random_model_info(size, seed=args.seed, dtype=dtype)))
    recorded = out / RANDOM_MODEL_FILE
    if recorded.is_file() and json.loads(recorded.read_text(encoding="utf-8")) == wanted:
        return out, True
    if out.exists() and any(out.iterdir()):
        if not recorded.is_file():
            raise SystemExit(
                f"error: {out} is not empty and holds no {RANDOM_MODEL_FILE}, so it is not a random model this "
                "script wrote; pass an empty or new --model-dir"
            )
        shutil.rmtree(out)  # an earlier random model of another size, seed or dtype
    return build_random_qwen2_5_vl(out, size, seed=args.seed, dtype=dtype, device=device), False


def prepared_data(out: Path, args: argparse.Namespace) -> Any:
    """Write ``--examples`` long pages and prune them with ``prepare_dataset`` to ``--prompt-tokens``."""
    from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset

    rng = random.Random(args.seed)
    rows = []
    for i in range(args.examples):
        html, question, answer = product_page(rng, args.prompt_tokens)
        rows.append(
            {"id": f"page-{i}", "html": html, "question": question, "answer": answer, "split": "train"}
        )
    source = out / "pages.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    prepared = out / "prepared"
    if prepared.exists():
        shutil.rmtree(prepared)
    report = prepare_dataset(
        source,
        prepared,
        PrepareSettings(prompt_budget=args.prompt_tokens, progress=False, resume=False, workers=args.workers),
    )
    if report.written.get("train", 0) != args.examples:
        raise SystemExit(f"error: prepare wrote {report.written} of {args.examples} pages; see {prepared}")
    return report, [len(r["html"]) for r in rows]


def per_step(
    timer_steps: list[dict[str, Any]], log_history: list[dict[str, Any]], generations: int
) -> list[dict]:
    """Join the callback's timings with trl's per-step log (``logging_steps=1``): tokens and tokens/s."""
    logs = {row["step"]: row for row in log_history if "num_tokens" in row}
    rows, seen = [], 0.0
    for timed in timer_steps:
        log = logs.get(timed["step"])
        if log is None:
            raise SystemExit(f"error: trl logged nothing for step {timed['step']}; logging_steps must be 1")
        tokens = log["num_tokens"] - seen
        seen = log["num_tokens"]
        completion = log["completions/mean_length"] * generations
        rows.append(
            {
                **timed,
                "trl_step_time": log.get("step_time"),
                "tokens": tokens,
                "prompt_tokens": tokens - completion,
                "completion_tokens": completion,
                "tokens_per_second": tokens / timed["seconds"],
                "reward_std": log.get("reward_std"),
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Averages over the steps after the warm-up: seconds/step, tokens/s and the highest peak memory."""
    measured = rows[warmup:]
    seconds = sum(r["seconds"] for r in measured)
    memory_keys = [
        k
        for k in (
            "peak_allocated_gib",
            "generation_peak_allocated_gib",
            "training_peak_allocated_gib",
            "peak_reserved_gib",
            "peak_rss_gib",
        )
        if k in measured[0]
    ]
    return {
        "measured_steps": [r["step"] for r in measured],
        "seconds_per_step": seconds / len(measured),
        "tokens_per_step": sum(r["tokens"] for r in measured) / len(measured),
        "tokens_per_second": sum(r["tokens"] for r in measured) / seconds,
        "completion_tokens_per_second": sum(r["completion_tokens"] for r in measured) / seconds,
        **{k: max(r[k] for r in measured) for k in memory_keys},
    }


def parameter_counts(model: Any) -> dict[str, int]:
    """Parameters of the trained (peft-wrapped) model: all of them, the trainable (LoRA) ones, the vision tower's."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in f".{n}")
    return {"total": total, "trainable": trainable, "base": total - trainable, "vision_tower": vision}


def parameter_dtypes(model: Any) -> dict[str, int]:
    """Parameters per dtype (bf16 base weights, and the LoRA weights peft may keep in fp32)."""
    counts: dict[str, int] = {}
    for p in model.parameters():
        name = str(p.dtype).removeprefix("torch.")
        counts[name] = counts.get(name, 0) + p.numel()
    return counts


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any], warmup: int) -> None:
    memory = "peak_reserved_gib" if "peak_reserved_gib" in rows[0] else "peak_rss_gib"
    alloc = "peak_allocated_gib" in rows[0]
    head = f"{'step':>4} {'seconds':>8} {'trl s':>8} {'tokens':>8} {'tok/s':>9} "
    head += f"{'alloc GiB':>9} {'resv GiB':>9}" if alloc else f"{'RSS GiB':>9}"
    print(head)
    for i, r in enumerate(rows):
        trl_s = f"{r['trl_step_time']:.2f}" if r["trl_step_time"] is not None else "-"
        line = f"{r['step']:>4} {r['seconds']:>8.2f} {trl_s:>8} {r['tokens']:>8.0f} {r['tokens_per_second']:>9.1f} "
        line += f"{r['peak_allocated_gib']:>9.2f} {r[memory]:>9.2f}" if alloc else f"{r[memory]:>9.2f}"
        print(line + ("   (warm-up)" if i < warmup else ""))
    mem = ", ".join(f"{k} {summary[k]:.2f}" for k in summary if k.startswith("peak_"))
    print(
        f"mean over steps {summary['measured_steps']}: {summary['seconds_per_step']:.2f} s/step, "
        f"{summary['tokens_per_second']:.1f} tokens/s, {mem}"
    )


def plan_estimate(settings: Any, prompt_tokens: int, cuda: bool) -> dict[str, Any]:
    """``domvqa-train plan``'s estimate for these settings and the longest prompt (GiB per phase and at the peak)."""
    import torch

    from domvqa_train.training.plan import estimate_memory

    memory = torch.cuda.get_device_properties(0).total_memory if cuda else 80 * 2**30
    estimate = estimate_memory(
        settings, gpu_memory=memory, device="cuda" if cuda else "cpu", prompt_tokens=prompt_tokens
    )
    return {
        "peak_gib": estimate.peak / 2**30,
        "peak_phase": estimate.peak_phase,
        "phases_gib": {
            name: {**{k: v / 2**30 for k, v in phase.model_dump().items()}, "total": phase.total / 2**30}
            for name, phase in estimate.phases.items()
        },
        "inputs": estimate.inputs,
        "notes": estimate.notes,
    }


def print_plan_comparison(plan: dict[str, Any], summary: dict[str, Any]) -> None:
    """The plan's estimate beside the measured peaks (CUDA: allocated; CPU: the process RSS, not comparable)."""
    phases = plan["phases_gib"]
    training = max(p["total"] for n, p in phases.items() if n.startswith("training"))
    generation = phases.get("generation", {}).get("total")
    print(f"plan estimate: peak {plan['peak_gib']:.2f} GiB ({plan['peak_phase']}); training {training:.2f} GiB"
          + (f", generation {generation:.2f} GiB" if generation is not None else ""))  # fmt: skip
    if "peak_allocated_gib" in summary:
        measured = summary["peak_allocated_gib"]
        print(
            f"measured peak allocated {measured:.2f} GiB = {measured / plan['peak_gib']:.2f} x the estimate; "
            f"training {summary['training_peak_allocated_gib']:.2f} GiB "
            f"({summary['training_peak_allocated_gib'] / training:.2f} x)"
            + (
                f", generation {summary['generation_peak_allocated_gib']:.2f} GiB "
                f"({summary['generation_peak_allocated_gib'] / generation:.2f} x)"
                if generation
                else ""
            )
        )
    else:
        print("(no GPU: the measured figure is the process's RSS, which the estimate does not model)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/grpo_step_timing")
    parser.add_argument(
        "--model-dir",
        default=None,
        help="where the random model is written, and reused if it has the same size, seed and dtype "
        "(default: OUT/model); share it between runs, e.g. sdpa and flash_attention_2",
    )
    parser.add_argument(
        "--prompt-tokens", type=int, default=16384, help="token budget of each whole chat prompt"
    )
    parser.add_argument("--examples", type=int, default=None, help="distinct pages (default: --steps)")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps (one prompt's group each)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the averages")
    parser.add_argument("--num-generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument(
        "--micro-batch",
        type=int,
        default=None,
        help="completions per forward/backward (default: --num-generations); the rest is gradient accumulation",
    )
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "flash_attention_2", "eager"])
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float32"], help="auto: bf16 on GPU"
    )
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--lora-rank", type=int, default=None, help="default: the package's LoRA settings")
    parser.add_argument("--workers", type=int, default=1, help="processes that prune pages")
    parser.add_argument("--seed", type=int, default=0)
    sizes = parser.add_argument_group("model size overrides (default: Holo1-3B / Qwen2.5-VL-3B)")
    sizes.add_argument("--hidden", type=int, default=None)
    sizes.add_argument("--intermediate", type=int, default=None)
    sizes.add_argument("--layers", type=int, default=None)
    sizes.add_argument("--heads", type=int, default=None)
    sizes.add_argument("--kv-heads", type=int, default=None)
    sizes.add_argument("--vision-depth", type=int, default=None)
    sizes.add_argument("--vision-hidden", type=int, default=None)
    sizes.add_argument("--vision-intermediate", type=int, default=None)
    sizes.add_argument("--vision-heads", type=int, default=None)
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must be larger than --warmup (the measured steps come after the warm-up)")
    args.examples = args.examples or args.steps
    micro = args.micro_batch or args.num_generations
    if args.num_generations % micro:
        parser.error("--micro-batch must divide --num-generations (one prompt's group per optimizer step)")

    import torch

    from domvqa_train.prompts.prepare import load_prepared
    from domvqa_train.testing.tiny import HOLO1_3B_SIZE, tiny_tokenizer
    from domvqa_train.training.settings import LoraSettings, TrainSettings
    from domvqa_train.training.train import TrlGrpoBackend, prompt_lengths

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    dtype = (
        args.dtype
        if args.dtype != "auto"
        else ("bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32")
    )
    size = model_size(args)
    if not cuda and size == HOLO1_3B_SIZE:
        parser.error(
            "no GPU: the full Holo1-3B size needs one (3.75B parameters at 16K-token prompts). "
            "To check the script on a CPU, pass tiny size overrides (see the module docstring)"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    model_dir, reused = random_model(
        Path(args.model_dir or out / "model"), size, args, dtype, "cuda" if cuda else "cpu"
    )
    build_seconds = time.perf_counter() - t
    print(f"model: {model_dir} ({'reused' if reused else f'built in {build_seconds:.0f} s'})", flush=True)

    t = time.perf_counter()
    prep, html_chars = prepared_data(out, args)
    prepare_seconds = time.perf_counter() - t
    dataset = load_prepared(out / "prepared", "train")
    lengths = prompt_lengths(dataset["prompt"], tiny_tokenizer())
    print(
        f"prompts: {lengths} tokens (budget {args.prompt_tokens}), prepared in {prepare_seconds:.0f} s",
        flush=True,
    )

    lora = (
        LoraSettings()
        if args.lora_rank is None
        else LoraSettings(rank=args.lora_rank, alpha=2 * args.lora_rank)
    )
    settings = TrainSettings(
        model=str(model_dir),
        prepared_dir=str(out / "prepared"),
        output_dir=str(out / "run"),
        prompt_budget=args.prompt_tokens,
        attn_implementation=args.attn,
        dtype=dtype,
        precision="auto",
        gradient_checkpointing=not args.no_gradient_checkpointing,
        lora=lora,
        max_steps=args.steps,
        per_device_batch_size=micro,
        gradient_accumulation_steps=args.num_generations // micro,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=1.0,
        logging_steps=1,
        save_steps=args.steps,
        save_total_limit=1,
        resume=False,
        seed=args.seed,
    )
    if Path(settings.output_dir).exists():
        shutil.rmtree(settings.output_dir)
    resolved = dataclasses.replace(
        size,
        mrope_section=size.rope_mrope_section(),
        fullatt_block_indexes=size.vision_full_attention_blocks(),
    )
    result: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "args": vars(args),
        "environment": device_info(),
        "model": {
            "architecture": "Qwen2_5_VLForConditionalGeneration, random weights",
            "size": json.loads(json.dumps(dataclasses.asdict(resolved))),
            "is_holo1_3b_size": size == HOLO1_3B_SIZE,
            "built_seconds": None if reused else build_seconds,
        },
        "data": {
            "pages": args.examples,
            "html_chars": html_chars,
            "prompt_budget": args.prompt_tokens,
            "prompt_tokens": lengths,
            "prepare_report_prompt_tokens": prep.prompt_tokens.model_dump(),
            "prepare_seconds": prepare_seconds,
        },
        "train_settings": settings.model_dump(),
    }
    path = out / "grpo_step_timing.json"
    result["plan"] = plan_estimate(settings, max(lengths), cuda)
    timer = step_timer()
    import transformers

    timer.wrap_generate(transformers.GenerationMixin)
    backend = TrlGrpoBackend(settings, reward_funcs=[completion_hash_reward], callbacks=[timer])
    t = time.perf_counter()
    try:
        report = backend.train()
    except BaseException as exc:  # e.g. CUDA out of memory: keep what was measured, then fail as usual
        result["error"] = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
        result["steps_timed_before_error"] = timer.steps
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"training failed; wrote what was measured to {path}", file=sys.stderr)
        raise
    train_seconds = time.perf_counter() - t

    rows = per_step(timer.steps, report.log_history, args.num_generations)
    summary = summarise(rows, args.warmup)
    model = backend.trainer.model
    result["model"].update(
        parameters=parameter_counts(model),
        parameter_dtypes=parameter_dtypes(model),
        attn_implementation=model.config._attn_implementation,
        gradient_checkpointing=any(
            getattr(m, "gradient_checkpointing", False) is True for m in model.modules()
        ),
    )
    trainer_args = backend.trainer.args
    result["training"] = {
        "precision": "bf16" if trainer_args.bf16 else ("fp16" if trainer_args.fp16 else "fp32"),
        "num_generations": args.num_generations,
        "per_device_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_completion_length": args.max_completion_length,
        "lora": settings.lora.model_dump(),
        "optimizer_steps": report.steps,
        "train_seconds_total": train_seconds,
    }
    result.update(steps=rows, summary=summary, total_seconds=time.perf_counter() - started)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print()
    print_table(rows, summary, args.warmup)
    print_plan_comparison(result["plan"], summary)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
