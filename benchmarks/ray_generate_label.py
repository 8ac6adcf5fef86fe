"""Pages/s of ``generate`` and records/s of ``label``: the local engine against ``--engine ray`` with 2 CPUs.

In one run, on the same inputs, each setting ``--repeat`` times, interleaved (medians reported):

- ``generate, rules``: ``--pages`` pages (the corpora, round robin, with ``--corpus``; else synthetic)
  through ``generate_dataset`` with the rules generator (CPU-bound: parse, find facts, ground);
  local engine (one page at a time, as ``RulesGenerator.concurrency`` says) vs 2 Ray actors;
- ``generate, endpoint``: the same pages against a server that answers every request after
  ``--latency`` seconds (``generate_throughput.latency_server``: a remote API); local engine with
  ``--concurrency`` requests in flight vs 2 Ray actors with ``--concurrency`` each;
- ``label``: ``--records`` records (``label_throughput.write_records``) labelled by a tiny random Qwen2
  (``--attempts`` sampled attempts of ``--max-new-tokens`` tokens); local engine (this process,
  torch's own threads) vs 2 Ray actors that each load the model (one CPU each); every model load
  is inside the timed run.

Ray is started once (``ray.init(num_cpus=2)``) and its start-up is timed apart; every Ray run's wall
time includes starting its actors (and, for label, loading the model in each). That fixed cost is
also measured on its own, as the wall time of a Ray run on 2 pages or 2 records, each repeat; "ray,
after start" is units / (wall - fixed). The outputs of both engines are compared byte for byte. ``ray_generate_label.json`` in ``--out`` holds every number and
the command.

    python benchmarks/ray_generate_label.py --corpus ../shared/corpora --out runs/ray_generate_label
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

from generate_throughput import latency_server, write_pages
from label_throughput import write_records

from domvqa_train.common.endpoint import ChatClient, EndpointSettings
from domvqa_train.data.generate import (
    EndpointGenerator,
    GenerateSettings,
    RulesGenerator,
    generate_dataset,
)
from domvqa_train.data.label import LabelSettings, LocalPolicy, PolicyModel, label_dataset
from domvqa_train.prompts.prepare import PrepareSettings

FILES = {"generate": ("qa.jsonl", "rejects.jsonl"), "label": ("labels.jsonl", "rejects.jsonl")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", help="folder of the corpora (default: synthetic pages)")
    parser.add_argument("--pages", type=int, default=360)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request of the endpoint")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight per engine/actor")
    parser.add_argument("--records", type=int, default=48)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--prompt-budget", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", default="runs/ray_generate_label")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pages = write_pages(out / "pages", args.corpus, args.pages)
    records = write_records(out / "records.jsonl", args.records)
    few_pages = out / "few-pages"  # the fixed cost of a Ray run: 2 pages, 2 records
    few_pages.mkdir()
    for path in sorted(pages.glob("*.html"))[:2]:
        shutil.copy(path, few_pages / path.name)
    few_records = out / "few-records.jsonl"
    few_records.write_text(
        "".join(records.read_text(encoding="utf-8").splitlines(True)[:2]), encoding="utf-8"
    )
    from domvqa_train.testing.tiny import build_tiny_model

    model = PolicyModel(str(build_tiny_model(out / "model")), dtype="float32")

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start

    runs: list[dict[str, Any]] = []
    with latency_server(args.latency) as url:

        def generate(kind: str, engine: str, folder: Path, pages: Path = pages) -> dict[str, Any]:
            settings = GenerateSettings(
                per_page=5, context_budget=2000, progress=False, resume=False, engine=engine, workers=2
            )
            if kind == "rules":
                generator: Any = RulesGenerator()
            else:
                client = ChatClient(EndpointSettings(url=url, model="latency", concurrency=args.concurrency))
                generator = EndpointGenerator(client)
            begin = time.perf_counter()
            report = generate_dataset(pages, folder, settings, generator)
            seconds = time.perf_counter() - begin
            return {"units": report.pages, "per_second": report.pages / seconds, "seconds": seconds,
                    "written": report.questions_written, "requests": report.requests}  # fmt: skip

        def label(engine: str, folder: Path, records: Path = records) -> dict[str, Any]:
            settings = LabelSettings(
                attempts=args.attempts, max_new_tokens=args.max_new_tokens, temperature=1.0, progress=False,
                resume=False, engine=engine, workers=2,
            )  # fmt: skip
            prepare = PrepareSettings(prompt_budget=args.prompt_budget, progress=False)
            begin = time.perf_counter()  # the local model's load is timed, as the actors' loads are
            policy = LocalPolicy(model if engine == "ray" else model.load())
            report = label_dataset(records, folder, policy, settings, prepare)
            seconds = time.perf_counter() - begin
            return {"units": report.records, "per_second": report.records / seconds, "seconds": seconds,
                    "written": report.labelled, "requests": report.requests}  # fmt: skip

        settings_list = [("generate", "rules"), ("generate", "endpoint"), ("label", "tiny-qwen2")]
        for repeat in range(args.repeat):
            for stage, kind in settings_list:
                for engine in ("local", "ray"):
                    folder = out / f"{stage}-{kind}-{engine}-r{repeat}"
                    result = generate(kind, engine, folder) if stage == "generate" else label(engine, folder)
                    runs.append({"stage": stage, "kind": kind, "engine": engine, "repeat": repeat, **result})
                    print(json.dumps(runs[-1]), flush=True)
                local, remote = (out / f"{stage}-{kind}-{e}-r{repeat}" for e in ("local", "ray"))
                same = all((local / f).read_bytes() == (remote / f).read_bytes() for f in FILES[stage])
                runs[-1]["same_files_as_local"] = same
                folder = out / f"{stage}-{kind}-fixed-r{repeat}"
                if stage == "generate":
                    fixed = generate(kind, "ray", folder, few_pages)
                else:
                    fixed = label("ray", folder, few_records)
                runs[-1]["fixed_seconds"] = fixed["seconds"]
                runs[-1]["per_second_after_start"] = runs[-1]["units"] / (
                    runs[-1]["seconds"] - fixed["seconds"]
                )
                print(json.dumps({"fixed": fixed["seconds"]}), flush=True)
    ray.shutdown()

    rows = []
    for stage, kind in settings_list:
        medians = {}
        for engine in ("local", "ray"):
            group = [r for r in runs if (r["stage"], r["kind"], r["engine"]) == (stage, kind, engine)]
            medians[engine] = statistics.median(r["per_second"] for r in group)
            rows.append({"stage": stage, "kind": kind, "engine": engine, "units": group[0]["units"],
                         "per_second": medians[engine], "runs": [round(r["per_second"], 3) for r in group],
                         "same_files": all(r.get("same_files_as_local", True) for r in group)})  # fmt: skip
        rows[-1]["ray_vs_local"] = medians["ray"] / medians["local"]
        ray_runs = [r for r in runs if (r["stage"], r["kind"], r["engine"]) == (stage, kind, "ray")]
        rows[-1]["fixed_seconds"] = statistics.median(r["fixed_seconds"] for r in ray_runs)
        after_start = statistics.median(r["per_second_after_start"] for r in ray_runs)
        rows[-1]["per_second_after_start"] = after_start
        rows[-1]["after_start_vs_local"] = after_start / medians["local"]
    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "ray_start_seconds": ray_start,
        "medians": rows,
        "runs": runs,
    }
    (out / "ray_generate_label.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("ray_start_seconds", "medians")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
