"""Scale-out engines: prepare on Ray Data equals the local engine; PruneBatch in datasets.map and Ray equals prune."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import domprune
from domprune.integrations import PruneBatch
from domvqa_train.common.records import load_examples
from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset

ray = pytest.importorskip("ray", reason="the [scale] extra (ray[data]) is not installed")

QUESTION = "What is the price of item {i}?"


def _page(i: int, filler: int = 40) -> str:
    rows = "".join(f"<tr><td>Part {k}</td><td>{k * 3} g</td></tr>" for k in range(filler))
    return (
        f"<html><head><title>Item {i}</title></head><body><nav><a href='/'>Home</a></nav><main><h1>Item {i}</h1>"
        f"<p>Price: ${i}.99</p><table>{rows}</table></main><footer>Shop</footer></body></html>"
    )


def _records(tmp_path: Path, n: int = 24) -> Path:
    lines = []
    for i in range(n):
        record = {"id": f"r{i}", "html": _page(i), "question": QUESTION.format(i=i), "answer": f"${i}.99"}
        record["split"] = "eval" if i % 5 == 0 else "train"
        lines.append(json.dumps(record))
    lines.insert(3, "{not json")  # a load reject
    lines.append(json.dumps({"id": "r1", "html": _page(1), "question": "dup", "answer": "x"}))  # duplicate id
    lines.append(
        json.dumps({"id": "huge", "html": "<p>" + "word " * 5000 + "</p>", "question": "q", "answer": "a"})
    )
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _outputs(folder: Path) -> dict[str, object]:
    files = {p.name: p.read_bytes() for p in sorted(folder.glob("*.jsonl"))}
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    report.pop("out_dir")
    return {"files": files, "report": report}


def _settings(**extra) -> PrepareSettings:
    # a template that leaves too little room for the "huge" record's text: it becomes a fit reject
    return PrepareSettings(prompt_budget=160, progress=False, **extra)


@pytest.mark.slow
def test_ray_engine_writes_what_the_local_engine_writes(local_ray, tmp_path: Path) -> None:
    source = _records(tmp_path)
    local = prepare_dataset(source, tmp_path / "local", _settings())
    on_ray = prepare_dataset(source, tmp_path / "ray", _settings(engine="ray", workers=2))
    assert local.rejected >= 3 and sum(local.written.values()) > 10
    assert _outputs(tmp_path / "local") == _outputs(tmp_path / "ray")
    assert on_ray.written == local.written and on_ray.rejects_by_kind == local.rejects_by_kind


@pytest.mark.slow
def test_ray_engine_resumes_like_the_local_engine(local_ray, tmp_path: Path) -> None:
    source = _records(tmp_path)
    first_half = tmp_path / "half.jsonl"
    first_half.write_text("".join(source.read_text(encoding="utf-8").splitlines(True)[:12]), encoding="utf-8")
    prepare_dataset(first_half, tmp_path / "ray", _settings(engine="ray", workers=2))
    done_before = len(load_examples(first_half).examples)
    resumed = prepare_dataset(source, tmp_path / "ray", _settings(engine="ray", workers=2))
    assert resumed.resumed == done_before == 11  # 12 lines: 11 records and a bad line
    prepare_dataset(source, tmp_path / "local", _settings())
    local, ray_out = _outputs(tmp_path / "local"), _outputs(tmp_path / "ray")
    assert local["files"] == ray_out["files"]
    assert {**local["report"], "resumed": done_before} == ray_out["report"]


def _map_workers() -> list[int]:
    """PIDs of Ray's map actors on this machine (their process title names the operator)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"MapWorker" in title and b"_FitActor" in title:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/self/cmdline").exists(), reason="needs /proc to find Ray's worker processes"
)
def test_a_killed_ray_worker_is_retried_and_nothing_is_written_twice(local_ray, tmp_path: Path) -> None:
    from domvqa_train.prompts import prepare as prepare_module

    lines = [
        json.dumps(
            {
                "id": f"k{i}",
                "html": _page(i, filler=600),
                "question": QUESTION.format(i=i),
                "answer": f"${i}.99",
            }
        )
        for i in range(48)
    ]
    source = tmp_path / "big.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    original = prepare_module._fit_on_ray
    killed: list[int] = []

    def kill_one_worker_after_the_first_result(*args, **kwargs):
        for n, outcome in enumerate(original(*args, **kwargs)):
            if n == 0:
                pids = _map_workers()
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
            yield outcome

    prepare_module._fit_on_ray = kill_one_worker_after_the_first_result
    try:
        report = prepare_dataset(source, tmp_path / "ray", _settings(engine="ray", workers=2))
    finally:
        prepare_module._fit_on_ray = original
    assert killed, "no Ray map worker was found to kill"
    prepare_dataset(source, tmp_path / "local", _settings())
    assert _outputs(tmp_path / "local") == _outputs(tmp_path / "ray")
    ids = [json.loads(line)["id"] for line in (tmp_path / "ray" / "train.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == report.written["train"]


def _batch(n: int = 10) -> dict[str, list]:
    pages = [_page(i, filler=60) for i in range(n)] + ["", None]
    return {
        "html": pages,
        "question": [QUESTION.format(i=i) for i in range(n)] + ["q", "q"],
        "n": list(range(n + 2)),
    }


def _expected(page: str, question: str, budget: int) -> tuple[str, int]:
    r = domprune.prune(page, budget=budget, question=question)
    return r.output, r.tokens_after


def test_datasets_map_with_two_processes_equals_prune() -> None:
    import datasets

    batch = _batch()
    ds = datasets.Dataset.from_dict(batch)
    out = ds.map(PruneBatch(budget=120), batched=True, batch_size=3, num_proc=2)
    assert out["n"] == batch["n"]
    for row in out:
        if row["html"]:
            assert (row["pruned_output"], row["pruned_tokens"]) == _expected(
                row["html"], row["question"], 120
            )
            assert row["pruned_error"] == "" and json.loads(row["pruned_backend_ids"]) == []
        else:
            assert row["pruned_output"] == "" and "not a page" in row["pruned_error"]


def test_prune_batch_fits_whole_prompts_like_fit_prompt() -> None:
    template = domprune.PromptTemplate()
    batch = _batch(4)
    out = PruneBatch(budget=200, template=template)(batch)
    for page, question, text, tokens, messages in zip(
        batch["html"][:4],
        batch["question"],
        out["pruned_output"],
        out["pruned_tokens"],
        out["pruned_messages"],
    ):
        fitted = domprune.fit_prompt(page, question=question, budget=200, template=template)
        assert (text, tokens, json.loads(messages)) == (fitted.text, fitted.tokens, fitted.messages)
    with pytest.raises(domprune.SettingsError, match="no 'page' column"):
        PruneBatch(budget=10, html_column="page")({"html": ["<p>x</p>"]})


def test_prune_batch_takes_a_missing_question_as_none() -> None:
    page, template = _batch(1)["html"][0], domprune.PromptTemplate()
    out = PruneBatch(budget=200, template=template)({"html": [page, page], "question": [float("nan"), None]})
    expected = domprune.fit_prompt(page, question="", budget=200, template=template).text
    assert out["pruned_output"] == [expected, expected] and out["pruned_error"] == ["", ""]
    assert "nan" not in expected


@pytest.mark.slow
def test_ray_map_batches_with_an_actor_pool_equals_prune(local_ray) -> None:
    batch = _batch()
    rows = [
        {k: batch[k][i] for k in batch} for i in range(10)
    ]  # the page rows only: Ray needs one type per column
    ds = local_ray.data.from_items(rows).map_batches(
        PruneBatch,
        fn_constructor_kwargs={"budget": 120},
        compute=local_ray.data.ActorPoolStrategy(size=2),
        batch_size=4,
        batch_format="numpy",
    )
    out = sorted(ds.take_all(), key=lambda r: r["n"])
    for row in out:
        assert (row["pruned_output"], row["pruned_tokens"]) == _expected(row["html"], row["question"], 120)
