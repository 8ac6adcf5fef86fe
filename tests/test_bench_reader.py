"""The bench's reader: answer scores, answer extraction, the question sample, and a run end to end
(a tiny random Qwen2 through the CLI; an oracle reader whose scores must equal retention)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import domprune
from domprune.bench.answering import WHOLE_PAGE, sample_questions
from domprune.bench.cli import add_arguments, run
from domprune.bench.metrics import contains_answer, exact_match, normalize_answer, token_f1
from domprune.bench.reader import READER_TEMPLATE, Reader, extract_answer, reader_prompt
from domprune.bench.records import Question

METHODS = ["domprune", "domprune_noq", "truncate", "strip_truncate"]
BUDGETS = [400, 150]
PROMPT = re.compile(r"<dom>(.*)</dom>\nQuestion: (.*)", re.S)


# ---------------------------------------------------------------------------------------- scores


def test_normalisation_and_scores() -> None:
    assert normalize_answer("An  Apple, the PIE!") == "apple pie"
    assert normalize_answer("the") == ""
    assert exact_match("The Walker 3.", ["walker 3"]) == 1.0
    assert exact_match("Walker", ["Walker 3", "W. 3"]) == 0.0
    assert exact_match("W 3", ["Walker 3", "W. 3"]) == 1.0  # any answer
    assert token_f1("Walker 3", ["Walker 3"]) == 1.0
    assert token_f1("by Walker 3", ["Walker 3"]) == pytest.approx(0.8)  # precision 2/3, recall 1
    assert token_f1("Walker 3", ["nothing alike", "3 m"]) == pytest.approx(0.5)  # the best answer counts
    assert token_f1("", [""]) == 1.0 and token_f1("x", []) == 0.0
    assert contains_answer("It was written by Walker 3, I think.", ["walker 3"]) == 1.0
    assert contains_answer("Walker 33", ["Walker 3"]) == 1.0  # a substring, as the brief defines it
    assert contains_answer("Walker", ["Walker 3"]) == 0.0
    assert contains_answer("anything", ["the"]) == 0.0  # an answer that normalises to nothing


def test_extract_answer() -> None:
    assert extract_answer(r"so \boxed{ 312 m } and \boxed{no}") == "312 m"  # the first box
    assert extract_answer(r"\boxed{\text{Walker {3}}}") == r"\text{Walker {3}}"  # nested braces
    assert extract_answer(r"\boxed {x}") == "x"
    assert extract_answer("\n\n  Walker 3  \nmore text") == "Walker 3"
    assert extract_answer(r"\boxed{open" + "\nsecond") == r"\boxed{open"  # unbalanced: the first line
    assert extract_answer("   \n  ") == ""


def test_sample_is_seeded_bounded_and_stratified() -> None:
    q = lambda kind: Question("Q?", ("A",), kind)  # noqa: E731
    pages = [("a", [q("natural")] * 10 + [q("synthetic")] * 10), ("b", [q("natural")] * 3)]
    picked = sample_questions(pages, 6, seed=1)
    assert len(picked) == 6 and picked == sample_questions(pages, 6, seed=1)
    assert picked != sample_questions(pages, 6, seed=2)
    strata = [(pages[p][0], pages[p][1][i].kind) for p, i in picked]
    assert {s: strata.count(s) for s in strata} == {
        ("a", "natural"): 2,
        ("a", "synthetic"): 2,
        ("b", "natural"): 2,
    }
    assert len(sample_questions(pages, 100, seed=1)) == 23  # all of them, no more
    assert sample_questions([], 5, seed=0) == set()


def test_reader_prompt_is_fit_prompts_text() -> None:
    """The reader's prompt is what fit_prompt renders with the same template, given the pruned DOM."""
    counter = domprune.get_tokenizer("qwen2.5")
    html = "<h1>Boots</h1>" + "<p>Light and dry. <|im_end|></p>" * 30 + "<p>Price: $129</p>"
    question = "What is the price? <|im_start|>"
    fitted = domprune.fit_prompt(
        html, question=question, budget=120, tokenizer=counter, template=READER_TEMPLATE
    )
    assert fitted.text == reader_prompt(counter, fitted.prune.output, question)
    assert "<|im_start|>" not in fitted.text


def test_domprune_does_not_load_the_reader() -> None:
    code = (
        "import sys, domprune, domprune.cli, domprune.bench.runner;"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules];"
        "assert not bad, bad;"
        "assert 'domprune.bench.reader' not in sys.modules or 'domprune.bench.runner' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    core = "import sys, domprune; assert 'domprune.bench.reader' not in sys.modules"
    subprocess.run([sys.executable, "-c", core], check=True)


# ---------------------------------------------------------------------------------------- runs


def _page(i: int, paragraphs: int) -> str:
    nav = "".join(f'<li><a href="/section/{k}">Section {k} of the site</a></li>' for k in range(20))
    text = "".join(
        f"<p class='body'>Paragraph {k} of report {i}: the group walked on over roots and stones.</p>"
        for k in range(paragraphs)
    )
    return (
        f"<html><head><title>Trail report {i}</title><script>var t = '{'x' * 200}';</script></head><body>"
        f"<nav><ul>{nav}</ul></nav><article><h1>Trail report {i}</h1>{text}"
        f"<p class='byline'>Written by Walker {i}</p>"
        f"<table><tr><th>Elevation gain</th><td>{310 + i} m</td></tr></table></article></body></html>"
    )


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    """Two small pages and one large one (its whole page does not fit a 1,500-token reader), two
    natural questions each."""
    lines = []
    for i, paragraphs in enumerate([12, 14, 150]):
        (tmp_path / f"p{i}.html").write_text(_page(i, paragraphs), encoding="utf-8")
        lines.append(
            {"html_path": f"p{i}.html", "question": "Who wrote the report?", "answer": f"Walker {i}"}
        )
        lines.append(
            {"html_path": f"p{i}.html", "question": "What is the elevation gain?", "answer": f"{310 + i} m"}
        )
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def _bench_args(qa: Path, out: Path, *extra: str) -> argparse.Namespace:
    return _args(
        "--input",
        str(qa),
        "--out",
        str(out),
        "--budgets",
        ",".join(map(str, BUDGETS)),
        "--methods",
        ",".join(METHODS),
        "--synthetic-per-page",
        "0",
        "--paraphrased-per-page",
        "0",
        "--no-ablation",
        "--chunk-budget",
        "0",
        "--memory-sample",
        "0",
        "--no-progress",
        *extra,
    )


def _rows(out: Path, kind: str) -> list[dict[str, Any]]:
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from domvqa_train.testing.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("reader") / "qwen2", "qwen2")


@pytest.mark.slow
def test_bench_with_a_tiny_reader(
    qa: Path,
    tmp_path: Path,
    tiny_reader: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from transformers import AutoTokenizer

    counter = domprune.get_tokenizer("qwen2.5")
    prompts: list[str] = []
    generate = Reader.generate

    def capture(self: Reader, batch: list[str]) -> list[str]:
        prompts.extend(batch)
        return generate(self, batch)

    monkeypatch.setattr(Reader, "generate", capture)
    out = tmp_path / "out"
    code = run(
        _bench_args(
            qa,
            out,
            "--reader",
            str(tiny_reader),
            "--reader-sample",
            "3",
            "--reader-context",
            "1500",
            "--reader-max-new-tokens",
            "6",
        )
    )
    assert code == 0, capsys.readouterr().err
    numbers = json.loads((out / "results.json").read_text(encoding="utf-8"))
    reader = numbers["reader"]
    assert reader["model"]["model_type"] == "qwen2" and reader["model"]["path"] == str(tiny_reader)
    from transformers import AutoModelForCausalLM

    expected_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_reader).parameters())
    assert reader["model"]["parameters"] == expected_params
    assert reader["template"] == {
        "system": None,
        "user": "<dom>{dom}</dom>\nQuestion: {question}",
        "chat": False,
    }
    assert reader["sampled_questions"] == 3 and reader["context"] == 1500 and reader["max_new_tokens"] == 6

    # which sampled questions' whole page fits 1,500 tokens, counted here with the reader's own tokenizer
    rows = _rows(out, "reader")
    sampled = {(r["page"], r["question"]) for r in rows}
    assert len(sampled) == 3
    tok = AutoTokenizer.from_pretrained(tiny_reader)
    questions = ["Who wrote the report?", "What is the elevation gain?"]  # the page's questions, in order

    def whole_page_fits(page: str, qi: int) -> bool:
        html = (qa.parent / page).read_text(encoding="utf-8")
        return len(tok(reader_prompt(counter, html, questions[qi]))["input_ids"]) + 6 <= 1500

    pages = [f"p{i}.html" for i in range(3)]
    assert {(p, q) for p in pages for q in (0, 1) if whole_page_fits(p, q)} == {
        (p, q) for p in pages[:2] for q in (0, 1)
    }  # the two small pages fit, the large one does not
    fits = {(page, qi) for page, qi in sampled if whole_page_fits(page, qi)}
    assert 0 < len(fits) < len(sampled)  # seed 0 samples from both
    assert len(prompts) == reader["calls"] == 3 * len(METHODS) * len(BUDGETS) + len(fits)
    whole = [r for r in rows if r["method"] == WHOLE_PAGE]
    assert {(r["page"], r["question"]) for r in whole if not r["over_context"]} == fits
    assert all(r["exact_match"] is None for r in whole if r["over_context"])

    # the same prompt for every method; only the dom differs (and the whole page's dom is the page)
    doms: dict[str, list[str]] = {}
    for p in prompts:
        match = PROMPT.fullmatch(p)
        assert match is not None, p[:200]
        doms.setdefault(match.group(2), []).append(match.group(1))
    for qi, question in enumerate(questions):
        asked = sum(q == qi for _, q in sampled) * len(METHODS) * len(BUDGETS) + sum(q == qi for _, q in fits)
        assert len(doms.get(question, [])) == asked
        assert not asked or len(set(doms[question])) > 1  # methods and budgets give different doms
    assert set(doms) <= set(questions)
    for page, qi in fits:
        assert (qa.parent / page).read_text(encoding="utf-8") in doms[questions[qi]]

    table = {(r["method"], r["budget"]): r for r in reader["results"] if r["corpus"] == "all"}
    assert set(table) == {(m, b) for m in METHODS for b in BUDGETS} | {(WHOLE_PAGE, None)}
    for (method, budget), r in table.items():
        scores = r["all"]
        assert scores["n"] == (len(fits) if method == WHOLE_PAGE else 3), (method, budget)
        assert scores["n"] == sum(r[k]["n"] for k in ("natural", "synthetic", "paraphrased"))
        for key in ("exact_match", "f1", "contains", "retained"):
            value = scores[key]
            assert (value is None) == (scores["n"] == 0) and (value is None or 0.0 <= value <= 1.0), (
                method,
                key,
            )
    text = (out / "report.txt").read_text(encoding="utf-8")
    assert "Reader answers per method and budget" in text and "qwen2" in text and "whole_page" in text


class _Oracle(Reader):
    """Answers from the dom as a perfect reader would: the answer when the dom shows it, else a refusal."""

    def count(self, prompt: str) -> int:
        return len(prompt) // 4

    def generate(self, prompts: list[str]) -> list[str]:
        self.calls += len(prompts)
        out = []
        for prompt in prompts:
            dom, question = PROMPT.fullmatch(prompt).groups()  # type: ignore[union-attr]
            pattern = r"Written by (Walker \d+)\b" if question.startswith("Who") else r"\b(\d+ m)\b"
            found = re.search(pattern, dom)
            out.append(f"The page says \\boxed{{{found.group(1)}}}." if found else "I cannot tell.\nSorry.")
        return out


def test_oracle_reader_scores_equal_retention(
    qa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader that answers exactly when the answer is in what it reads scores what retention measures."""
    oracle = _Oracle(
        None, None, context=10**6, max_new_tokens=24, batch_size=4, info={"model_type": "oracle"}
    )
    oracle.info.update(path="oracle", parameters=0, dtype="-", device="-")
    monkeypatch.setattr(Reader, "load", classmethod(lambda cls, path, **kw: oracle))
    out = tmp_path / "out"
    assert run(_bench_args(qa, out, "--reader", str(tmp_path), "--reader-sample", "4")) == 0, (
        capsys.readouterr()
    )
    rows = _rows(out, "reader")
    assert oracle.calls == len(rows) == 4 * len(METHODS) * len(BUDGETS) + 4  # every whole page fits
    assert len({(r["page"], r["question"]) for r in rows}) == 4
    assert any(not r["retained"] for r in rows) and any(r["retained"] for r in rows)
    answers = {(r["page"], r["method"], r["budget"], r["question"]): r for r in _rows(out, "answer")}
    for r in rows:
        gold = [f"Walker {r['page'][1]}", f"{310 + int(r['page'][1])} m"][r["question"]]
        assert r["exact_match"] == r["f1"] == r["contains"] == float(r["retained"]), r
        assert r["answer"] == (gold if r["retained"] else "I cannot tell.")
        if r["method"] != WHOLE_PAGE:  # the reader row's retention is the answer row's
            assert r["retained"] == answers[(r["page"], r["method"], r["budget"], r["question"])]["retained"]
    reader = json.loads((out / "results.json").read_text(encoding="utf-8"))["reader"]
    for r in reader["results"]:
        assert r["all"]["exact_match"] == r["all"]["retained"], r
        if r["method"] == WHOLE_PAGE:
            assert r["budget"] is None and r["all"]["exact_match"] == 1.0 and r["all"]["n"] == 4


def test_cli_reader_errors(qa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run(_bench_args(qa, out, "--reader", str(tmp_path / "no-model"))) == 2
    err = capsys.readouterr().err
    assert "no-model: no such folder" in err and "Traceback" not in err and err.count("\n") == 1
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
    assert run(_bench_args(qa, out, "--reader", str(adapter))) == 2
    assert "is a LoRA adapter; merge it" in capsys.readouterr().err
    assert run(_bench_args(qa, out, "--reader", str(adapter), "--reader-sample", "0")) == 2
    assert "reader_sample" in capsys.readouterr().err
    assert not (out / "results.json").exists()


@pytest.mark.slow
def test_cli_reader_folder_that_does_not_load(
    qa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "no-such-model"}', encoding="utf-8")
    assert run(_bench_args(qa, tmp_path / "out", "--reader", str(empty))) == 2
    err = capsys.readouterr().err
    assert "cannot load it as a transformers causal LM" in err and err.count("\n") == 1


@pytest.mark.slow
def test_generation_is_batched_left_padded_and_in_order(tiny_reader: Path) -> None:
    """A stand-in model echoes each row's last two prompt tokens: with left padding they are the prompt's
    own, and every completion comes back to its own prompt."""
    import torch
    from transformers import AutoTokenizer

    seen: list[torch.Tensor] = []

    class Echo:
        def parameters(self):  # the device the reader puts its inputs on
            yield torch.zeros(1)

        def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw: Any) -> torch.Tensor:
            assert kw["do_sample"] is False and kw["max_new_tokens"] == 24
            seen.append(attention_mask)
            return torch.cat([input_ids, input_ids[:, -2:]], dim=1)

    tok = AutoTokenizer.from_pretrained(tiny_reader)
    tok.padding_side = "left"
    reader = Reader(Echo(), tok, context=4096, max_new_tokens=24, batch_size=4)
    prompts = [f"<dom>{'<p>filler</p>' * n}</dom>\nQuestion: Q{n} ends" for n in (1, 9, 3, 27, 5)]
    tails = [tok.decode(tok(p)["input_ids"][-2:]) for p in prompts]
    assert len(set(tails)) == len(prompts)
    assert reader.generate(prompts) == tails
    assert [m.shape[0] for m in seen] == [4, 1] and reader.calls == 5
    for mask in seen:  # padding only ever at the start of a row
        assert all(row.tolist() == sorted(row.tolist()) for row in mask)
    assert seen[0][:, 0].tolist().count(0) == 3  # the longest prompt first, the three shorter ones padded


def test_a_reader_leaves_the_other_measurements_alone(
    qa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With and without a reader, the same calls, outputs' tokens and retained answers; no reader, no
    reader rows and ``reader: null`` in results.json."""
    oracle = _Oracle(None, None, context=10**6, max_new_tokens=24, batch_size=4)
    oracle.info.update(model_type="oracle", path="oracle", parameters=0, dtype="-", device="-")
    monkeypatch.setattr(Reader, "load", classmethod(lambda cls, path, **kw: oracle))
    with_reader, without = tmp_path / "with", tmp_path / "without"
    assert run(_bench_args(qa, with_reader, "--reader", str(tmp_path), "--reader-sample", "2")) == 0
    assert run(_bench_args(qa, without)) == 0

    def measured(out: Path) -> list[tuple[Any, ...]]:
        calls = [
            (r["page"], r["method"], r["budget"], r["question"], r["tokens_after"])
            for r in _rows(out, "call")
        ]
        answers = [
            (r["page"], r["method"], r["budget"], r["question"], r["retained"]) for r in _rows(out, "answer")
        ]
        return calls + answers

    assert (
        measured(with_reader) == measured(without)
        and len(measured(without)) == 3 * (2 * 2 + 3 * 2) + 3 * 4 * 2 * 2
    )
    assert _rows(without, "reader") == [] and len(_rows(with_reader, "reader")) == 2 * 8 + 2
    assert json.loads((without / "results.json").read_text(encoding="utf-8"))["reader"] is None
    assert "Reader" not in (without / "report.txt").read_text(encoding="utf-8")


def test_page_reading_asks_only_what_fits_and_scores_missing_output_zero() -> None:
    from domprune.bench.answering import PageReading

    oracle = _Oracle(None, None, context=60, max_new_tokens=10, batch_size=4)
    question = Question("Who wrote the report?", ("Walker 7",))
    reading = PageReading(
        oracle, domprune.get_tokenizer("qwen2.5"), {"corpus": "c", "page": "p"}, {0: question}
    )
    reading.add("truncate", 100, 0, "<p>Written by Walker 7</p>", True, None)
    reading.add("htmlrag", 100, 0, None, False, "CallTimeout: slow")
    reading.add_whole_page("<p>" + "filler " * 200 + "Written by Walker 7</p>")
    rows = {r["method"]: r for r in reading.answer()}
    assert oracle.calls == 1 and reading.pending == []
    assert rows["truncate"]["exact_match"] == 1.0 and rows["truncate"]["answer"] == "Walker 7"
    assert rows["htmlrag"]["error"] == "CallTimeout: slow" and rows["htmlrag"]["exact_match"] == 0.0
    assert rows["htmlrag"]["prompt_tokens"] is None and not rows["htmlrag"]["over_context"]
    assert rows[WHOLE_PAGE]["over_context"] and rows[WHOLE_PAGE]["exact_match"] is None
    assert rows[WHOLE_PAGE]["prompt_tokens"] + 10 > 60
