"""Where domprune's time goes, against one tokenizer pass over the raw page (issue 10's speed target).

    python benchmarks/prune_speed.py --corpus ../shared/corpora [--per-corpus 40] [--budgets 16000,4000,1000]

For pages drawn evenly from each corpus (each page with its first question), per budget: the
median over pages of (prune time / one ``count`` of the raw page), as the bench reports it, per
corpus and over all pages, and the mean number of outputs the budget step counted exactly a call
(deterministic: it does not move with the machine's load); then, summed over the pages, each step's time over the summed tokenizer
time. The steps are timed by wrapping the pipeline's own functions (in this process only), so
they add a little time of their own; the per-page ratio is measured without the wrappers first.
Last, for a page with several questions (a dataset: the corpora's labelled questions of the page),
the time per question when the page is prepared once for all of them (``PreparedPage.for_question``),
over the same tokenizer pass.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpus_draw import evenly  # (beside this script)

import domprune
import domprune.counting
import domprune.steps.units
from domprune import pipeline
from domprune.steps import filtering, ranking

# (module or class, function name, label): the parts of one prune call
STEPS: list[tuple[Any, str, str]] = [
    (pipeline, "parse_page", "parse (lxml)"),
    (pipeline, "flatten", "flatten (walk into the flat table)"),
    (filtering, "remove_noise", "filter: noise"),
    (filtering, "remove_invisible", "filter: invisible"),
    (filtering, "remove_empty", "filter: empty"),
    (filtering, "unwrap", "filter: unwrap"),
    (pipeline, "_neutralize", "filter: special tokens"),
    (pipeline, "strip_attributes", "attributes"),
    (pipeline, "UnitModel", "units"),
    (pipeline, "whole_may_fit", "whole page may fit?"),
    (pipeline, "rank_units", "ranking (all)"),
    (ranking, "element_flags", "  ranking: boilerplate/main flags"),
    (ranking._Ranker, "_blocks", "  ranking: blocks"),
    (ranking._Ranker, "_add_relevance", "  ranking: relevance (with blocks, context)"),
    (ranking._Ranker, "_add_context", "  ranking: context"),
    (domprune.steps.units.UnitModel, "select", "fit: select by estimate"),
    (domprune.steps.units.UnitModel, "render", "fit: write the output"),
    (domprune.counting.PieceCounts, "count", "fit: exact counts (tokenizer)"),
]


def _wrap(owner: Any, name: str, label: str, spent: dict[str, float]) -> Callable[[], None]:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - t0

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--per-corpus", type=int, default=40, help="pages drawn evenly per corpus")
    ap.add_argument("--budgets", default="16000,4000,1000")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    pages: list[tuple[str, str, str | None]] = []
    questions: dict[int, list[str]] = {}  # page index -> all its questions
    for p in evenly(args.corpus, args.per_corpus):
        html = p.read_html() if p.html is None else p.html
        questions[len(pages)] = [q.text for q in p.questions]
        pages.append((p.corpus, html, p.questions[0].text if p.questions else None))
    counter = domprune.get_tokenizer("qwen2.5")
    for _, html, q in pages[:3]:  # warm caches (regexes, vocabulary)
        domprune.prune(html, budget=budgets[0], question=q)
    print(f"{len(pages)} pages: {dict(sorted(Counter(c for c, _, _ in pages).items()))}")
    for budget in budgets:
        ratios: dict[str, list[float]] = defaultdict(list)
        exact_counts: list[int] = []  # outputs the budget step counted exactly, per call
        tokenizer_s = 0.0
        for corpus, html, q in pages:
            t0 = time.perf_counter()
            counter.count(html)
            tok = time.perf_counter() - t0
            tokenizer_s += tok
            t0 = time.perf_counter()
            result = domprune.prune(html, budget=budget, question=q)
            ratios[corpus].append((time.perf_counter() - t0) / tok)
            exact_counts.append(result.steps[-1].removed.get("exact_counts", 0))
        every = [r for rs in ratios.values() for r in rs]
        print(
            f"\nbudget {budget}: median prune / tokenizer pass "
            + ", ".join(f"{c} {statistics.median(rs):.2f}" for c, rs in sorted(ratios.items()))
            + f", all {statistics.median(every):.2f}; exact counts a call, mean {statistics.mean(exact_counts):.2f}"
        )
        spent: dict[str, float] = defaultdict(float)
        undo = [_wrap(owner, name, label, spent) for owner, name, label in STEPS]
        try:
            total = 0.0
            for _, html, q in pages:
                t0 = time.perf_counter()
                domprune.prune(html, budget=budget, question=q)
                total += time.perf_counter() - t0
        finally:
            for u in reversed(undo):
                u()
        print(
            f"  summed over the pages, / summed tokenizer time ({tokenizer_s:.2f} s): prune {total / tokenizer_s:.2f}"
        )
        for _, _, label in STEPS:
            print(f"    {label:45s} {spent[label] / tokenizer_s:.3f}")
        shared: dict[str, list[float]] = defaultdict(list)
        asked = 0
        for k, (corpus, html, _) in enumerate(pages):
            qs = questions[k]
            if len(qs) < 2:
                continue
            asked += len(qs)
            t0 = time.perf_counter()
            counter.count(html)
            tok = time.perf_counter() - t0
            t0 = time.perf_counter()
            page = domprune.prepare(html, tokenizer=counter)
            for q in qs:
                page.for_question(q).fit(budget)
            shared[corpus].append((time.perf_counter() - t0) / len(qs) / tok)
        every = [r for rs in shared.values() for r in rs]
        if every:
            print(
                f"  one page prepared for all its questions ({len(every)} pages, {asked} questions), median per "
                "question / tokenizer pass: "
                + ", ".join(f"{c} {statistics.median(rs):.2f}" for c, rs in sorted(shared.items()))
                + f", all {statistics.median(every):.2f}"
            )


if __name__ == "__main__":
    main()
