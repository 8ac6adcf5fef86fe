"""Pages that are not UTF-8 read the same in every stage: prepare, generate and the bench loaders all
decode page bytes by ``domprune.parse``'s rules (byte-order mark, declared charset, then detection)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domprune.bench.loaders import load_jsonl
from domvqa_train.data.generate import GenerateSettings, RulesGenerator, generate_dataset
from domvqa_train.prompts.prepare import PrepareSettings, prepare_dataset

# (file name, bytes on disk, a phrase of the page, the answer to "What is the price?")
PAGE = (
    "<html><head>{meta}<title>{title}</title></head><body><h1>{title}</h1>"
    "<table><tr><th>Price</th><td>{price}</td></tr><tr><th>Origin</th><td>{origin}</td></tr></table>"
    "</body></html>"
)
PAGES = [
    pytest.param(
        "cp1252.html",
        PAGE.format(
            meta='<meta charset="windows-1252">', title="Café crème", price="€4.50", origin="Façade"
        ).encode("cp1252"),
        "Café crème",
        "€4.50",
        id="windows-1252",
    ),
    pytest.param(
        "sjis.html",
        PAGE.format(
            meta='<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
            title="抹茶ラテ",
            price="480円",
            origin="京都",
        ).encode("shift_jis"),
        "抹茶ラテ",
        "480円",
        id="shift-jis",
    ),
    pytest.param(
        "utf16.html",
        PAGE.format(meta="", title="Crème brûlée", price="€6.20", origin="Lyon").encode("utf-16"),
        "Crème brûlée",
        "€6.20",
        id="utf-16-bom",
    ),
]


@pytest.mark.parametrize(("name", "data", "phrase", "price"), PAGES)
def test_prepare_reads_the_page_in_its_own_encoding(
    tmp_path: Path, name: str, data: bytes, phrase: str, price: str
) -> None:
    (tmp_path / name).write_bytes(data)
    source = tmp_path / "qa.jsonl"
    source.write_text(
        json.dumps({"id": "a", "html_path": name, "question": "What is the price?", "answer": price}) + "\n",
        encoding="utf-8",
    )
    prepare_dataset(source, tmp_path / "out", PrepareSettings(prompt_budget=400, progress=False))
    [row] = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text("utf-8").splitlines()]
    prompt = row["prompt"][-1]["content"]
    assert phrase in prompt and price in prompt and "\ufffd" not in prompt
    assert row["answer_in_dom"] is True and row["answer_in_prompt"] is True


@pytest.mark.parametrize(("name", "data", "phrase", "price"), PAGES)
def test_generate_reads_the_page_in_its_own_encoding(
    tmp_path: Path, name: str, data: bytes, phrase: str, price: str
) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / name).write_bytes(data)
    settings = GenerateSettings(per_page=4, progress=False)
    report = generate_dataset(pages, tmp_path / "out", settings, RulesGenerator())
    rows = [json.loads(line) for line in (tmp_path / "out" / "qa.jsonl").read_text("utf-8").splitlines()]
    assert report.questions_written == len(rows) > 0
    assert all(phrase in r["cleaned_html"] and "\ufffd" not in r["cleaned_html"] for r in rows)
    assert price in {r["answer"] for r in rows}


@pytest.mark.parametrize(("name", "data", "phrase", "price"), PAGES)
def test_bench_loader_reads_the_page_in_its_own_encoding(
    tmp_path: Path, name: str, data: bytes, phrase: str, price: str
) -> None:
    (tmp_path / name).write_bytes(data)
    source = tmp_path / "qa.jsonl"
    source.write_text(json.dumps({"html_path": name, "question": "Price?", "answer": price}) + "\n", "utf-8")
    loaded = load_jsonl(source)
    [page] = loaded.pages
    html = page.read_html()
    assert phrase in html and price in html and "\ufffd" not in html
