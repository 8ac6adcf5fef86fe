"""The resumable output store: a run killed at any byte resumes with every finished unit once and nothing torn."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domvqa_train.common.jobstore import PROGRESS_FILE, JobStore, JobStoreError

FILES = ["out.jsonl", "rejects.jsonl"]


def store(folder: Path, resume: bool = True, fingerprint: dict | None = None) -> JobStore:
    return JobStore(folder, FILES, settings_file="s.json", fingerprint=fingerprint or {"v": 1}, resume=resume)


def rows_of(key: str, n: int) -> dict[str, list[dict]]:
    return {"out.jsonl": [{"key": key, "i": i, "pad": "x" * (i * 7)} for i in range(n)],
            "rejects.jsonl": [{"key": key}] if n == 0 else []}  # fmt: skip


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def partial_sizes(folder: Path) -> dict[str, int]:
    return {
        name: (folder / f"{name}.partial").stat().st_size if (folder / f"{name}.partial").is_file() else 0
        for name in [*FILES, PROGRESS_FILE]
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 4), min_size=1, max_size=8), st.data())
def test_killed_at_any_byte(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("store")
    keys = [f"k{i}" for i in range(len(sizes))]
    first = store(folder)
    snapshots = [partial_sizes(folder)]
    for key, n in zip(keys, sizes, strict=True):
        first.commit(key, rows_of(key, n), {"n": n})
        snapshots.append(partial_sizes(folder))
    first.close()
    # A kill during unit j: the files it writes in order (rows, rejects, progress) are complete up to
    # one of them, which is cut at any byte; the later ones are as they were before unit j.
    j = data.draw(st.integers(0, len(keys) - 1), label="unit")
    order = [*FILES, PROGRESS_FILE]
    cut = data.draw(st.integers(0, len(order) - 1), label="file")
    for index, name in enumerate(order):
        before, after = snapshots[j][name], snapshots[j + 1][name]
        size = (
            after
            if index < cut
            else before
            if index > cut
            else data.draw(st.integers(before, after), label=name)
        )
        path = folder / f"{name}.partial"
        if path.is_file():
            os.truncate(path, size)
    second = store(folder)
    progress_whole = partial_sizes(folder)[PROGRESS_FILE] == snapshots[j + 1][PROGRESS_FILE]
    assert set(second.done) == set(keys[: j + 1] if progress_whole else keys[:j])
    for key, n in zip(keys, sizes, strict=True):  # the unfinished units are computed again
        if key not in second.done:
            second.commit(key, rows_of(key, n), {"n": n})
    units = second.finish(keys)
    assert [u.key for u in units] == keys
    expected = [row for key, n in zip(keys, sizes, strict=True) for row in rows_of(key, n)["out.jsonl"]]
    assert read(folder / "out.jsonl") == expected
    assert [r["key"] for r in read(folder / "rejects.jsonl")] == [
        k for k, n in zip(keys, sizes, strict=True) if n == 0
    ]
    assert not list(folder.glob("*.partial"))
    again = store(folder)  # a finished folder resumes with every unit done
    assert set(again.done) == set(keys)
    again.finish(keys)
    assert read(folder / "out.jsonl") == expected


def test_settings_must_match_to_resume(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.commit("a", rows_of("a", 1), {})
    s.finish(["a"])
    with pytest.raises(JobStoreError, match="other settings"):
        store(tmp_path, fingerprint={"v": 2})
    fresh = store(tmp_path, resume=False, fingerprint={"v": 2})
    assert not fresh.done and not (tmp_path / "out.jsonl").exists()


def test_units_left_out_of_the_order_are_dropped(tmp_path: Path) -> None:
    s = store(tmp_path)
    for key in ("a", "b", "c"):
        s.commit(key, rows_of(key, 1), {})
    assert [u.key for u in s.finish(["c", "a"])] == ["c", "a"]
    assert [r["key"] for r in read(tmp_path / "out.jsonl")] == ["c", "a"]
    with pytest.raises(JobStoreError, match="committed twice"):
        s.commit("a", rows_of("a", 1), {})
