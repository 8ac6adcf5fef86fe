"""prepare_dataset end to end on tiny pages with a small prompt budget, so that pruning really happens."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

import domprune
from domvqa_train.errors import PrepareError
from domvqa_train.prompts import prepare
from domvqa_train.prompts.prepare import PrepareSettings, load_prepared, prepare_dataset

BUDGET = 450


def _page(index: int, answer: str) -> str:
    nav = "".join(f'<li><a href="/c/{k}">Category {k}</a></li>' for k in range(30))
    related = "".join(
        f'<div class="card"><h3>Item {k}</h3><p>Only ${k * 7}.99 today</p></div>' for k in range(25)
    )
    return (
        "<html><head><title>Shop</title><script>track()</script><style>.card{color:red}</style></head><body>"
        f"<nav><ul>{nav}</ul></nav><main><h1>Product {index}</h1>"
        f"<table><tr><th>Warranty</th><td>{answer}</td></tr>"
        f"<tr><th>Weight</th><td>{index + 1} kg</td></tr></table>"
        f"</main><aside>{related}</aside><footer>© Shop {index}</footer></body></html>"
    )


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    records = [
        {
            "id": f"p{i}",
            "html": _page(i, f"{i + 2} years"),
            "question": "How long is the warranty?",
            "answer": f"{i + 2} years",
        }
        for i in range(4)
    ]
    records.append(
        {
            "id": "t0",
            "html": _page(9, "5 years"),
            "question": "Warranty?",
            "answers": ["5 years"],
            "split": "test",
        }
    )
    records.append({"id": "long", "html": _page(7, "1 year"), "question": "why " * 600, "answer": "1 year"})
    lines = [json.dumps(r) for r in records]
    lines.insert(2, "{broken json")
    path = tmp_path / "source.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _settings(**overrides: object) -> PrepareSettings:
    return PrepareSettings(prompt_budget=BUDGET, progress=False, **overrides)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _outputs(out: Path) -> dict[str, str]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    report.pop("out_dir")
    report.pop("resumed")
    files["report.json"] = json.dumps(report, sort_keys=True)
    return files


def test_prepare_fits_every_prompt_and_loses_no_record(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = prepare_dataset(source, out, _settings())

    train, test, rejects = _read(out / "train.jsonl"), _read(out / "test.jsonl"), _read(out / "rejects.jsonl")
    inputs = len(source.read_text(encoding="utf-8").splitlines())
    assert len(train) + len(test) + len(rejects) == inputs == report.inputs == 7
    assert [r["id"] for r in train] == ["p0", "p1", "p2", "p3"] and [r["id"] for r in test] == ["t0"]
    assert report.written == {"test": 1, "train": 4}

    counter = domprune.get_tokenizer("qwen2.5")
    for row in train + test:
        text = counter.render_chat(row["prompt"], add_generation_prompt=True)
        assert counter.count(text) == row["prompt_tokens"] <= BUDGET
        assert row["dom_tokens_before"] > BUDGET  # the page really had to be pruned
        assert all(m["role"] in ("system", "user") for m in row["prompt"])  # the answer is no message
        assert row["question"] in row["prompt"][-1]["content"]
    assert train[0]["answers"] == ["2 years"] and test[0]["answers"] == ["5 years"]

    assert {(r["kind"], r["line"]) for r in rejects} == {("bad_json", 3), ("BudgetTooSmallError", None)}
    assert all(r["reason"] for r in rejects)
    assert next(r for r in rejects if r["kind"] == "BudgetTooSmallError")["id"] == "long"

    assert report.rejected == 2 and report.rejects_by_kind == {"bad_json": 1, "BudgetTooSmallError": 1}
    assert report.fit_share == pytest.approx(5 / 6)
    tokens = sorted(r["prompt_tokens"] for r in train + test)
    assert (report.prompt_tokens.min, report.prompt_tokens.max) == (tokens[0], tokens[-1])
    assert report.prompt_tokens.median == tokens[2] and report.prompt_tokens.p90 == tokens[-1]
    lost = sum(r["answer_in_dom"] and not r["answer_in_prompt"] for r in train + test)
    assert report.answers_lost_by_pruning == lost
    assert report.answers_in_dom == 5  # every page holds its answer
    assert json.loads((out / "report.json").read_text()) == json.loads(report.model_dump_json())
    assert not list(out.glob("*.partial")) and not list(out.glob(".*tmp"))


def test_resume_after_crash_computes_only_the_rest(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh"
    prepare_dataset(source, fresh, _settings())

    out = tmp_path / "out"
    real_fit = prepare.fit_example
    calls: list[str] = []

    def crash_on_third(example, settings):  # type: ignore[no-untyped-def]
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(example.id)
        return real_fit(example, settings)

    monkeypatch.setattr(prepare, "fit_example", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(source, out, _settings())
    assert [r["id"] for r in _read(out / "train.jsonl.partial")] == ["p0", "p1"]
    assert not (out / "train.jsonl").exists()  # nothing final before the end
    with pytest.raises(PrepareError, match="unfinished run"):
        load_prepared(out)

    def count_calls(example, settings):  # type: ignore[no-untyped-def]
        calls.append(example.id)
        return real_fit(example, settings)

    monkeypatch.setattr(prepare, "fit_example", count_calls)
    report = prepare_dataset(source, out, _settings())
    assert calls == ["p0", "p1", "p2", "p3", "t0", "long"]  # p0 and p1 were not computed again
    assert report.resumed == 2
    assert _outputs(out) == _outputs(fresh)

    calls.clear()
    report = prepare_dataset(source, out, _settings())  # a finished run: nothing to compute
    assert calls == [] and report.resumed == 6
    assert _outputs(out) == _outputs(fresh)

    report = prepare_dataset(source, out, _settings(resume=False))
    assert len(calls) == 6 and report.resumed == 0
    assert _outputs(out) == _outputs(fresh)


def test_resume_refuses_other_settings(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_dataset(source, out, _settings())
    with pytest.raises(PrepareError, match="other settings"):
        prepare_dataset(source, out, PrepareSettings(prompt_budget=BUDGET + 100, progress=False))
    report = prepare_dataset(
        source, out, PrepareSettings(prompt_budget=BUDGET + 100, progress=False, resume=False)
    )
    assert report.settings["prompt_budget"] == BUDGET + 100


def test_two_workers_give_the_same_output(source: Path, tmp_path: Path) -> None:
    prepare_dataset(source, tmp_path / "one", _settings())
    prepare_dataset(source, tmp_path / "two", _settings(workers=2))
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")


def test_load_prepared(source: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    prepare_dataset(source, out, _settings())
    train = load_prepared(out)
    assert isinstance(train, datasets.Dataset)
    assert train["id"] == ["p0", "p1", "p2", "p3"]
    assert train[0]["prompt"][-1]["role"] == "user" and train[0]["answers"] == ["2 years"]
    with pytest.raises(PrepareError, match="available splits: test, train"):
        load_prepared(out, split="validation")


def test_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"html": _page(0, "2 years"), "question": "q", "answer": "2 years"}) + "\n")
    with pytest.raises(PrepareError, match="overwrite the source"):
        prepare_dataset(path, tmp_path, _settings())


def test_reserved_split_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "source.jsonl"
    record = {"html": _page(0, "2 years"), "question": "q", "answer": "2 years", "split": "rejects"}
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(PrepareError, match="reserved"):
        prepare_dataset(path, tmp_path / "out", _settings())
    assert not (tmp_path / "out").exists()


def _die(example: object) -> None:
    os._exit(3)  # a worker killed mid-run (e.g. by the out-of-memory killer)


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="needs the fork start method")
def test_dead_worker_gives_a_clear_error(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "_fit_in_worker", _die)
    with pytest.raises(PrepareError, match="run prepare again to resume"):
        prepare_dataset(source, tmp_path / "out", _settings(workers=2))
    assert not (tmp_path / "out" / "train.jsonl").exists()
