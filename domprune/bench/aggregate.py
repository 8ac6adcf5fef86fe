"""Turn the rows of a :class:`~domprune.bench.runner.BenchRun` into the numbers of the report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from statistics import median
from typing import Any

from .metrics import share, summarize
from .runner import BenchRun

ALL = "all"
KINDS = ("natural", "synthetic", "paraphrased")


def _by(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[tuple(row[k] for k in keys)].append(row)
    return out


def _with_all(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, plus a copy of each under corpus ``all``; ``_page`` keeps the real (corpus, page)."""
    tagged = [{**r, "_page": (r["corpus"], r["page"])} for r in rows]
    return tagged + [{**r, "corpus": ALL} for r in tagged]


def _retention(answers: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        flags = [a["retained"] for a in answers if a["kind"] == kind]
        out[kind] = share(flags)
        out[f"n_{kind}"] = len(flags)
    return out


def method_results(run: BenchRun) -> list[dict[str, Any]]:
    """Per method, budget and corpus (and ``all``): tokens, reduction, fit share, retention, speed."""
    before = {(p["corpus"], p["page"]): p for p in run.pages}
    calls = _with_all([r for r in run.rows if r["type"] == "call"])
    answers = _by(
        _with_all([r for r in run.rows if r["type"] == "answer" and not r["method"].startswith("ablation:")]),
        "method",
        "budget",
        "corpus",
    )
    out = []
    for (method, budget, corpus), group in sorted(
        _by(calls, "method", "budget", "corpus").items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2])
    ):
        ok = [r for r in group if r["tokens_after"] is not None]
        seconds = [r["seconds"] for r in group if r["seconds"] is not None]
        mb = sum(before[r["_page"]]["bytes"] for r in group if r["seconds"] is not None) / 2**20
        reductions = [
            before[r["_page"]]["tokens_before"] / r["tokens_after"] for r in ok if r["tokens_after"]
        ]
        # the call's time over one tokenizer pass over the same page (same run, same machine)
        vs_tokenizer = [
            r["seconds"] / before[r["_page"]]["tokenize_seconds"]
            for r in group
            if r["seconds"] is not None and before[r["_page"]].get("tokenize_seconds")
        ]
        out.append(
            {
                "method": method,
                "budget": budget,
                "corpus": corpus,
                "calls": len(group),
                "pages": len({r["_page"] for r in group}),
                "errors": sum(r["error"] is not None for r in group),
                "tokens_after": summarize([r["tokens_after"] for r in ok]),
                "reduction": summarize(reductions),
                "fit_share": share([r["fits"] for r in group]),
                "retention": _retention(answers.get((method, budget, corpus), [])),
                "seconds": summarize(seconds),
                "calls_per_s": len(seconds) / sum(seconds) if sum(seconds) > 0 else None,
                "mb_per_s": mb / sum(seconds) if sum(seconds) > 0 else None,
                "vs_tokenizer_pass": summarize(vs_tokenizer),
            }
        )
    return out


def vs_domprune(run: BenchRun, reference: str = "domprune") -> list[dict[str, Any]]:
    """Each other method against ``reference`` on exactly the same answers and pages, per budget."""
    answers = [r for r in run.rows if r["type"] == "answer" and not r["method"].startswith("ablation:")]
    ref_answers = {
        (r["corpus"], r["page"], r["budget"], r["question"]): r["retained"]
        for r in answers
        if r["method"] == reference
    }
    calls = [r for r in run.rows if r["type"] == "call"]
    ref_time: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for r in calls:
        if r["method"] == reference:
            ref_time[(r["corpus"], r["page"], r["budget"])].append(r["seconds"])
    out: list[dict[str, Any]] = []
    if not ref_time:
        return out
    for (method, budget), group in sorted(
        _by(answers, "method", "budget").items(), key=lambda kv: (kv[0][0], -kv[0][1])
    ):
        if method == reference:
            continue
        pairs = [
            (r["retained"], ref_answers[k])
            for r in group
            if (k := (r["corpus"], r["page"], r["budget"], r["question"])) in ref_answers
        ]
        mine = [
            r
            for r in calls
            if r["method"] == method
            and r["budget"] == budget
            and (r["corpus"], r["page"], budget) in ref_time
        ]
        m_ret = share([a for a, _ in pairs])
        r_ret = share([b for _, b in pairs])
        m_times = [r["seconds"] for r in mine if r["seconds"] is not None]
        r_times = [t for r in mine for t in ref_time[(r["corpus"], r["page"], budget)] if t is not None]
        m_time = median(m_times) if m_times else None
        r_time = median(r_times) if r_times else None
        out.append(
            {
                "method": method,
                "budget": budget,
                "answers": len(pairs),
                "retention": m_ret,
                "domprune_retention": r_ret,
                "retention_ratio": m_ret / r_ret if m_ret is not None and r_ret else None,
                "median_seconds": m_time,
                "domprune_median_seconds": r_time,
                "time_ratio": m_time / r_time if m_time is not None and r_time else None,
            }
        )
    return out


def ablation_results(run: BenchRun) -> list[dict[str, Any]]:
    """Budget fitting off (filtering only; + attributes), per budget: tokens, fit share, retention."""
    before = {(p["corpus"], p["page"]): p["tokens_before"] for p in run.pages}
    out = []
    for (name,), group in _by([r for r in run.rows if r["type"] == "ablation"], "method").items():
        ok = [r for r in group if r["tokens_after"] is not None]
        answers = [r for r in run.rows if r["type"] == "answer" and r["method"] == f"ablation:{name}"]
        out.append(
            {
                "step": name,
                "pages": len(group),
                "errors": sum(r["error"] is not None for r in group),
                "tokens_after": summarize([r["tokens_after"] for r in ok]),
                "reduction": summarize(
                    [before[(r["corpus"], r["page"])] / r["tokens_after"] for r in ok if r["tokens_after"]]
                ),
                "fit_share": {
                    b: share([r["tokens_after"] is not None and r["tokens_after"] <= b for r in group])
                    for b in run.settings.budgets
                },
                "retention": _retention(answers),
                "seconds": summarize([r["seconds"] for r in group]),
            }
        )
    return out


def step_results(run: BenchRun) -> list[dict[str, Any]]:
    """domprune's step reports: median tokens after each step and median seconds, per method and budget."""
    acc: dict[tuple[str, int, str], dict[str, list[float]]] = defaultdict(
        lambda: {"tokens": [], "seconds": []}
    )
    order: dict[str, int] = {}
    for r in run.rows:
        for i, s in enumerate(r.get("steps") or []):
            order.setdefault(s["name"], i)
            if s["tokens_after"] is not None:
                acc[(r["method"], r["budget"], s["name"])]["tokens"].append(s["tokens_after"])
            acc[(r["method"], r["budget"], s["name"])]["seconds"].append(s["seconds"])
    return [
        {
            "method": m,
            "budget": b,
            "step": n,
            "median_tokens_after": median(v["tokens"]) if v["tokens"] else None,
            "median_seconds": median(v["seconds"]),
            "calls": len(v["seconds"]),
        }
        for (m, b, n), v in sorted(acc.items(), key=lambda kv: (kv[0][0], -kv[0][1], order[kv[0][2]]))
    ]


def chunk_results(run: BenchRun) -> dict[str, Any]:
    rows = [r for r in run.rows if r["type"] == "chunk"]
    out: dict[str, Any] = {
        "chunk_budget": run.settings.chunk_budget,
        "errors": sum(r["error"] is not None for r in rows),
    }
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        out[kind] = {
            "questions": len(group),
            "answer_in_top_chunk": share([r["in_top"] for r in group]),
            "answer_in_any_chunk": share([r["in_any"] for r in group]),
            "chunks_per_page": summarize([r["n_chunks"] for r in group]),
            "seconds": summarize([r["seconds"] for r in group]),
        }
    out["chunks_over_budget"] = sum(
        1 for r in rows if r.get("max_chunk_tokens", 0) > run.settings.chunk_budget
    )
    return out


def memory_results(run: BenchRun) -> dict[str, Any]:
    rows = [r for r in run.rows if r["type"] == "memory"]
    ok = [r for r in rows if r["error"] is None]
    return {
        "pages": len(rows),
        "budget": rows[0]["budget"] if rows else None,
        "errors": len(rows) - len(ok),
        "rss_growth_mb": summarize([r["rss_growth_mb"] for r in ok]),
        "rss_peak_mb": summarize([r["rss_peak_mb"] for r in ok]),
        "traced_peak_mb": summarize([r["traced_peak_mb"] for r in ok]),
        "html_mb": summarize([r["html_mb"] for r in ok]),
        "largest_page": max(ok, key=lambda r: r["html_mb"], default=None),
        "bench_process_max_rss_mb": run.environment.get("max_rss_mb"),
    }


def _reader_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the answers scored (a method without output scores 0; a prompt over the context, nothing)."""
    scored = [r for r in rows if r["exact_match"] is not None]
    mean = lambda key: sum(r[key] for r in scored) / len(scored) if scored else None  # noqa: E731
    return {
        "n": len(scored),
        "over_context": sum(r["over_context"] for r in rows),
        "no_output": sum(r["error"] is not None for r in rows),
        "retained": share([r["retained"] for r in scored]),
        "exact_match": mean("exact_match"),
        "f1": mean("f1"),
        "contains": mean("contains"),
    }


def reader_results(run: BenchRun) -> dict[str, Any] | None:
    """The reader, its prompt and sample, and per method, budget and corpus (and ``all``): exact match,
    token F1 and answer-in-completion by question kind (and ``all``), beside retention on the same
    questions. ``None`` when the run had no reader."""
    if run.reader is None:
        return None
    rows = [r for r in run.rows if r["type"] == "reader"]
    results = []
    for (method, budget, corpus), group in sorted(
        _by(_with_all(rows), "method", "budget", "corpus").items(),
        key=lambda kv: (kv[0][0], -(kv[0][1] if kv[0][1] is not None else float("inf")), kv[0][2]),
    ):
        results.append(
            {
                "method": method,
                "budget": budget,
                "corpus": corpus,
                ALL: _reader_scores(group),
                **{k: _reader_scores([r for r in group if r["kind"] == k]) for k in KINDS},
            }
        )
    return {**run.reader, "results": results}


def summary(run: BenchRun) -> dict[str, Any]:
    reasons = Counter(s.reason for s in run.skipped)
    corpora = sorted({p["corpus"] for p in run.pages})
    tokens = {c: summarize([p["tokens_before"] for p in run.pages if p["corpus"] == c]) for c in corpora}
    tokens[ALL] = summarize([p["tokens_before"] for p in run.pages])
    return {
        "pages_measured": len(run.pages),
        "pages_by_corpus": dict(Counter(p["corpus"] for p in run.pages)),
        "htmlrag_pages": sum(p["htmlrag"] for p in run.pages),
        "dense_pages": sum(p.get("dense", False) for p in run.pages),
        "questions": {k: sum(p[k] for p in run.pages) for k in KINDS},
        "skipped": {"count": len(run.skipped), "by_reason": dict(reasons.most_common())},
        "tokens_before": tokens,
        "bytes_before": summarize([p["bytes"] for p in run.pages]),
        "tokenize_seconds": summarize([p["tokenize_seconds"] for p in run.pages if "tokenize_seconds" in p]),
    }


def aggregate(run: BenchRun) -> dict[str, Any]:
    """All numbers of a run, JSON-ready."""
    return {
        "settings": run.settings.model_dump(mode="json"),
        "environment": run.environment,
        "seconds": run.seconds,
        "methods": run.methods,
        "missing_methods": run.missing_methods,
        "summary": summary(run),
        "results": method_results(run),
        "vs_domprune": vs_domprune(run),
        "ablation": ablation_results(run),
        "steps": step_results(run),
        "chunking": chunk_results(run),
        "memory": memory_results(run),
        "reader": reader_results(run),
        "vocabulary": run.vocabulary,  # --vocabulary other than full: label words kept per corpus
    }
