"""``filter``: merging label files by id, the keep range, the seed-42 split, and prepare reading the result."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domvqa_train.cli import main
from domvqa_train.data.filter import FilterDataSettings, FilterError, KeepRange, filter_data
from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset


def record(i: int, dom: float | None, img: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "cleaned_html": f"<p>Code: C{i}</p>",
        "question": f"What is code {i}?",
        "answer": f"C{i}",
        "page_id": f"page{i // 3}",
        "dom_difficulty": dom,
        "img_difficulty": img,
        **extra,
    }


def write(path: Path, items: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items), encoding="utf-8"
    )
    return path


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_keep_range_parsing() -> None:
    assert KeepRange.parse("0<d<=1").contains(1.0) and not KeepRange.parse("0<d<=1").contains(0.0)
    r = KeepRange.parse(" 0.25 <= d < 0.75 ")
    assert [r.contains(x) for x in (0.0, 0.25, 0.5, 0.75)] == [False, True, True, False]
    assert KeepRange.parse("0<d").contains(1.0) and KeepRange.parse("d<1").contains(0.0)
    for bad in ("d", "0<x<1", "1<d<0", "0<d<2", "between 0 and 1"):
        with pytest.raises(FilterError, match="keep range"):
            KeepRange.parse(bad)


def test_drops_zero_by_default_and_ones_on_request(tmp_path: Path) -> None:
    data = write(
        tmp_path / "labels.jsonl", [record(0, 0.0), record(1, 0.5), record(2, 1.0), record(3, 0.75, 0.0)]
    )
    report = filter_data([data], tmp_path / "a", FilterDataSettings())
    assert report.kept == 2 and report.dropped_by_kind == {"dom_difficulty_0": 1, "img_difficulty_0": 1}
    assert report.at_one == 1
    dropped = read(tmp_path / "a" / "dropped.jsonl")
    assert all(r["drop_reason"] and "never solved" in r["drop_reason"] for r in dropped)
    strict = filter_data([data], tmp_path / "b", FilterDataSettings(keep_range="0<d<1"))
    assert [r["id"] for r in read(tmp_path / "b" / "data.jsonl")] == ["r1"]
    assert strict.dropped_by_kind["dom_difficulty_1"] == 1
    dom_only = filter_data([data], tmp_path / "c", FilterDataSettings(by="dom"))
    assert dom_only.kept == 3  # r3's screenshot score is not looked at


def test_merge_by_id_pools_difficulties(tmp_path: Path) -> None:
    policy = write(
        tmp_path / "policy.jsonl",
        [
            record(0, 0.5, None, labelled=["dom"], dom_attempts=4),
            record(1, 0.0, None, labelled=["dom"], dom_attempts=4),
        ],
    )
    other = write(
        tmp_path / "endpoint.jsonl",
        [
            record(0, 1.0, 0.25, labelled=["dom", "image"], dom_attempts=4, img_attempts=4, reasoning="r"),
            record(2, None, 0.5, labelled=["image"], img_attempts=4),
        ],
    )
    report = filter_data([policy, other], tmp_path / "out", FilterDataSettings(eval_fraction=0))
    rows = {r["id"]: r for r in read(tmp_path / "out" / "data.jsonl")}
    assert (rows["r0"]["dom_difficulty"], rows["r0"]["dom_attempts"]) == (0.75, 8)
    assert (rows["r0"]["img_difficulty"], rows["r0"]["img_attempts"]) == (0.25, 4)
    assert rows["r0"]["labelled"] == ["dom", "image"] and rows["r0"]["reasoning"] == "r"
    assert set(rows) == {"r0", "r2"}
    assert report.unique_records == 3 and report.merged == 1 and report.pooled == 1


def test_split_is_the_originals_seed_42_shuffle(tmp_path: Path) -> None:
    items = [record(i, 0.5) for i in range(23)]
    data = write(tmp_path / "labels.jsonl", items)
    report = filter_data([data], tmp_path / "out", FilterDataSettings())
    expected = [r["id"] for r in items]
    random.seed(42)
    random.shuffle(expected)  # what the original prepare_dataset.py did
    out = read(tmp_path / "out" / "data.jsonl")
    assert [r["id"] for r in out] == expected
    assert [r["split"] for r in out] == ["eval"] * 4 + ["train"] * 19  # int(0.2 * 23) = 4
    assert report.splits == {"eval": 4, "train": 19}


def test_group_by_page_keeps_pages_whole(tmp_path: Path) -> None:
    data = write(tmp_path / "labels.jsonl", [record(i, 0.5) for i in range(30)])
    report = filter_data([data], tmp_path / "out", FilterDataSettings(group_by="page", eval_fraction=0.3))
    out = read(tmp_path / "out" / "data.jsonl")
    pages = {split: {r["page_id"] for r in out if r["split"] == split} for split in ("train", "eval")}
    assert pages["train"] and pages["eval"] and not pages["train"] & pages["eval"]
    assert report.splits["eval"] >= 9 and report.pages == {
        "eval": len(pages["eval"]),
        "train": len(pages["train"]),
    }


def test_bad_records_are_dropped_with_the_loaders_reason(tmp_path: Path) -> None:
    data = write(
        tmp_path / "labels.jsonl",
        [record(0, 0.5), "{broken", record(1, 7.0), {"cleaned_html": "<p>x</p>"}, record(2, None)],
    )
    report = filter_data([data], tmp_path / "out", FilterDataSettings())
    assert report.kept == 1 and report.dropped == 4 and report.records_read == {str(data): 5}
    assert report.dropped_by_kind == {"bad_json": 1, "bad_difficulty": 1, "missing_field": 1, "unlabelled": 1}


def test_prepare_reads_the_output(tmp_path: Path) -> None:
    data = write(tmp_path / "labels.jsonl", [record(i, 0.5, 0.25) for i in range(10)])
    filter_data([data], tmp_path / "filtered", FilterDataSettings())
    report = prepare_dataset(
        tmp_path / "filtered" / "data.jsonl",
        tmp_path / "prepared",
        PrepareSettings(prompt_budget=300, progress=False),
    )
    assert report.written == {"eval": 2, "train": 8} and report.rejected == 0


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write(tmp_path / "a.jsonl", [record(0, 0.5), record(1, 1.0)])
    b = write(tmp_path / "b.jsonl", [record(2, 0.25)])
    out = tmp_path / "out"
    assert main(["filter", "--data", str(a), str(b), "--out", str(out), "--keep-range", "0<d<1"]) == 0
    assert json.loads(capsys.readouterr().out)["kept"] == 2
    assert main(["filter", "--data", str(a), "--out", str(out), "--keep-range", "zero to one"]) == 2
    assert "keep range" in capsys.readouterr().err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from([None, 0.0, 0.25, 0.5, 1.0]), st.sampled_from([None, 0.0, 0.5, 1.0])),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["0<d<=1", "0<d<1", "0<=d<=1", "0.25<=d<=0.5"]),
    st.sampled_from(["all", "dom", "img"]),
    st.floats(0, 0.9),
)
def test_every_record_is_kept_or_dropped(
    tmp_path_factory: pytest.TempPathFactory, pairs: list, keep: str, by: str, fraction: float
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    data = write(tmp / "labels.jsonl", [record(i, d, m) for i, (d, m) in enumerate(pairs)])
    report = filter_data(
        [data], tmp / "out", FilterDataSettings(keep_range=keep, by=by, eval_fraction=fraction)
    )
    kept, dropped = read(tmp / "out" / "data.jsonl"), read(tmp / "out" / "dropped.jsonl")
    assert sorted(r["id"] for r in kept + dropped) == sorted(f"r{i}" for i in range(len(pairs)))
    window = KeepRange.parse(keep)
    names = ["dom_difficulty", "img_difficulty"] if by == "all" else [f"{by}_difficulty"]
    for row in kept:
        assert all(window.contains(row[n]) for n in names if row[n] is not None)
        assert any(row[n] is not None for n in names)
    assert report.splits.get("eval", 0) == int(fraction * len(kept))


def test_a_hugging_face_folder_with_rejected_rows(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "labelled"
    datasets.Dataset.from_list([record(0, 0.5), record(1, 7.0), record(2, 0.25)]).save_to_disk(str(folder))
    report = filter_data([folder], tmp_path / "out", FilterDataSettings())
    assert report.kept == 2 and report.dropped_by_kind == {"bad_difficulty": 1}
    kept = read(tmp_path / "out" / "data.jsonl")
    assert sorted(r["id"] for r in kept) == ["r0", "r2"] and all(r["page_id"] for r in kept)


def test_screenshots_come_out_as_paths_that_work_from_the_output_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    rows = [{**record(i, 0.5), "screenshot": {"bytes": png, "path": None}} for i in range(2)]
    folder = tmp_path / "with_images"
    datasets.Dataset.from_list(rows).cast_column("screenshot", datasets.Image(decode=False)).save_to_disk(
        str(folder)
    )
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "r9.png").write_bytes(png)
    relative = write(tmp_path / "labels.jsonl", [{**record(9, 0.5), "screenshot": "shots/r9.png"}])
    report = filter_data([folder, relative], tmp_path / "out", FilterDataSettings())
    assert report.kept == 3
    for row in read(tmp_path / "out" / "data.jsonl"):
        assert Path(row["screenshot"]).is_absolute() and Path(row["screenshot"]).read_bytes() == png
