"""Records and attempts per second of ``label`` with a tiny model: batched local policy vs one at a time vs an endpoint.

``--records`` records (synthetic product pages, one question each, screenshot-free) are labelled with
``--attempts`` attempts of ``--max-new-tokens`` tokens each, prompts fitted to ``--prompt-budget`` tokens
exactly as ``prepare`` fits them, by ``domvqa_train.data.label.label_dataset`` with:

- ``local gb=N``: the policy in this process (``LocalPolicy`` over ``domvqa_train.common.modelio``), N sequences per
  ``generate`` call, for each N of ``--generation-batch``;
- ``endpoint c=N``: the same model served by ``transformers serve`` on 127.0.0.1 (``EndpointPolicy``, N
  requests in flight), the way the original labelled through an API.

The model is a tiny random Qwen2 (``domvqa_train.testing.tiny``) unless ``--model-dir`` names one. Each setting
runs ``--repeat`` times, interleaved; the medians and the ratio to the first local setting are
reported. ``label_throughput.json`` in ``--out`` holds every number and the command.

    python benchmarks/label_throughput.py --out runs/label_throughput
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from domvqa_train.common.endpoint import ChatClient, EndpointSettings
from domvqa_train.common.modelio import load_for_inference
from domvqa_train.data.label import EndpointPolicy, LabelSettings, LocalPolicy, label_dataset
from domvqa_train.prompts.prepare import PrepareSettings
from domvqa_train.testing.local_server import serve_locally


def write_records(path: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        rows = "".join(f"<tr><th>Spec {j}</th><td>{i * 13 + j} mm</td></tr>" for j in range(60))
        html = f"<html><body><h1>Product {i}</h1><table>{rows}</table><p>SKU: P-{i:04d}</p></body></html>"
        lines.append(
            {"id": f"r{i}", "cleaned_html": html, "question": "What is the SKU?", "answer": f"P-{i:04d}"}
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--prompt-budget", type=int, default=1024)
    parser.add_argument("--generation-batch", default="1,4,16", help="comma-separated values")
    parser.add_argument("--concurrency", default="4", help="endpoint requests in flight, comma-separated")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--model-dir", help="a model folder (default: a tiny random Qwen2)")
    parser.add_argument("--out", default="runs/label_throughput")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    data = write_records(out / "records.jsonl", args.records)
    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        from domvqa_train.testing.tiny import build_tiny_model

        model_dir = build_tiny_model(out / "model")
    prepare = PrepareSettings(prompt_budget=args.prompt_budget, progress=False)
    local = LocalPolicy(load_for_inference(str(model_dir), dtype="float32"))
    runs: list[dict[str, Any]] = []

    def run(name: str, labeller: Any, generation_batch: int, repeat: int) -> None:
        settings = LabelSettings(
            attempts=args.attempts, max_new_tokens=args.max_new_tokens, batch_size=8,
            generation_batch=generation_batch, progress=False, resume=False,
        )  # fmt: skip
        start = time.perf_counter()
        report = label_dataset(data, out / f"{name.replace(' ', '_')}-r{repeat}", labeller, settings, prepare)
        seconds = time.perf_counter() - start
        runs.append(
            {
                "setting": name,
                "repeat": repeat,
                "seconds": seconds,
                "records": report.labelled,
                "attempts": report.attempts,
                "records_per_second": report.labelled / seconds,
                "attempts_per_second": report.attempts / seconds,
                "rejected": report.rejected,
            }
        )
        print(json.dumps(runs[-1]), flush=True)

    batches = [int(b) for b in args.generation_batch.split(",")]
    with serve_locally(model_dir, log_path=out / "serve.log") as url:
        policies = {
            f"endpoint c={c}": EndpointPolicy(
                ChatClient(EndpointSettings(url=url, model=str(model_dir), concurrency=c))
            )
            for c in (int(x) for x in args.concurrency.split(","))
        }
        next(iter(policies.values())).client.complete([{"role": "user", "content": "warm up"}], max_tokens=2)
        local.answer([[{"role": "user", "content": "warm up"}]], None, LabelSettings(max_new_tokens=2))
        for repeat in range(args.repeat):
            for batch in batches:
                run(f"local gb={batch}", local, batch, repeat)
            for name, policy in policies.items():
                run(name, policy, 1, repeat)
    summary = []
    for name in dict.fromkeys(r["setting"] for r in runs):
        group = [r for r in runs if r["setting"] == name]
        summary.append(
            {
                "setting": name,
                "repeats": len(group),
                "records": group[0]["records"],
                "attempts": group[0]["attempts"],
                "seconds": statistics.median(r["seconds"] for r in group),
                "records_per_second": statistics.median(r["records_per_second"] for r in group),
                "attempts_per_second": statistics.median(r["attempts_per_second"] for r in group),
            }
        )
    for row in summary:
        row["vs_first"] = row["records_per_second"] / summary[0]["records_per_second"]
    result = {
        "command": " ".join(["python", *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "settings": vars(args),
        "summary": summary,
        "runs": runs,
    }
    (out / "label_throughput.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| setting | records | attempts | median seconds | records/s | attempts/s | vs first |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in summary:
        print(
            f"| {r['setting']} | {r['records']} | {r['attempts']} | {r['seconds']:.1f} | "
            f"{r['records_per_second']:.2f} | {r['attempts_per_second']:.1f} | {r['vs_first']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
