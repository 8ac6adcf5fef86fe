"""Loaders of domvqa_train.common.records on small files written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domvqa_train.common.records import DomQAExample, load_examples
from domvqa_train.errors import DataSourceError

PAGE = "<html><body><h1>Shop</h1><p>Price: <b>$12.50</b></p></body></html>"


def _conversation(dom: str, question: str, answer: str, split: str = "train") -> dict:
    user = f"Look at this page.\n<dom>{dom}</dom>\nQuestion: {question}\n\nPut the answer in \\boxed{{}}."
    return {
        "conversations": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        "split": split,
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_conversations_json_extracts_dom_question_and_answer(tmp_path: Path) -> None:
    records = [
        _conversation(PAGE, "What is the price?", "$12.50"),
        _conversation("<div>B</div>", "Which letter?", "B", split="test"),
        {"conversations": [{"role": "user", "content": "no dom here. Question: x"}]},
        "not an object",
    ]
    path = _write(tmp_path / "conv.json", json.dumps(records, indent=2))

    result = load_examples(path)

    assert [e.answers for e in result.examples] == [["$12.50"], ["B"]]
    first = result.examples[0]
    assert first.dom == PAGE
    assert first.question == "What is the price?"
    assert first.split == "train" and result.examples[1].split == "test"
    assert "$12.50" not in first.question  # the answer never goes into the prompt fields
    assert [(r.kind, r.source) for r in result.rejects] == [
        ("bad_conversation", os.fspath(path)),
        ("not_object", os.fspath(path)),
    ]
    # each record's starting line in the indented JSON file
    lines = path.read_text().splitlines()
    assert lines[result.rejects[0].line - 1].strip() == "{"
    assert lines[result.rejects[1].line - 1].strip() == '"not an object"'
    assert "<dom>" in result.rejects[0].reason


def test_conversations_sharegpt_keys_and_no_answer(tmp_path: Path) -> None:
    records = [
        {
            "conversations": [
                {"from": "human", "value": "<dom><p>7 apples</p></dom> Question: How many apples?"},
                {"from": "gpt", "value": "7"},
            ]
        },
        {"conversations": [{"role": "user", "content": "<dom><p>x</p></dom> Question: q"}]},
    ]
    result = load_examples(_write(tmp_path / "c.json", json.dumps(records)), fmt="conversations")
    assert [(e.dom, e.question, e.answers) for e in result.examples] == [
        ("<p>7 apples</p>", "How many apples?", ["7"])
    ]
    assert len(result.rejects) == 1 and "assistant" in result.rejects[0].reason


def test_raw_records_json_list_and_jsonl(tmp_path: Path) -> None:
    raw = [
        {
            "cleaned_html": PAGE,
            "question": "Price?",
            "answer": ["$12.50", "12.5"],
            "screenshot": "shots/1.png",
            "dom_difficulty": 0.75,
            "img_difficulty": "0.25",
            "reasoning": "The price is in the table.",
            "shortened_context": "<p>$12.50</p>",
            "annotation_id": "ann-1",
            "website": "shop",
            "rank": 3,
            "split": "test",
        },
        {"cleaned_html": PAGE, "question": "Count?", "answer": 3},
        {"cleaned_html": PAGE, "question": "", "answer": "x"},
        {"cleaned_html": PAGE, "question": "Hard?", "answer": "x", "dom_difficulty": "easy"},
        {"cleaned_html": PAGE, "question": "Over?", "answer": "x", "img_difficulty": 4},
    ]
    for path in (
        _write(tmp_path / "raw.json", json.dumps(raw)),
        _write(tmp_path / "raw.jsonl", "\n".join(json.dumps(r) for r in raw) + "\n"),
    ):
        result = load_examples(path)
        first, second = result.examples
        assert first.answers == ["$12.50", "12.5"]
        # the screenshot path is resolved against the data file's folder and kept absolute
        assert (first.screenshot, first.dom_difficulty, first.img_difficulty, first.split) == (
            str(tmp_path / "shots" / "1.png"),
            0.75,
            0.25,
            "test",
        )
        assert first.id == "ann-1"
        assert (first.reasoning, first.shortened_context) == ("The price is in the table.", "<p>$12.50</p>")
        assert first.meta == {"website": "shop", "rank": 3}
        assert second.answers == ["3"] and second.split == "train" and second.dom_difficulty is None
        missing, easy, over = result.rejects
        assert missing.kind == "missing_field" and "'question'" in missing.reason
        assert easy.kind == over.kind == "bad_difficulty"
        assert "'dom_difficulty' is 'easy'" in easy.reason and "between 0 and 1" in over.reason
        if path.suffix == ".json":  # one-line JSON array: the record number says which one
            assert missing.line == 1 and missing.reason.startswith("record 3: ")
        else:
            assert missing.line == 3


def test_jsonl_with_bad_line_html_path_and_answers(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    _write(tmp_path / "pages" / "a.html", PAGE)
    lines = [
        json.dumps({"id": "a", "html_path": "pages/a.html", "question": "Price?", "answers": ["$12.50"]}),
        "{not json",
        json.dumps({"id": "b", "html": "<p>Hello</p>", "question": "Greeting?", "answer": "Hello"}),
        "",
        json.dumps({"id": "c", "html_path": "pages/missing.html", "question": "q", "answer": "a"}),
        json.dumps({"id": "d", "html": "<p>x</p>", "question": "q", "answers": []}),
        json.dumps({"id": "e", "text": "no html", "question": "q", "answer": "a"}),
    ]
    path = _write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")

    result = load_examples(path)

    assert [e.id for e in result.examples] == ["a", "b"]
    assert result.examples[0].dom == PAGE
    assert [(r.line, r.id, r.kind) for r in result.rejects] == [
        (2, None, "bad_json"),
        (5, "c", "unreadable_html"),
        (6, "d", "missing_field"),
        (7, "e", "unknown_shape"),
    ]
    assert all(r.reason for r in result.rejects)
    assert len(result.examples) + len(result.rejects) == 6  # 7 lines, one blank


def test_forced_format_rejects_records_of_another_shape(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", json.dumps({"html": PAGE, "question": "q", "answer": "a"}) + "\n")
    result = load_examples(path, fmt="raw")
    assert result.examples == [] and "cleaned_html" in result.rejects[0].reason


def test_ids_are_stable_and_duplicates_rejected(tmp_path: Path) -> None:
    record = {"html": PAGE, "question": "Price?", "answer": "$12.50"}
    path = _write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in [record, record]) + "\n")

    first, second = load_examples(path), load_examples(path)

    assert [e.id for e in first.examples] == [e.id for e in second.examples]
    # example_id(PAGE, "Price?", ["$12.50"]), pinned: a change to how ids are computed must show here
    assert first.examples[0].id == "816e6695809a9651"
    assert [(r.line, r.kind) for r in first.rejects] == [(2, "duplicate_id")]
    assert "line 1" in first.rejects[0].reason


def test_split_name_must_be_a_plain_file_name(tmp_path: Path) -> None:
    record = {"html": PAGE, "question": "q", "answer": "a", "split": "../elsewhere"}
    result = load_examples(_write(tmp_path / "d.jsonl", json.dumps(record) + "\n"))
    assert result.examples == [] and result.rejects[0].kind == "invalid_record"
    assert "split" in result.rejects[0].reason


def test_split_selects_examples(tmp_path: Path) -> None:
    records = [_conversation(PAGE, "q1", "a"), _conversation(PAGE, "q2", "b", split="test")]
    result = load_examples(_write(tmp_path / "c.json", json.dumps(records)), split="test")
    assert [e.question for e in result.examples] == ["q2"]
    assert result.other_split == 1 and result.rejects == []


def test_saved_hf_dataset_and_dataset_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = {
        "html": [PAGE, "<p>B</p>"],
        "question": ["Price?", "Letter?"],
        "answers": [["$12.50"], ["B"]],
    }
    datasets.Dataset.from_dict(rows).save_to_disk(tmp_path / "single")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows), "validation": datasets.Dataset.from_dict(rows)}
    ).save_to_disk(tmp_path / "dict")

    single = load_examples(tmp_path / "single")
    both = load_examples(tmp_path / "dict")

    assert [e.answers for e in single.examples] == [["$12.50"], ["B"]]
    assert {e.split for e in single.examples} == {"train"}
    # the same page and question in two splits is one id: the second copy is a duplicate
    assert [e.split for e in both.examples] == ["train", "train"]
    assert [(r.line, r.kind) for r in both.rejects] == [(None, "duplicate_id"), (None, "duplicate_id")]
    assert both.rejects[0].reason.startswith("row 1 of split 'validation': duplicate id")


def test_hub_name_offline_gives_clear_error() -> None:
    code = (
        "from domvqa_train.common.records import load_examples\n"
        "try:\n    load_examples('hf:nobody/no-such-dataset')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.startswith("DataSourceError"), done.stdout + done.stderr
    assert "local folder" in done.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "empty"),
        ('[{"a": 1}, {"b": ]', "not a valid JSON array"),
        ('{\n  "html": "<p>x</p>",\n  "question": "q"\n}', "one JSON dict"),
    ],
)
def test_unreadable_sources_raise(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "d.json"
    if content is not None:
        _write(path, content)
    with pytest.raises(DataSourceError, match=message):
        load_examples(path)


def test_folder_that_is_not_a_dataset_raises(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    with pytest.raises(DataSourceError, match=r"not a datasets\.save_to_disk dataset"):
        load_examples(tmp_path)


def test_example_model_validates() -> None:
    with pytest.raises(ValueError):
        DomQAExample(id="x", dom="<p>x</p>", question="q", answers=[])
    with pytest.raises(ValueError):
        DomQAExample(id="x", dom="<p>x</p>", question="q", answers=["  "])


def test_one_image_table_names_files_and_data_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from domvqa_train.common.endpoint import image_mime
    from domvqa_train.common.records import _write_media

    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16
    assert _write_media(webp, tmp_path).endswith(".webp") and image_mime(webp) == "image/webp"
    assert _write_media(wav, tmp_path).endswith(".img") and image_mime(wav) == "application/octet-stream"
