"""Pages per second and requests in flight of ``generate`` against local OpenAI-compatible servers.

Two servers on 127.0.0.1, in the same run:

- ``transformers-serve``: a tiny random Qwen2 (``domvqa_train.testing.tiny``; or ``--model-dir``) served by
  ``transformers serve`` (``domvqa_train.testing.local_server.serve_locally``): a compute-bound local model. It
  writes junk, so nearly every page ends as a reject; the pipeline (prune, request, parse, ground,
  write) does the same work either way;
- ``latency-server``: a server of this script that answers every request after ``--latency`` seconds
  with the same well-formed question list (two of its answers are in every synthetic page): a
  latency-bound endpoint, like a remote API.

The same pages (``--corpus``: the first ``--pages`` pages of the corpora, round robin; otherwise
synthetic product pages) go through ``domvqa_train.data.generate.generate_dataset`` once per server and
``--concurrency`` value, each into a fresh folder: the DOM pruned to ``--context-budget`` tokens,
``--max-tokens`` completion tokens per request, ``--repeat`` times, interleaved. Reported per server
and concurrency (medians over the repeats): wall time, pages/s, the ratio to the first concurrency on
the same server, requests in flight (max, and mean while at least one was in flight: the client's own
count). Every run's numbers (tokens, how the pages ended) and the command are in
``generate_throughput.json`` in ``--out``.

    python benchmarks/generate_throughput.py --pages 16 --out runs/generate_throughput
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from domvqa_train.common.endpoint import ChatClient, EndpointSettings
from domvqa_train.data.generate import EndpointGenerator, GenerateSettings, generate_dataset
from domvqa_train.testing.local_server import serve_locally


def write_pages(folder: Path, corpus: str | None, n: int) -> Path:
    """``n`` pages as ``.html`` files: from the corpora (round robin over them) or synthetic."""
    folder.mkdir(parents=True, exist_ok=True)
    if corpus is None:
        for i in range(n):
            rows = "".join(f"<tr><th>Spec {j}</th><td>{i * 7 + j} units</td></tr>" for j in range(40))
            html = f"<html><body><h1>Product {i}</h1><table>{rows}</table><p>{'Detail text. ' * 300}</p></body></html>"
            (folder / f"synthetic{i}.html").write_text(html, encoding="utf-8")
        return folder
    from domprune.bench.corpora import load_corpus

    by_corpus: dict[str, list[Any]] = {}
    for page in load_corpus(corpus).pages:
        by_corpus.setdefault(page.corpus, []).append(page)
    taken = 0
    for index in range(max(len(p) for p in by_corpus.values())):
        for name in sorted(by_corpus):
            if taken < n and index < len(by_corpus[name]):
                page = by_corpus[name][index]
                (folder / f"{name}-{taken}.html").write_text(page.read_html(), encoding="utf-8")
                taken += 1
    return folder


LATENCY_ANSWER = json.dumps(
    {
        "reasoning": "fixed",
        "questions": [
            {"question": "What is the first spec?", "answer": "Spec 0", "answer_type": "phrase", "source": "dom",
             "evidence": "Spec 0"},
            {"question": "What does the detail say?", "answer": "Detail text", "answer_type": "phrase",
             "source": "dom", "evidence": "Detail text"},
            {"question": "Who made it?", "answer": "nobody", "answer_type": "word", "source": "dom", "evidence": ""},
        ],
    }
)  # fmt: skip


@contextmanager
def latency_server(latency: float) -> Iterator[str]:
    """An OpenAI-compatible server that answers each chat request after ``latency`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._json({"object": "list", "data": [{"id": "latency", "object": "model"}]})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(latency)
            message = {"role": "assistant", "content": LATENCY_ANSWER}
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            choice = {"index": 0, "finish_reason": "stop", "message": message}
            self._json({"id": "x", "object": "chat.completion", "created": 0, "model": "latency",
                        "choices": [choice], "usage": usage})  # fmt: skip

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def sweep(
    name: str, url: str, model: str, pages: Path, out: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One generate run per concurrency value against ``url``."""
    runs: list[dict[str, Any]] = []
    values = [int(c) for c in args.concurrency.split(",")]
    for repeat, concurrency in [(r, c) for r in range(args.repeat) for c in values]:
        client = ChatClient(EndpointSettings(url=url, model=model, concurrency=concurrency, timeout=300))
        settings = GenerateSettings(
            per_page=5, context_budget=args.context_budget, max_tokens=args.max_tokens, temperature=1.0,
            progress=False, resume=False,
        )  # fmt: skip
        start = time.perf_counter()
        folder = out / f"{name}-c{concurrency}-r{repeat}"
        report = generate_dataset(pages, folder, settings, EndpointGenerator(client))
        seconds = time.perf_counter() - start
        runs.append(
            {
                "server": name,
                "concurrency": concurrency,
                "repeat": repeat,
                "seconds": seconds,
                "pages": report.pages,
                "pages_per_second": report.pages / seconds,
                "max_in_flight": report.requests["max_in_flight"],
                "mean_in_flight": report.requests["mean_in_flight"],
                "requests": report.requests["requests"],
                "prompt_tokens": report.prompt_tokens,
                "completion_tokens": report.completion_tokens,
                "pages_with_questions": report.pages_with_questions,
                "questions_written": report.questions_written,
                "rejects_by_kind": report.rejects_by_kind,
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    return runs


def medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per server and concurrency: the median over repeats, and its ratio to the server's first concurrency."""
    rows: list[dict[str, Any]] = []
    for server in dict.fromkeys(r["server"] for r in runs):
        for concurrency in dict.fromkeys(r["concurrency"] for r in runs if r["server"] == server):
            group = [r for r in runs if r["server"] == server and r["concurrency"] == concurrency]
            rows.append(
                {
                    "server": server,
                    "concurrency": concurrency,
                    "repeats": len(group),
                    "pages": group[0]["pages"],
                    "seconds": statistics.median(r["seconds"] for r in group),
                    "pages_per_second": statistics.median(r["pages_per_second"] for r in group),
                    "max_in_flight": max(r["max_in_flight"] for r in group),
                    "mean_in_flight": statistics.median(r["mean_in_flight"] for r in group),
                }
            )
    for row in rows:
        first = next(r for r in rows if r["server"] == row["server"])
        row["vs_first"] = row["pages_per_second"] / first["pages_per_second"]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", help="folder of the corpora (default: synthetic pages)")
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated values")
    parser.add_argument("--context-budget", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per concurrency (interleaved; medians reported)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.5, help="seconds per request of the latency server"
    )
    parser.add_argument("--model-dir", help="a model folder to serve (default: a tiny random Qwen2)")
    parser.add_argument("--out", default="runs/generate_throughput")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pages = write_pages(out / "pages", args.corpus, args.pages)
    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        from domvqa_train.testing.tiny import build_tiny_model

        model_dir = build_tiny_model(out / "model")
    with serve_locally(model_dir, log_path=out / "serve.log") as url:
        warm = ChatClient(EndpointSettings(url=url, model=str(model_dir)))
        warm.check()
        warm.complete([{"role": "user", "content": "warm up"}], max_tokens=4)
        runs = sweep("transformers-serve", url, str(model_dir), pages, out, args)
    with latency_server(args.latency) as url:
        runs += sweep("latency-server", url, "latency", pages, out, args)
    summary = medians(runs)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "cpus": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "context_budget": args.context_budget,
        "max_tokens": args.max_tokens,
        "latency": args.latency,
        "summary": summary,
        "runs": runs,
    }
    (out / "generate_throughput.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        "| server | concurrency | pages | median seconds | pages/s | vs first | max in flight | mean in flight |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in summary:
        print(
            f"| {r['server']} | {r['concurrency']} | {r['pages']} | {r['seconds']:.1f} | {r['pages_per_second']:.2f} | "
            f"{r['vs_first']:.2f} | {r['max_in_flight']} | {r['mean_in_flight']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
