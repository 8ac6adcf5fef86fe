"""HTML, text and Markdown output on the same pages and questions (issue 17).

    OMP_NUM_THREADS=1 python benchmarks/markdown_tokens.py --corpus ../shared/corpora [--per-corpus 40]

For pages drawn evenly from each corpus and their natural questions (at most ``--questions`` a
page) whose answer is in the raw page:

1. retention per budget and format: the answer is still in the output, by
   ``domprune.answers.answer_in`` in that format; and that every output fits its budget;
2. tokens of the same kept content in each format: the whole filtered page (budget fitting off),
   and what budget fitting kept in HTML at ``--same-budget`` written in each format (the same
   keep flags), as totals over the pages and the median per-page ratio to HTML.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from corpus_draw import evenly  # (beside this script)

import domprune
from domprune import PruneSettings
from domprune.answers import answer_in, haystack
from domprune.document import serialize

FORMATS = ("html", "text", "markdown")


def _pages(corpus: Path, per_corpus: int, per_page: int) -> list[tuple[str, str, list[Any]]]:
    """(corpus, html, questions answerable from the page), drawn evenly from each corpus."""
    out = []
    for p in evenly(corpus, per_corpus):
        html = p.read_html()
        hay = haystack(html)
        qs = [q for q in p.questions if q.kind == "natural" and any(map(hay.contains, q.answers))]
        out.append((p.corpus, html, qs[:per_page]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--per-corpus", type=int, default=40, help="pages drawn evenly per corpus")
    ap.add_argument("--questions", type=int, default=2, help="natural questions per page, at most")
    ap.add_argument("--budgets", default="500,1000,4000,16000")
    ap.add_argument("--same-budget", type=int, default=4000, help="budget of the same-content count")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    t0 = time.perf_counter()
    pages = _pages(args.corpus, args.per_corpus, args.questions)
    n_questions = sum(len(qs) for _, _, qs in pages)
    print(f"{len(pages)} pages, {n_questions} questions answerable from the page")

    kept: dict[tuple[str, int], int] = defaultdict(int)
    over: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    whole: dict[str, list[int]] = defaultdict(list)
    same: dict[str, list[int]] = defaultdict(list)
    for _, html, qs in pages:
        for fmt in FORMATS:
            settings = PruneSettings(format=fmt)
            base = domprune.prepare(html, question=qs[0].text if qs else None, settings=settings)
            whole[fmt].append(
                domprune.prune(html, settings=settings.model_copy(update={"fit": False})).tokens_after
            )
            for q in qs:
                page = base.for_question(q.text)
                for b in budgets:
                    r = page.fit(b)
                    calls[fmt] += 1
                    over[fmt] += r.tokens_after > b
                    kept[fmt, b] += answer_in(q.answers, r.output, fmt)
        # the same kept content: HTML's selection at one budget, written in every format
        p = domprune.prepare(html, question=qs[0].text if qs else None)
        sel = p.select(args.same_budget)
        for fmt in FORMATS:
            out = serialize(p.document, sel.keep, sel.keep_text, sel.keep_tail, fmt=fmt)
            same[fmt].append(p.counter.count(out))

    print(f"\n## Retention ({n_questions} questions; answer in the output, by answer_in in its format)\n")
    print("| budget | " + " | ".join(FORMATS) + " |")
    print("|---|" + "---|" * len(FORMATS))
    for b in budgets:
        print(
            f"| {b:,} | "
            + " | ".join(f"{100 * kept[f, b] / max(n_questions, 1):.1f}%" for f in FORMATS)
            + " |"
        )
    print("\nover budget: " + ", ".join(f"{f} {over[f]} of {calls[f]}" for f in FORMATS))

    print(f"\n## Tokens of the same kept content ({len(pages)} pages)\n")
    print("| content | " + " | ".join(FORMATS) + " | text / html | markdown / html |")
    print("|---|" + "---|" * (len(FORMATS) + 2))
    for name, counts in (("whole filtered page", whole), (f"HTML's selection at {args.same_budget:,}", same)):
        ratios = {
            f: statistics.median(c / h for c, h in zip(counts[f], counts["html"], strict=True) if h)
            for f in ("text", "markdown")
        }
        totals = " | ".join(f"{sum(counts[f]):,}" for f in FORMATS)
        print(f"| {name}: total | {totals} | {ratios['text']:.2f} | {ratios['markdown']:.2f} |")
    print("\n(ratios: median over pages of the format's tokens / HTML's tokens)")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
