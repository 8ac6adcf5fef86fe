"""Write a run's numbers: terminal tables, ``results.json``, ``records.jsonl``, ``skipped.jsonl``, plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .aggregate import ALL, KINDS, aggregate
from .runner import BenchRun


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table (also valid Markdown)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _by_corpus_table(numbers: dict[str, Any], kind: str = "natural") -> str:
    corpora = [*sorted({r["corpus"] for r in numbers["results"]} - {ALL}), ALL]
    cells: dict[tuple[str, int], dict[str, str]] = {}
    for r in numbers["results"]:
        ret = r["retention"]
        cells.setdefault((r["method"], r["budget"]), {})[r["corpus"]] = (
            f"{_pct(ret[kind])} ({ret['n_' + kind]})" if ret["n_" + kind] else "-"
        )
    return format_table(
        ["method", "budget", *corpora],
        [[m, str(b), *(row.get(c, "-") for c in corpora)] for (m, b), row in cells.items()],
    )


def _reader_cell(scores: dict[str, Any]) -> str:
    if not scores["n"]:
        return "-"
    return (
        f"{_pct(scores['exact_match'])} / {_pct(scores['f1'])} / {_pct(scores['contains'])} ({scores['n']})"
    )


def reader_tables(reader: dict[str, Any], corpus: str = ALL) -> list[str]:
    """The reader's section of the report: what read, with which prompt, and its scores."""
    model, template = reader["model"], reader["template"]
    rows = [r for r in reader["results"] if r["corpus"] == corpus]
    budget = lambda r: "page" if r["budget"] is None else str(r["budget"])  # noqa: E731
    parts = [
        "",
        f"Reader: {model['model_type']} ({model['parameters']:,} parameters, {model['dtype']}, "
        f"{model['device']}) from {model['path']}; context {reader['context']} tokens, greedy, "
        f"{reader['max_new_tokens']} new tokens; {reader['sampled_questions']} questions sampled "
        f"{reader['sampled_by_kind']}; {reader['calls']} answers in {reader['seconds']:.1f} s",
        f"Prompt (the same for every method; the method's output is the dom): {template['user']!r}, "
        f"system {template['system']!r}, chat template {'on' if template['chat'] else 'off'}",
        f"Reader answers per method and budget (corpus: {corpus}); EM = exact match, F1 = token F1, "
        "in = answer in the completion (SQuAD-normalised), retained = answer in the output it read",
        format_table(
            ["method", "budget", "questions", "over context", "no output", "retained", "EM", "F1", "in"],
            [
                [
                    r["method"],
                    budget(r),
                    str(r[ALL]["n"]),
                    str(r[ALL]["over_context"]),
                    str(r[ALL]["no_output"]),
                    _pct(r[ALL]["retained"]),
                    _pct(r[ALL]["exact_match"]),
                    _pct(r[ALL]["f1"]),
                    _pct(r[ALL]["contains"]),
                ]
                for r in rows
            ],
        ),
    ]
    kinds = [k for k in KINDS if any(r[k]["n"] for r in rows)]
    if kinds:
        parts += [
            "",
            "Reader answers by question kind: EM / F1 / in (questions)",
            format_table(
                ["method", "budget", *kinds],
                [[r["method"], budget(r), *(_reader_cell(r[k]) for k in kinds)] for r in rows],
            ),
        ]
    corpora = sorted({r["corpus"] for r in reader["results"]} - {ALL})
    if len(corpora) > 1:
        cells: dict[tuple[str, str], dict[str, str]] = {}
        for r in reader["results"]:
            cells.setdefault((r["method"], budget(r)), {})[r["corpus"]] = _reader_cell(r[ALL])
        parts += [
            "",
            "Reader answers by corpus: EM / F1 / in (questions)",
            format_table(
                ["method", "budget", *corpora, ALL],
                [[m, b, *(row.get(c, "-") for c in [*corpora, ALL])] for (m, b), row in cells.items()],
            ),
        ]
    return parts


def _vocabulary_lines(numbers: dict[str, Any], shown: int = 40) -> list[str]:
    """The field vocabulary of the run and, per corpus, the label words it left out (none without
    ``--vocabulary``).

    >>> _vocabulary_lines({"settings": {"vocabulary": "leave-one-out"}, "vocabulary": {"a": {"left_out": ["isbn"]}}})
    ['field vocabulary: leave-one-out; label words left out per corpus:\\n  a: 1 (isbn)']
    """
    if not numbers.get("vocabulary"):
        return []
    lines = [f"field vocabulary: {numbers['settings'].get('vocabulary')}; label words left out per corpus:"]
    for c, v in numbers["vocabulary"].items():
        words = v["left_out"]
        more = " ..." if len(words) > shown else ""
        lines.append(f"  {c}: {len(words)} ({' '.join(words[:shown])}{more})")
    return ["\n".join(lines)]


def tables(numbers: dict[str, Any], corpus: str = ALL) -> str:
    """The human-readable report of :func:`~domprune.bench.aggregate.aggregate`'s numbers."""
    s = numbers["summary"]
    parts = [
        f"pages measured: {s['pages_measured']} {s['pages_by_corpus']}; questions: {s['questions']}; "
        f"HtmlRAG on {s['htmlrag_pages']} pages, domprune_dense on {s.get('dense_pages', 0)}",
        f"skipped records: {s['skipped']['count']}"
        + "".join(f"\n  {n} x {reason}" for reason, n in list(s["skipped"]["by_reason"].items())[:12]),
        *_vocabulary_lines(numbers),
        "",
        "Tokens of the raw pages (" + numbers["environment"].get("tokenizer", "?") + ")",
        format_table(
            ["corpus", "pages", "median", "p90", "max"],
            [
                [c, _fmt(t["n"]), _fmt(t["median"], 0), _fmt(t["p90"], 0), _fmt(t["max"], 0)]
                for c, t in s["tokens_before"].items()
            ],
        ),
        "",
        f"Per method and budget (corpus: {corpus}); retention = answer still in the output",
        format_table(
            [
                "method",
                "budget",
                "calls",
                "fits",
                "tokens med",
                "p90",
                "max",
                "reduction med",
                "retained nat",
                "retained syn",
                "retained par",
                "s/call med",
                "p90",
                "calls/s",
                "MB/s",
                "x tokenizer pass",
                "errors",
            ],
            [
                [
                    r["method"],
                    str(r["budget"]),
                    str(r["calls"]),
                    _pct(r["fit_share"]),
                    _fmt(r["tokens_after"]["median"], 0),
                    _fmt(r["tokens_after"]["p90"], 0),
                    _fmt(r["tokens_after"]["max"], 0),
                    _fmt(r["reduction"]["median"], 1) + "x",
                    _pct(r["retention"]["natural"]) + f" ({r['retention']['n_natural']})",
                    _pct(r["retention"]["synthetic"]) + f" ({r['retention']['n_synthetic']})",
                    _pct(r["retention"]["paraphrased"]) + f" ({r['retention']['n_paraphrased']})",
                    _fmt(r["seconds"]["median"], 3),
                    _fmt(r["seconds"]["p90"], 3),
                    _fmt(r["calls_per_s"], 1),
                    _fmt(r["mb_per_s"], 2),
                    _fmt((r.get("vs_tokenizer_pass") or {}).get("median"), 2),
                    str(r["errors"]),
                ]
                for r in numbers["results"]
                if r["corpus"] == corpus
            ],
        ),
    ]
    for kind in KINDS:
        if any(r["retention"]["n_" + kind] for r in numbers["results"]):
            parts += [
                "",
                f"{kind.capitalize()}-question retention by corpus (answers in brackets)",
                _by_corpus_table(numbers, kind),
            ]
    if numbers["vs_domprune"]:
        parts += [
            "",
            "Against domprune on the same answers/pages (ratio = method / domprune)",
            format_table(
                [
                    "method",
                    "budget",
                    "answers",
                    "retained",
                    "domprune retained",
                    "retention ratio",
                    "s med",
                    "domprune s med",
                    "time ratio",
                ],
                [
                    [
                        r["method"],
                        str(r["budget"]),
                        str(r["answers"]),
                        _pct(r["retention"]),
                        _pct(r["domprune_retention"]),
                        _fmt(r["retention_ratio"]),
                        _fmt(r["median_seconds"], 3),
                        _fmt(r["domprune_median_seconds"], 3),
                        _fmt(r["time_ratio"]),
                    ]
                    for r in numbers["vs_domprune"]
                ],
            ),
        ]
    if numbers["ablation"]:
        budgets = numbers["settings"]["budgets"]
        parts += [
            "",
            "Ablation: budget fitting off (compare with domprune_noq / domprune above)",
            format_table(
                [
                    "steps",
                    "pages",
                    "tokens med",
                    "p90",
                    "reduction med",
                    *(f"fits {b}" for b in budgets),
                    "retained nat",
                    "retained syn",
                    "retained par",
                    "s med",
                ],
                [
                    [
                        a["step"],
                        str(a["pages"]),
                        _fmt(a["tokens_after"]["median"], 0),
                        _fmt(a["tokens_after"]["p90"], 0),
                        _fmt(a["reduction"]["median"], 1) + "x",
                        *(_pct(a["fit_share"][b]) for b in budgets),
                        _pct(a["retention"]["natural"]),
                        _pct(a["retention"]["synthetic"]),
                        _pct(a["retention"]["paraphrased"]),
                        _fmt(a["seconds"]["median"], 3),
                    ]
                    for a in numbers["ablation"]
                ],
            ),
        ]
    if numbers["steps"]:
        parts += [
            "",
            "domprune step reports (median tokens after each step)",
            format_table(
                ["method", "budget", "step", "tokens after med", "s med"],
                [
                    [
                        r["method"],
                        str(r["budget"]),
                        r["step"],
                        _fmt(r["median_tokens_after"], 0),
                        _fmt(r["median_seconds"], 4),
                    ]
                    for r in numbers["steps"]
                ],
            ),
        ]
    c = numbers["chunking"]
    if any(c.get(k, {}).get("questions") for k in KINDS):
        parts += [
            "",
            f"Chunking (chunk budget {c['chunk_budget']}, question given)",
            format_table(
                ["questions", "n", "answer in top chunk", "answer in any chunk", "chunks/page med", "s med"],
                [
                    [
                        k,
                        str(c[k]["questions"]),
                        _pct(c[k]["answer_in_top_chunk"]),
                        _pct(c[k]["answer_in_any_chunk"]),
                        _fmt(c[k]["chunks_per_page"]["median"], 0),
                        _fmt(c[k]["seconds"]["median"], 3),
                    ]
                    for k in KINDS
                ],
            ),
        ]
    m = numbers["memory"]
    if m["pages"] and m["largest_page"]:
        big = m["largest_page"]
        parts += [
            "",
            f"Memory of one prune call (budget {m['budget']}, {m['pages']} pages, each in a fresh process): "
            f"peak RSS growth median {_fmt(m['rss_growth_mb']['median'], 1)} MB, max "
            f"{_fmt(m['rss_growth_mb']['max'], 1)} MB; process peak RSS max {_fmt(m['rss_peak_mb']['max'], 0)} MB; "
            f"largest page {_fmt(big['html_mb'], 2)} MB: +{_fmt(big['rss_growth_mb'], 1)} MB; "
            f"Python-traced peak max {_fmt(m['traced_peak_mb']['max'], 1)} MB",
        ]
    if numbers.get("reader"):
        parts += reader_tables(numbers["reader"], corpus)
    for name, why in numbers["missing_methods"].items():
        parts.append(f"left out: {name}: {why}")
    parts.append(f"wall time: {numbers['seconds']:.1f} s")
    return "\n".join(parts)


def plot(numbers: dict[str, Any], run: BenchRun, out: Path) -> list[Path]:
    """``retention.png`` (retention vs budget per method) and ``tokens.png`` (tokens before/after)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    results = [r for r in numbers["results"] if r["corpus"] == ALL]
    fig, axes = plt.subplots(1, len(KINDS), figsize=(15, 4.2), sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        for method in dict.fromkeys(r["method"] for r in results):
            pts = sorted(
                (r["budget"], r["retention"][kind])
                for r in results
                if r["method"] == method and r["retention"][kind] is not None
            )
            if pts:
                pages = max(r["pages"] for r in results if r["method"] == method)
                ax.plot(
                    [p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=f"{method} ({pages} p.)"
                )
        ax.set_xscale("log")
        ax.set_xlabel("budget (tokens)")
        ax.set_title(f"{kind} questions")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("answers retained (%)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    written.append(out / "retention.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    budgets = numbers["settings"]["budgets"]
    data = [[p["tokens_before"] for p in run.pages]]
    labels = ["raw"]
    for b in budgets:
        after = [
            r["tokens_after"]
            for r in run.rows
            if r["type"] == "call" and r["method"] == "domprune" and r["budget"] == b and r["tokens_after"]
        ]
        if after:
            data.append(after)
            labels.append(f"domprune {b}")
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("tokens")
    ax.set_title("tokens per page: raw HTML and domprune output per budget")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    written.append(out / "tokens.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written


def write_report(run: BenchRun, out: Path) -> tuple[dict[str, Any], list[Path]]:
    """Write every output file of a run into ``out``; return the numbers and the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    numbers = aggregate(run)
    paths = [out / "results.json", out / "records.jsonl", out / "skipped.jsonl", out / "report.txt"]
    paths[0].write_text(json.dumps(numbers, indent=1, default=str) + "\n", encoding="utf-8")
    with paths[1].open("w", encoding="utf-8") as f:
        for page in run.pages:
            f.write(json.dumps({"type": "page", **page}) + "\n")
        for row in run.rows:
            f.write(json.dumps(row) + "\n")
    with paths[2].open("w", encoding="utf-8") as f:
        for skip in run.skipped:
            f.write(json.dumps(skip.as_dict(), ensure_ascii=False) + "\n")
    paths[3].write_text(tables(numbers) + "\n", encoding="utf-8")
    paths += plot(numbers, run, out)
    return numbers, paths
