"""`plan`: exact parameter counts, the arithmetic's switches, the CLI, and estimates against measured peaks.

The measured peaks are of tiny models trained on a CPU, read from torch's profiler (every tensor allocation
and free of the CPU allocator, in time order): the weights, adapter, activations and LM-head tiles the
estimate counts. A GPU's are measured by ``benchmarks/grpo_step_timing.py``, which prints the estimate beside.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from domvqa_train.cli import main
from domvqa_train.errors import SettingsError
from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset
from domvqa_train.testing.tiny import build_tiny_model
from domvqa_train.training.plan import (
    CPU_TOLERANCE,
    estimate_memory,
    load_model_config,
    model_shape,
    parse_memory,
)
from domvqa_train.training.settings import TrainSettings


def test_memory_sizes_parse() -> None:
    assert parse_memory("80GiB") == 80 * 2**30
    assert parse_memory("24 GB") == 24 * 10**9
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory("40") == 40 * 2**30
    with pytest.raises(SettingsError, match="write it like 80GiB"):
        parse_memory("lots")


def test_known_models_need_no_network() -> None:
    """Holo1-3B's architecture ships with the package; its parameters are counted on an empty model."""
    for name in ("Hcompany/Holo1-3B", "Qwen/Qwen2.5-VL-3B-Instruct"):
        shape = model_shape(load_model_config(name), TrainSettings())
        assert shape.parameters == 3_754_622_976 and shape.vision_parameters == 668_684_288
        assert (shape.layers, shape.hidden_size, shape.kv_heads, shape.vocab_size) == (36, 2048, 2, 151936)
        assert shape.weight_bytes == 2  # bf16 checkpoint
        assert set(shape.lora_modules_per_layer) == set(TrainSettings().lora.target_modules)
    with pytest.raises(SettingsError, match="Hcompany/Holo1-3B"):
        load_model_config("nobody/no-such-model")


def test_lora_count_is_peft_s(tmp_path) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from domvqa_train.training.train import lora_config

    model_dir = build_tiny_model(tmp_path / "m", "qwen2")
    settings = TrainSettings(
        model=str(model_dir), lora={"rank": 8, "target_modules": ["q_proj", "down_proj"]}
    )
    shape = model_shape(load_model_config(str(model_dir)), settings)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora_config(settings))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert shape.lora_parameters == trainable
    assert shape.parameters == sum(
        p.numel() for p in AutoModelForCausalLM.from_pretrained(model_dir).parameters()
    )


def _holo(**overrides) -> TrainSettings:
    return TrainSettings.load({"model": "Hcompany/Holo1-3B", **overrides})


def test_the_switches_move_the_right_parts() -> None:
    base = estimate_memory(_holo())
    assert base.peak_phase == "generation" and base.fits
    train = base.phases["training: backward"]
    no_ckpt = estimate_memory(_holo(gradient_checkpointing=False)).phases["training: backward"]
    assert no_ckpt.activations > 10 * train.activations and no_ckpt.weights == train.weights
    assert not estimate_memory(_holo(gradient_checkpointing=False)).fits  # 16K prompts need checkpointing
    fa2 = estimate_memory(_holo(attn_implementation="flash_attention_2"))
    assert fa2.phases["generation"].generation_kv_cache < base.phases["generation"].generation_kv_cache
    eager = estimate_memory(_holo(attn_implementation="eager")).phases["training: backward"]
    assert eager.activations > train.activations
    longer = estimate_memory(_holo(), prompt_tokens=4096)
    assert longer.peak < base.peak
    zero3 = estimate_memory(_holo(), gpus=4, zero_stage=3)
    assert zero3.phases["training: backward"].weights < train.weights / 3
    assert zero3.phases["generation"].weights == base.phases["generation"].weights  # gathered to generate
    assert zero3.phases["training: backward"].lora_optimizer < train.lora_optimizer / 3
    small = estimate_memory(_holo(), gpu_memory=parse_memory("16GiB"))
    assert not small.fits and small.peak == base.peak
    vllm = estimate_memory(_holo(use_vllm=True, vllm_gpu_memory_utilization=0.4))
    assert vllm.phases["training: backward"].generation_kv_cache == int(0.4 * 80 * 2**30)
    server = estimate_memory(_holo(use_vllm=True, vllm_mode="server"))
    assert "generation" not in server.phases
    sft = estimate_memory(_holo(), stage="sft")
    assert set(sft.phases) == {"training: LM head", "training: backward"}


def test_cli_plan(capsys) -> None:
    assert main(["plan", "--model", "Hcompany/Holo1-3B", "--gpu-memory", "24GB"]) == 0
    out = capsys.readouterr().out
    assert "generation KV cache" in out and "does NOT fit in 22.35 GiB" in out
    assert main(["plan", "--model", "Hcompany/Holo1-3B", "--json", "--set", "prompt_budget=4096"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"]["prompt_tokens"] == 4096 and data["fits"] is True
    assert main(["plan", "--model", "Hcompany/Holo1-3B", "--gpu-memory", "big"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------- against measured CPU peaks


def _pages(n: int, rows: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        cells = "".join(
            f"<tr><th>Field {j}</th><td>value {rng.randint(0, 10**6)} of item {j}</td></tr>"
            for j in range(rows)
        )
        html = f"<html><body><h1>Item {i}</h1><table>{cells}</table></body></html>"
        pages.append(
            {"id": f"p{i}", "html": html, "question": "What is Field 3?", "answer": "x", "split": "train"}
        )
    return pages


def _prepared(root: Path, budget: int, rows: int) -> Path:
    """Four pages pruned to nearly the same prompt length (the budget), so every step sees the longest."""
    source = root / "pages.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in _pages(4, rows, seed=1)), encoding="utf-8")
    report = prepare_dataset(source, root / "prepared", PrepareSettings(prompt_budget=budget, progress=False))
    assert report.written == {"train": 4} and report.prompt_tokens.min > budget - 40
    return root / "prepared"


def _measured_peaks(run) -> tuple[float, float, object]:
    """Peak bytes held by torch's CPU allocator during generation and outside it, and the run's result.

    Garbage of earlier tests is collected first: the profiler reports frees of blocks it knows the size of, so
    an earlier run's model freed in the window would count as negative memory.
    """
    import gc

    import transformers
    from torch.profiler import ProfilerActivity, profile

    spans: list[int] = []
    generate = transformers.GenerationMixin.generate

    def timed(self, *args, **kwargs):
        spans.append(time.time_ns())
        try:
            return generate(self, *args, **kwargs)
        finally:
            spans.append(time.time_ns())

    transformers.GenerationMixin.generate = timed
    gc.collect()
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = run()
    finally:
        transformers.GenerationMixin.generate = generate
    events = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    )
    windows = list(zip(spans[::2], spans[1::2], strict=True))
    held = in_generation = elsewhere = 0
    for at, nbytes in events:
        held += nbytes
        if any(start <= at <= end for start, end in windows):
            in_generation = max(in_generation, held)
        else:
            elsewhere = max(elsewhere, held)
    return in_generation, elsewhere, result


CASES = {
    # the LM head's tiles dominate: every position scored (trl's CPU path), short prompts
    "lm-head": dict(kind="qwen2", hidden=32, layers=2, budget=400, rows=60, all_rows=True, padded=False, extra={}),
    # activations dominate: completion rows only (trl's CUDA path), two prompts per micro-batch (padding, a mask)
    "checkpointed": dict(
        kind="qwen2",
        hidden=256,
        layers=4,
        budget=1024,
        rows=150,
        all_rows=False,
        padded=True,
        extra={"per_device_batch_size": 4, "gradient_checkpointing": True},
    ),
    # the vision-language architecture, every activation stored, one prompt's completions (no padding)
    "vl-stored": dict(kind="qwen2_5_vl", hidden=256, layers=4, budget=1024, rows=150, all_rows=False, padded=False, extra={}),
}  # fmt: skip
# as "checkpointed", LoRA without dropout: generation reads each of the two distinct prompts once
CASES["shared-prompts"] = {
    **CASES["checkpointed"],
    "extra": {**CASES["checkpointed"]["extra"], "lora": {"rank": 4, "alpha": 8, "dropout": 0.0}},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_grpo_estimate_matches_measured_cpu_peaks(case, tmp_path) -> None:
    from train_helpers import text_hash_reward

    from domvqa_train.training.train import TrlGrpoBackend

    c = CASES[case]
    model = build_tiny_model(tmp_path / "model", c["kind"], hidden_size=c["hidden"], layers=c["layers"])
    settings = TrainSettings.load(
        {
            "model": str(model),
            "prepared_dir": str(_prepared(tmp_path, c["budget"], c["rows"])),
            "output_dir": str(tmp_path / "run"),
            "prompt_budget": c["budget"],
            "max_steps": 1,
            "num_generations": 2,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_completion_length": 8,
            "save_steps": 10,
            "lora": {"rank": 4, "alpha": 8},
            "dtype": "float32",
            "gradient_checkpointing": False,
            "completion_only_head": not c["all_rows"],  # all rows: trl's own CPU path
            **c["extra"],
        }
    )
    generation, training, report = _measured_peaks(
        lambda: TrlGrpoBackend(settings, reward_funcs=[text_hash_reward]).train()
    )
    estimate = estimate_memory(
        settings,
        device="cpu",
        prompt_tokens=report.max_prompt_tokens,
        padded=c["padded"],
    )
    trained = max(p.total for name, p in estimate.phases.items() if name.startswith("training"))
    generated = estimate.phases["generation"].total
    print(f"\n{case}: measured / estimated MiB: training {training / 2**20:.1f} / {trained / 2**20:.1f}, "
          f"generation {generation / 2**20:.1f} / {generated / 2**20:.1f}")  # fmt: skip
    assert training == pytest.approx(trained, rel=CPU_TOLERANCE), (case, training / trained)
    assert generation == pytest.approx(generated, rel=CPU_TOLERANCE), case


@pytest.mark.slow
@pytest.mark.parametrize("answer_only_head", [True, False])
def test_sft_estimate_matches_a_measured_cpu_peak(tmp_path, answer_only_head: bool) -> None:
    from domvqa_train.training.sft import SftRun

    model = build_tiny_model(tmp_path / "model", "qwen2")
    settings = TrainSettings.load(
        {
            "model": str(model),
            "prepared_dir": str(_prepared(tmp_path, 400, 60)),
            "prompt_budget": 400,
            "num_generations": 2,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_completion_length": 8,
            "lora": {"rank": 4, "alpha": 8},
            "dtype": "float32",
            "gradient_checkpointing": False,
            "sft": {
                "output_dir": str(tmp_path / "sft"),
                "max_steps": 1,
                "answer_only_head": answer_only_head,
            },
        }
    )
    _, training, report = _measured_peaks(lambda: SftRun(settings).train())
    estimate = estimate_memory(settings, stage="sft", device="cpu", prompt_tokens=report.max_prompt_tokens)
    print(f"\nsft: measured / estimated MiB: {training / 2**20:.1f} / {estimate.peak / 2**20:.1f}")
    assert training == pytest.approx(estimate.peak, rel=CPU_TOLERANCE)
