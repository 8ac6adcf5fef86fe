"""Memory and tokenizer passes of ``prune`` on huge element-dense pages (issue 17).

    python benchmarks/huge_pages.py [--mb 11,32] [--budgets 4000,16000] [--variants flat,nested]
                                    [--no-question] [--traced] [--out huge.json]

Each page is generated (``flat``: ``<div><a href="/item/N">Item N name</a></div>`` repeated until
the page has the size asked for; ``nested``: each item inside two wrappers with classes, ids and
data attributes, a price and a ``<span>``), written to a file, and pruned once per budget and
question in a fresh child process, as :mod:`domprune.bench.memory` does: the peak resident set
(``VmHWM``, reset just before the call) over the resident set before it, which includes lxml's C
tree that tracemalloc cannot see. Reported per call:

- ``page_mb`` (10^6 bytes) and ``extra_mb`` (MiB, as the bench's memory table), the peak growth,
  also as a multiple of the page's size (``x_page``: MiB over the page's MiB);
- ``passes``: the call's time over one ``count`` of the whole raw page in the same process, the
  bench's "x tokenizer pass";
- ``counted``: tokens the tokenizer produced during the call over the tokens of the raw page (a
  deterministic count of the tokenizer's work, through a counting wrapper);
- ``seconds`` of the call, and with ``--traced`` the peak of Python's own allocations (tracemalloc,
  a second call in the same child; slow).

The bench's own memory table (``domprune bench --memory-sample``) measures corpus pages the same
way; these pages are larger than any corpus page and stress the per-element work.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QUESTION = "What is the price of item 777?"


def flat_page(k: int) -> str:
    """``k`` items ``<div><a href="/item/N">Item N name</a></div>`` in a page.

    >>> flat_page(2).count("<a href")
    2
    """
    items = "".join(f'<div><a href="/item/{i}">Item {i} name</a></div>' for i in range(k))
    return f"<html><head><title>Items</title></head><body><h1>All items</h1>{items}</body></html>"


def nested_page(k: int) -> str:
    """``k`` items, each in two wrappers with attributes, with a price and a span.

    >>> nested_page(3).count('class="card"')
    3
    """
    items = "".join(
        f'<li class="row" data-pos="{i}"><div class="card" id="c{i}" data-sku="SKU{i:07d}">'
        f'<a class="link" href="/item/{i}?ref=list">Item {i} name</a>'
        f'<span class="price">${i % 500}.{i % 100:02d}</span></div></li>'
        for i in range(k)
    )
    return (
        "<html><head><title>Items</title></head><body><h1>All items</h1>"
        f'<ul class="grid">{items}</ul><footer>Shop footer</footer></body></html>'
    )


VARIANTS = {"flat": flat_page, "nested": nested_page}


def page_of(variant: str, mb: float) -> str:
    """A ``variant`` page of about ``mb`` MB (10^6 bytes; 11 MB: 208,000 flat items)."""
    make = VARIANTS[variant]
    per_item = len(make(100_000).encode()) / 100_000  # item numbers of five and six digits
    return make(max(1, round(mb * 1e6 / per_item)))


class CountingTokenizer:
    """A token counter that adds up the tokens it produced (delegating to ``inner``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.additive_at_tags = getattr(inner, "additive_at_tags", False)
        self.tokens = 0

    def encode(self, text: str) -> list[int]:
        ids = self.inner.encode(text)
        self.tokens += len(ids)
        return ids  # type: ignore[no-any-return]

    def count(self, text: str) -> int:
        n = int(self.inner.count(text))
        self.tokens += n
        return n

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        out = list(self.inner.count_batch(texts))
        self.tokens += sum(out)
        return out

    def render_chat(self, messages: Any, add_generation_prompt: bool = True) -> str:
        return self.inner.render_chat(messages, add_generation_prompt)  # type: ignore[no-any-return]


def _child(path: str, budget: int, question: str | None, traced: bool) -> dict[str, Any]:
    import domprune
    from domprune.bench.memory import _peak_mb, _reset_peak, _status_mb

    counter = CountingTokenizer(domprune.get_tokenizer("qwen2.5"))
    html = Path(path).read_text(encoding="utf-8")
    domprune.prune("<p>warm up</p>" * 50, budget=budget, question=question, tokenizer=counter)
    counter.tokens = 0
    _reset_peak()
    before = _status_mb("VmRSS") or _peak_mb()
    t0 = time.perf_counter()
    result = domprune.prune(html, budget=budget, question=question, tokenizer=counter)
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
    counted = counter.tokens
    out: dict[str, Any] = {
        "rss_before_mb": before,
        "extra_mb": peak - before,
        "seconds": seconds,
        "tokens_after": result.tokens_after,
        "fits": result.tokens_after <= budget,
        "units_dropped": result.steps[-1].removed.get("units_dropped"),
        "exact_counts": result.steps[-1].removed.get("exact_counts"),
    }
    del result
    t0 = time.perf_counter()
    page_tokens = counter.inner.count(html)  # after the peak was read: this count holds every id
    out["tokenize_seconds"] = time.perf_counter() - t0
    out["page_tokens"] = page_tokens
    out["counted"] = counted / page_tokens
    out["passes"] = seconds / out["tokenize_seconds"]
    if traced:
        tracemalloc.start()
        domprune.prune(html, budget=budget, question=question, tokenizer=counter.inner)
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def measure(path: Path, budget: int, question: str | None, traced: bool, timeout_s: float) -> dict[str, Any]:
    """One call in a fresh child process."""
    args = [
        sys.executable,
        __file__,
        "--child",
        str(path),
        str(budget),
        question or "",
        "1" if traced else "0",
    ]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout_s:g} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [str(proc.returncode)])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        path, budget, question, traced = sys.argv[2:6]
        print(json.dumps(_child(path, int(budget), question or None, traced == "1")))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", default="11,32", help="page sizes in MB, comma-separated")
    ap.add_argument("--budgets", default="4000,16000")
    ap.add_argument("--variants", default="flat,nested")
    ap.add_argument("--no-question", action="store_true", help="only calls without a question")
    ap.add_argument("--question-only", action="store_true", help="only calls with the question")
    ap.add_argument("--traced", action="store_true", help="also tracemalloc's peak (a second, slower call)")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args()
    questions: list[str | None] = [None, QUESTION]
    if args.no_question:
        questions = [None]
    elif args.question_only:
        questions = [QUESTION]
    rows = []
    header = (
        f"{'variant':8s} {'page MB':>8s} {'budget':>6s} {'question':>8s} {'extra MB':>9s} {'x page':>7s} "
        f"{'passes':>7s} {'counted':>8s} {'seconds':>8s} {'tokens':>7s}"
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            for mb in (float(x) for x in args.mb.split(",")):
                html = page_of(variant, mb)
                path = Path(tmp) / f"{variant}-{mb:g}.html"
                path.write_text(html, encoding="utf-8")
                page_mb = len(html.encode()) / 1e6
                del html
                for budget in (int(b) for b in args.budgets.split(",")):
                    for q in questions:
                        r = measure(path, budget, q, args.traced, args.timeout)
                        row = {"variant": variant, "page_mb": page_mb, "budget": budget, "question": q, **r}
                        if "error" not in r:
                            row["x_page"] = r["extra_mb"] / (page_mb * 1e6 / 2**20)
                            print(
                                f"{variant:8s} {page_mb:8.1f} {budget:6d} {'yes' if q else 'no':>8s} "
                                f"{r['extra_mb']:9.0f} {row['x_page']:7.1f} {r['passes']:7.2f} "
                                f"{r['counted']:8.3f} {r['seconds']:8.2f} {r['tokens_after']:7d}"
                                + (f"  traced {r['traced_peak_mb']:.0f} MB" if "traced_peak_mb" in r else ""),
                                flush=True,
                            )
                        else:
                            print(f"{variant:8s} {page_mb:8.1f} {budget:6d} error: {r['error']}", flush=True)
                        rows.append(row)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
