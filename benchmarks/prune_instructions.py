"""Instructions a prune call executes, over those of one tokenizer pass of its page (callgrind).

    python benchmarks/prune_instructions.py --corpus ../shared/corpora [--per-corpus 10] [--budget 1000]

Time on a shared 2-core machine moves by ±10% between runs; the instructions the CPU executes do
not. Each measurement runs this script again as a child under ``valgrind --tool=callgrind``
(``PYTHONHASHSEED=0``) on the same pages, drawn evenly from each corpus as
``prune_speed.py`` draws them (each page with its first question):

- ``load``: import domprune, read the pages, warm the tokenizer (the part every child shares);
- ``prune``: the same, then each page pruned twice at ``--budget``, without and with its question;
- ``count``: the same, then one ``count`` of each raw page.

Reported: the instructions of the prune calls (``prune`` - ``load``) over twice those of the
tokenizer passes (``count`` - ``load``): a call's cost in tokenizer passes, deterministic, summed
over the pages (the bench's median per page weighs small pages more). Needs ``valgrind``; about a
minute a child for 40 pages. Run it with each version's package (``PYTHONPATH``) to compare two.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def draw(corpus: Path, per_corpus: int) -> list[tuple[str, str | None]]:
    """(html, first question) of ``per_corpus`` pages drawn evenly from each corpus."""
    from corpus_draw import evenly

    return [
        (p.read_html() if p.html is None else p.html, p.questions[0].text if p.questions else None)
        for p in evenly(corpus, per_corpus)
    ]


def child(mode: str, corpus: Path, per_corpus: int, budget: int) -> None:
    import domprune

    pages = draw(corpus, per_corpus)
    tok = domprune.get_tokenizer("qwen2.5")
    domprune.prune("<p>warm up</p>" * 50, budget=100, question="Who?", tokenizer=tok)
    if mode == "prune":
        for html, question in pages:
            domprune.prune(html, budget=budget, tokenizer=tok)
            domprune.prune(html, budget=budget, question=question, tokenizer=tok)
    elif mode == "count":
        for html, _ in pages:
            tok.count(html)


def instructions(mode: str, args: argparse.Namespace) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        mode,
        "--corpus",
        str(args.corpus),
        "--per-corpus",
        str(args.per_corpus),
        "--budget",
        str(args.budget),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        sys.exit(f"valgrind failed ({mode}): {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--per-corpus", type=int, default=10, help="pages drawn evenly per corpus")
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--child", choices=("load", "prune", "count"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.corpus, args.per_corpus, args.budget)
        return
    if shutil.which("valgrind") is None:
        sys.exit(
            "prune_instructions.py counts instructions with valgrind, which is not installed: apt-get install valgrind"
        )
    load, prune, count = (instructions(m, args) for m in ("load", "prune", "count"))
    calls, passes = prune - load, count - load
    print(f"prune calls: {calls / 1e6:,.0f} M instructions; tokenizer passes: {passes / 1e6:,.0f} M")
    print(f"a call over a tokenizer pass (summed over the pages): {calls / (2 * passes):.3f}")


if __name__ == "__main__":
    main()
