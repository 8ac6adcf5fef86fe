"""Records/s of `prepare` on real pages: local engine (1 and 2 workers), Ray (2 CPUs), datasets.map (2 processes).

    python benchmarks/prepare_scale.py --corpus ../shared/corpora --records 2000 [--budget 16384]

Builds ``--records`` prepare records (page, natural question, answer) by cycling through the labelled
questions of the corpora, writes them as JSON Lines, then times in one run, on the same records:

- ``local-1`` / ``local-2``: ``prepare_dataset`` with the local engine and 1 or 2 worker processes;
- ``ray-2``: ``prepare_dataset(engine="ray", workers=2)`` on a local Ray with 2 CPUs (Ray's start-up is
  timed apart: it is paid once per job, not per record);
- ``datasets-2``: ``datasets.Dataset.map(PruneBatch(template=...), num_proc=2)``, the same prompt fitting
  without prepare's files.

It also times the parts that stay on one machine in a Ray run (the driver): reading and validating the
records (``load_examples``) and writing the output lines, and one tokenizer pass over every raw page,
so that the cluster estimate in RESULTS.md can say where the bottleneck moves. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_records(corpus: Path, n: int) -> list[dict[str, object]]:
    """``n`` records (unique ids) cycling through every (page, natural question) of the corpora."""
    from domprune.bench.corpora import load_corpus
    from domprune.bench.records import PageReadError

    pairs = []
    for page in load_corpus(corpus).pages:
        try:
            html = page.read_html()
        except PageReadError:
            continue
        pairs.extend((page.id, html, q.text, list(q.answers)) for q in page.questions)
    pairs.sort(key=lambda p: (p[0], p[2]))
    return [
        {"id": f"{page_id}#{i}", "html": html, "question": question, "answers": answers}
        for i, (page_id, html, question, answers) in enumerate(islice(cycle(pairs), n))
    ]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--budget", type=int, default=16384)
    args = parser.parse_args()

    import datasets
    import ray

    import domprune
    from domprune.integrations import PruneBatch
    from domvqa_train.common.records import load_examples
    from domvqa_train.prompts.prepare import PrepareSettings, default_template, prepare_dataset

    records = build_records(args.corpus, args.records)
    work = Path(tempfile.mkdtemp(prefix="prepare-scale-"))
    source = work / "records.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    n = len(records)
    results: dict[str, dict[str, float]] = {}

    def run(name: str, **settings: object) -> None:
        s = PrepareSettings(prompt_budget=args.budget, progress=False, resume=False, **settings)
        seconds, report = timed(lambda: prepare_dataset(source, work / name, s))
        results[name] = {
            "seconds": seconds,
            "records_per_s": n / seconds,
            "written": sum(report.written.values()),
        }
        print(name, results[name], flush=True)

    run("local-1", workers=1)
    run("local-2", workers=2)
    ray_start, _ = timed(lambda: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False))
    run("ray-2", engine="ray", workers=2)
    ray.shutdown()

    ds = datasets.Dataset.from_list(records)
    fit = PruneBatch(budget=args.budget, template=default_template())
    seconds, _ = timed(
        lambda: ds.map(fit, batched=True, batch_size=16, num_proc=2, load_from_cache_file=False)
    )
    results["datasets-2"] = {"seconds": seconds, "records_per_s": n / seconds}
    print("datasets-2", results["datasets-2"], flush=True)

    # the driver's share of a Ray run: read + validate, write
    read_s, loaded = timed(lambda: load_examples(source))
    lines = (work / "local-1" / "train.jsonl").read_bytes()
    write_s, _ = timed(lambda: (work / "rewrite.jsonl").write_bytes(lines))
    counter = domprune.get_tokenizer("qwen2.5")
    tok_s, _ = timed(lambda: [counter.count(r["html"]) for r in records])
    base = results["local-1"]["records_per_s"]
    print(
        json.dumps(
            {
                "records": n,
                "distinct_pages": len({r["html"] for r in records}),
                "budget": args.budget,
                "engines": results,
                "ratio_to_local_1": {k: v["records_per_s"] / base for k, v in results.items()},
                "ray_start_seconds": ray_start,
                "driver": {
                    "read_validate_records_per_s": len(loaded.examples) / read_s,
                    "write_mb_per_s": len(lines) / 1e6 / write_s,
                    "output_bytes_per_record": len(lines) / max(1, results["local-1"]["written"]),
                    "input_bytes_per_record": source.stat().st_size / n,
                },
                "tokenizer_pass_records_per_s": n / tok_s,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
