"""How many checkable questions does ``generate --generator rules`` write per real page, and how many survive grounding?

Every page of the corpora (``--corpus``, the folder of ``../shared/corpora`` or one corpus) goes through
the package's own page function, ``domvqa_train.data.generate.generate_page``, twice in the same run:

- ``rules``: :class:`domvqa_train.data.generate.RulesGenerator` (tables, definition lists, form labels,
  "Label: value", title and h1, meta and JSON-LD facts, several wordings);
- ``bench-synthetic``: the benchmark's synthetic question generator
  (``domprune.bench.questions.synthetic_questions``: label/value pairs only, one wording), as the
  alternative, checked by the same grounding.

Per corpus and overall it reports pages, pages with at least one question, questions per page
(written, at most ``--per-page``), the grounding rate (proposed questions that passed every check:
answer found in the page, at most ``--max-answer-words`` words, not in the question, not a repeat),
the drop reasons, answer types and the distinct question wordings (a question with its label/value
replaced by X). ``rules_generator.json`` in ``--out`` holds every number and the command.

    python benchmarks/rules_generator.py --corpus ../shared/corpora --out runs/rules_generator
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from domprune.bench.corpora import load_corpus
from domprune.bench.questions import synthetic_questions
from domprune.bench.records import PageReadError
from domvqa_train.data.generate import GenerateSettings, Proposal, RulesGenerator, generate_page
from domvqa_train.data.generator_prompt import ParsedResponse, ProposedQA, UnusableResponse
from domvqa_train.data.pages import Page


class SyntheticBaseline:
    """The bench's synthetic questions, as a generator for :func:`generate_page`."""

    name = "bench-synthetic"
    model = "bench-synthetic"

    def propose(self, page: Page, settings: GenerateSettings) -> Proposal:
        questions = synthetic_questions(page.html, 3 * settings.per_page, random.Random(page.id))
        if not questions:
            return Proposal(UnusableResponse("no_facts", "no label/value pair"))
        items = [ProposedQA(q.text, tuple(q.answers), source="dom") for q in questions]
        return Proposal(ParsedResponse(items, None, 0))


def wording(question: str, answer: str) -> str:
    """The question with quoted labels and the answer masked, to count distinct wordings."""
    text = re.sub(r'"[^"]*"', '"X"', question)
    return text.replace(answer, "X")


def run(corpus: str, settings: GenerateSettings, limit: int | None) -> dict[str, Any]:
    loaded = load_corpus(corpus)
    generators = {"rules": RulesGenerator(), "bench-synthetic": SyntheticBaseline()}
    stats: dict[str, dict[str, dict[str, Any]]] = {}
    per_corpus: Counter[str] = Counter()
    for bench_page in loaded.pages:
        if limit is not None and per_corpus[bench_page.corpus] >= limit:
            continue
        try:
            html = bench_page.read_html()
        except PageReadError:
            continue
        per_corpus[bench_page.corpus] += 1
        page = Page(f"{bench_page.corpus}/{bench_page.id}", html)
        for name, generator in generators.items():
            for scope in (bench_page.corpus, "all"):
                s = stats.setdefault(name, {}).setdefault(
                    scope,
                    {"pages": 0, "pages_with_questions": 0, "proposed": 0, "written": 0, "over_cap": 0,
                     "dropped": Counter(), "answer_types": Counter(), "wordings": set(), "seconds": 0.0},
                )  # fmt: skip
            start = time.perf_counter()
            result = generate_page(page, generator, settings)
            seconds = time.perf_counter() - start
            for scope in (bench_page.corpus, "all"):
                s = stats[name][scope]
                s["pages"] += 1
                s["seconds"] += seconds
                s["proposed"] += int(result.summary.get("proposed") or 0)
                s["written"] += len(result.records)
                s["pages_with_questions"] += bool(result.records)
                dropped = result.summary.get("dropped") or {}
                s["over_cap"] += int(dropped.get("over_per_page", 0))
                s["dropped"].update({k: v for k, v in dropped.items() if k != "over_per_page"})
                s["answer_types"].update(r["answer_type"] for r in result.records)
                s["wordings"].update(wording(r["question"], r["answer"]) for r in result.records)
    summary: dict[str, Any] = {}
    for name, scopes in stats.items():
        summary[name] = {}
        for scope, s in scopes.items():
            summary[name][scope] = {
                "pages": s["pages"],
                "pages_with_questions": s["pages_with_questions"],
                "questions_per_page": s["written"] / s["pages"] if s["pages"] else None,
                "grounding_rate": (s["written"] + s["over_cap"]) / s["proposed"] if s["proposed"] else None,
                "proposed": s["proposed"],
                "written": s["written"],
                "dropped": dict(s["dropped"].most_common()),
                "answer_types": dict(s["answer_types"].most_common()),
                "distinct_wordings": len(s["wordings"]),
                "ms_per_page": 1000 * s["seconds"] / s["pages"] if s["pages"] else None,
            }
    return summary


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| corpus | generator | pages | with questions | questions/page | grounding rate | distinct wordings | ms/page |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    scopes = sorted({scope for scopes in summary.values() for scope in scopes}, key=lambda s: (s == "all", s))
    for scope in scopes:
        for name in summary:
            s = summary[name].get(scope)
            if s:
                lines.append(
                    f"| {scope} | {name} | {s['pages']} | {s['pages_with_questions']} | "
                    f"{s['questions_per_page']:.2f} | {s['grounding_rate'] or 0:.3f} | {s['distinct_wordings']} | "
                    f"{s['ms_per_page']:.1f} |"
                )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", required=True, help="folder of the corpora (or one corpus)")
    parser.add_argument("--out", default="runs/rules_generator")
    parser.add_argument("--per-page", type=int, default=10)
    parser.add_argument("--max-answer-words", type=int, default=4)
    parser.add_argument("--limit", type=int, help="at most this many pages per corpus")
    args = parser.parse_args()
    settings = GenerateSettings(
        per_page=args.per_page, max_answer_words=args.max_answer_words, progress=False
    )
    start = time.perf_counter()
    summary = run(args.corpus, settings, args.limit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "seconds": time.perf_counter() - start,
        "summary": summary,
    }
    (out / "rules_generator.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
