"""One source picker for every reader: the bench, generate and prepare tell a source's kind alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domprune.bench.loaders import BenchInputError, load_input
from domprune.sources import SourceError, source_kind
from domvqa_train.common.records import load_examples
from domvqa_train.data.pages import read_pages
from domvqa_train.errors import DataSourceError

PAGE = "<html><body><table><tr><th>Price</th><td>$3</td></tr></table></body></html>"


def test_each_kind_is_told_apart(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_text(PAGE)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_info.json").write_text("{}")
    (tmp_path / "qa.jsonl").write_text(json.dumps({"html": PAGE, "question": "Price?", "answer": "$3"}))
    assert source_kind("hf:user/set") == "hub"
    assert source_kind(tmp_path / "pages") == "html_folder"
    assert source_kind(tmp_path / "pages" / "a.html") == "html_file"
    assert source_kind(tmp_path / "ds") == "dataset_folder"
    assert source_kind(tmp_path / "qa.jsonl") == "records_file"


def test_a_missing_source_is_the_same_clear_error_everywhere(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(SourceError, match="does not exist; give a folder of HTML pages"):
        source_kind(missing)
    with pytest.raises(BenchInputError, match="does not exist; give a folder of HTML pages"):
        load_input(str(missing))
    with pytest.raises(DataSourceError, match="does not exist; give a folder of HTML pages"):
        load_examples(missing)
    with pytest.raises(DataSourceError, match="does not exist; give a folder of HTML pages"):
        list(read_pages(missing, max_bytes=1 << 20))


def test_pages_without_questions_point_to_generate(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(PAGE)
    assert [p.id for p in read_pages(tmp_path, max_bytes=1 << 20)] == ["a"]  # generate reads them
    assert [p.id for p in load_input(str(tmp_path)).pages] == ["a.html"]  # so does the bench
    for source in (tmp_path, tmp_path / "a.html"):
        with pytest.raises(DataSourceError, match="domvqa-train generate"):
            load_examples(source)


def test_a_json_file_that_is_not_utf8_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(
        json.dumps({"html": PAGE, "question": "Prix?", "answer": "3 €"}, ensure_ascii=False).encode("cp1252")
    )
    with pytest.raises(BenchInputError, match=r"not UTF-8.*re-save it as UTF-8"):
        load_input(str(path))


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_record_holding_a_unicode_line_separator_stays_one_line(tmp_path: Path, separator: str) -> None:
    """JSON Lines are split at newlines only: real pages hold U+2028 and friends, which
    ``json.dumps(..., ensure_ascii=False)`` writes raw and ``str.splitlines`` would cut at."""
    from domvqa_train.prompts.prepare import PrepareSettings, load_prepared, prepare_dataset

    page = f"<html><body><p>Line one{separator}line two</p>{PAGE}</body></html>"
    source = tmp_path / "qa.jsonl"
    rows = [
        {"id": f"r{i}", "html": page, "question": f"Price{separator}{i}?", "answer": "$3"} for i in range(2)
    ]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert [e.id for e in load_examples(source).examples] == ["r0", "r1"]
    assert [p.id for p in load_input(source).pages] == ["r0", "r1"]
    prepare_dataset(source, tmp_path / "out", PrepareSettings(prompt_budget=400, progress=False))
    assert separator in (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8")  # written raw
    prepared = load_prepared(tmp_path / "out", "train")
    assert list(prepared["id"]) == ["r0", "r1"]
