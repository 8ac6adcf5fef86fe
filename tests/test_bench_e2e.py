"""A small bench run end to end on generated pages: every output file, its fields, domprune always fits."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import pytest

from domprune.bench import BenchSettings, run_bench, write_report
from domprune.bench.cli import add_arguments, run

BUDGETS = [2000, 600, 250]


# the measures a test of one part of the bench leaves out
QUIET: dict = {"chunk_budget": 0, "memory_sample": 0, "ablation": False, "progress": False}


def _page(i: int, rng: random.Random) -> str:
    nav = "".join(f'<li><a href="/section/{k}?ref=nav">Section {k} of the site</a></li>' for k in range(60))
    filler = "".join(
        f"<p class='story-body'>Paragraph {k}: "
        + " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet"]) for _ in range(40))
        + "</p>"
        for k in range(25)
    )
    return (
        f"<html><head><title>Trail report number {i}</title>"
        f"<script>window.tracking = {{'id': {i}, 'x': '{'y' * 500}'}};</script>"
        "<style>.a{color:red}</style></head><body>"
        f'<nav class="menu"><ul>{nav}</ul></nav>'
        f"<article><h1>Trail report number {i}</h1><p class='byline'>By Walker {i}</p>{filler}"
        "<table class='specs'><tr><th>Distance</th><td>12.5 km</td></tr>"
        f"<tr><th>Elevation gain</th><td>{300 + i} m</td></tr></table></article>"
        "<footer><p>Copyright 2026 Example Trails. All rights reserved.</p></footer></body></html>"
    )


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    rng = random.Random(3)
    pages = tmp_path / "pages"
    pages.mkdir()
    lines = []
    for i in range(4):
        (pages / f"p{i}.html").write_text(_page(i, rng), encoding="utf-8")
        lines.append(
            {"html_path": f"pages/p{i}.html", "question": "Who wrote this report?", "answer": f"Walker {i}"}
        )
        lines.append(
            {
                "html_path": f"pages/p{i}.html",
                "question": "What is the elevation gain?",
                "answers": [f"{300 + i} m"],
            }
        )
    lines.append(
        {"html_path": "pages/p0.html", "question": "What is the colour?", "answer": "not on the page"}
    )
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n", encoding="utf-8")
    return jsonl, pages


def test_bench_run_writes_every_number(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    jsonl, pages = inputs
    settings = BenchSettings(
        inputs=[str(jsonl), str(pages)],
        out=tmp_path / "out",
        budgets=BUDGETS,
        sample=None,
        methods=["domprune", "domprune_noq", "truncate", "strip_truncate"],
        synthetic_per_page=1,
        chunk_budget=400,
        memory_sample=2,
        progress=False,
    )
    bench_run = run_bench(settings, log=lambda _: None)
    _, paths = write_report(bench_run, settings.out)
    assert {p.name for p in paths} == {
        "results.json",
        "records.jsonl",
        "skipped.jsonl",
        "report.txt",
        "retention.png",
        "tokens.png",
    }
    assert all(p.stat().st_size > 0 for p in paths)
    saved = json.loads((settings.out / "results.json").read_text(encoding="utf-8"))
    assert set(saved) >= {
        "settings",
        "environment",
        "summary",
        "results",
        "vs_domprune",
        "ablation",
        "steps",
        "chunking",
        "memory",
        "methods",
        "missing_methods",
        "seconds",
    }

    summary = saved["summary"]
    assert summary["pages_measured"] == 8  # 4 pages from the JSONL + the same 4 files as an HTML folder
    assert summary["questions"]["natural"] == 8
    assert summary["questions"]["synthetic"] == 8  # one per page: Distance or Elevation gain
    reasons = summary["skipped"]["by_reason"]
    assert any(r.startswith("malformed JSON") for r in reasons)
    assert reasons["natural question on 'question': answer not found in the page"] == 1
    assert summary["skipped"]["count"] == 2
    assert summary["tokens_before"]["all"]["median"] > max(BUDGETS)

    results = {(r["method"], r["budget"], r["corpus"]): r for r in saved["results"]}
    for budget in BUDGETS:
        dp = results[("domprune", budget, "all")]
        assert dp["fit_share"] == 1.0 and dp["errors"] == 0
        assert dp["tokens_after"]["max"] <= budget
        assert dp["retention"]["n_natural"] == 8 and dp["retention"]["n_synthetic"] == 8
        # the pages and questions are seeded: domprune keeps every answer at every budget
        assert dp["retention"]["natural"] == 1.0 and dp["retention"]["synthetic"] == 1.0
        assert dp["seconds"]["median"] > 0 and dp["calls_per_s"] > 0 and dp["mb_per_s"] > 0
        assert results[("truncate", budget, "all")]["tokens_after"]["max"] <= budget
        assert results[("domprune_noq", budget, "all")]["calls"] == 8
        assert results[("domprune", budget, "all")]["calls"] == 16  # one call per question
    # head truncation of these pages loses the answers that sit after the long navigation and text
    assert results[("truncate", 250, "all")]["retention"]["natural"] == 0.0

    vs = {(r["method"], r["budget"]): r for r in saved["vs_domprune"]}
    assert vs[("truncate", 250)]["answers"] == 16
    assert vs[("truncate", 250)]["retention"] == 0.0
    for m in ("domprune_noq", "truncate", "strip_truncate"):
        for budget in BUDGETS:
            row = vs[(m, budget)]
            assert row["domprune_retention"] == 1.0
            assert row["domprune_retention"] >= row["retention"], (m, budget)
    ablation = {a["step"]: a for a in saved["ablation"]}
    assert set(ablation) == {"filtering", "filtering+attributes"}
    assert (
        ablation["filtering+attributes"]["tokens_after"]["median"]
        <= ablation["filtering"]["tokens_after"]["median"]
    )
    assert saved["chunking"]["natural"]["questions"] == 8
    assert saved["memory"]["pages"] == 2 and saved["memory"]["errors"] == 0
    assert saved["memory"]["rss_peak_mb"]["max"] > saved["memory"]["rss_growth_mb"]["max"] >= 0

    rows = [
        json.loads(line) for line in (settings.out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {r["type"] for r in rows} == {"page", "call", "answer", "ablation", "chunk", "memory"}
    text = (settings.out / "report.txt").read_text(encoding="utf-8")
    assert "domprune" in text and "Ablation" in text


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_run_and_bad_input(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl, _ = inputs
    code = run(
        _args(
            "--input",
            str(jsonl),
            "--out",
            str(tmp_path / "cli"),
            "--budgets",
            "1k,300",
            "--methods",
            "domprune,truncate",
            "--no-progress",
            "--no-ablation",
            "--chunk-budget",
            "0",
            "--memory-sample",
            "0",
        )
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| domprune" in out and "results.json" in out
    saved = json.loads((tmp_path / "cli" / "results.json").read_text(encoding="utf-8"))
    assert saved["settings"]["budgets"] == [1000, 300]
    assert run(_args("--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "x"), "--no-progress")) == 2
    assert "not a folder" in capsys.readouterr().err
    assert run(_args("--out", str(tmp_path / "x"))) == 2
    assert "nothing to measure" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _args("--budgets", "ten")


def test_htmlrag_baseline_fits(
    inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("htmlrag")
    pytest.importorskip("rank_bm25")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, pages = inputs
    settings = BenchSettings(
        inputs=[str(pages)],
        out=tmp_path / "hr",
        budgets=[600],
        sample=1,
        methods=["htmlrag"],
        htmlrag_sample=1,
        synthetic_per_page=2,
        **QUIET,
    )
    numbers, _ = write_report(run_bench(settings, log=lambda _: None), settings.out)
    (row,) = [r for r in numbers["results"] if r["corpus"] == "all"]
    assert row["method"] == "htmlrag" and row["errors"] == 0 and row["calls"] == 2
    assert row["tokens_after"]["max"] <= 600


def test_a_timed_out_call_stops_the_smaller_budgets(tmp_path: Path) -> None:
    from domprune.bench.baselines import Method
    from domprune.bench.records import Page, Question
    from domprune.bench.runner import BenchRun, _PageBench
    from domprune.tokenizers import get_tokenizer

    def fit(state: str, budget: int) -> str:
        if budget == 300:
            time.sleep(5)
        return state[:budget]

    slow = Method("slow", "slow", "html", False, lambda html, q: html, fit)
    settings = BenchSettings(inputs=["x"], out=tmp_path, budgets=[1000, 300, 100], call_timeout_s=0.3)
    bench_run = BenchRun(settings=settings)
    page = Page("p", "c", [Question("Who?", ("Ann",))], html="<p>Ann</p>")
    _PageBench(bench_run, get_tokenizer("qwen2.5"), page, "<p>Ann</p>", page.questions).method(slow)
    calls = {r["budget"]: r for r in bench_run.rows if r["type"] == "call"}
    assert calls[1000]["error"] is None and calls[1000]["fits"]
    assert calls[300]["error"] == "CallTimeout: stopped after 0.3 s"
    assert calls[300]["seconds"] < 5  # the call was stopped before its 5 s sleep ended
    assert (
        calls[100]["error"] == "not run: a larger budget timed out on this page"
        and calls[100]["seconds"] is None
    )
    answers = {r["budget"]: r["retained"] for r in bench_run.rows if r["type"] == "answer"}
    assert answers == {1000: True, 300: False, 100: False}


def _labelled_corpus(root: Path, name: str, label: str) -> None:
    """A questions.jsonl corpus of two pages whose facts carry ``label``."""
    folder = root / name
    (folder / "pages").mkdir(parents=True)
    rows = []
    for i in range(2):
        html = (
            f"<html><head><title>Item {i}</title></head><body><h1>Item {i}</h1>"
            f"<table><tr><th>{label}</th><td>Halcyon House {i}</td></tr></table></body></html>"
        )
        (folder / "pages" / f"{i}.html").write_text(html, encoding="utf-8")
        rows.append(
            {
                "html_path": f"pages/{i}.html",
                "question": "Who published it?",
                "answers": [f"Halcyon House {i}"],
            }
        )
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")


def test_leave_one_out_drops_the_label_words_only_the_corpus_under_test_uses(tmp_path: Path) -> None:
    # "verlag" is a label word of the publisher field that no published vocabulary has: under
    # leave-one-out it stays for the corpus whose neighbour uses it and goes for the one that alone does
    _labelled_corpus(tmp_path / "corpora", "a", "Verlag")
    _labelled_corpus(tmp_path / "corpora", "b", "Publisher")
    settings = BenchSettings(
        corpus=tmp_path / "corpora",
        out=tmp_path / "out",
        budgets=[200],
        methods=["domprune"],
        synthetic_per_page=0,
        paraphrased_per_page=0,
        vocabulary="leave-one-out",
        **QUIET,
    )
    numbers, _ = write_report(run_bench(settings, log=lambda _: None), settings.out)
    left_out = {c: set(v["left_out"]) for c, v in numbers["vocabulary"].items()}
    assert "verlag" in left_out["a"] and "verlag" not in left_out["b"]
    assert "publisher" not in left_out["a"]  # schema.org, Dublin Core and ONIX name it
    sources = run_bench(settings.model_copy(update={"vocabulary": "sources"}), log=lambda _: None)
    assert sources.vocabulary is not None and "verlag" in sources.vocabulary["b"]["left_out"]
    assert (
        run_bench(settings.model_copy(update={"vocabulary": "full"}), log=lambda _: None).vocabulary is None
    )
