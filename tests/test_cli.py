"""The CLI: prune | chunk | count on files and stdin; bad input gives exit 2 and one line, no traceback."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from domprune import count_tokens
from domprune.cli import main

PAGE = (
    "<html><head><title>Boots</title></head><body><nav class='menu'><a href='/'>Home</a></nav>"
    "<h1>Trail Runner 3</h1><p>Price: $129.95</p>"
    + "".join(f"<p>Review {i}: comfortable boots, would buy again.</p>" for i in range(60))
    + "<table><tr><th>Weight</th><td>1.2 lb</td></tr></table></body></html>"
)


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    f = tmp_path / "boots.html"
    f.write_text(PAGE, encoding="utf-8")
    return f


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_clean_error(code: int, err: str, needle: str = "") -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("domprune: ")
    assert needle.lower() in err.lower()


def test_prune_file(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "prune", str(page_file), "--budget", "80", "-q", "What is the weight?")
    assert code == 0 and err == ""
    html = out.rstrip("\n")
    assert count_tokens(html) <= 80
    assert "1.2 lb" in html


def test_prune_json(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "prune", str(page_file), "-b", "100", "--json")
    assert code == 0
    record = json.loads(out)
    assert record["file"] == str(page_file)
    assert record["tokens_after"] == count_tokens(record["output"]) <= record["budget"] == 100
    assert record["tokens_before"] == count_tokens(PAGE)
    assert record["fits"] is True
    assert [s["name"] for s in record["steps"]] == ["filtering", "attributes", "budget"]


def test_prune_format_text(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "prune", str(page_file), "--budget", "60", "--format", "text")
    assert code == 0
    assert "<" not in out
    assert "Trail Runner 3" in out
    assert count_tokens(out.rstrip("\n")) <= 60


@pytest.mark.parametrize("args", [[], ["-"]])
def test_prune_stdin(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, PAGE.encode())
    code, out, _ = _run(capsys, "prune", *args, "--budget", "50")
    assert code == 0
    assert count_tokens(out.rstrip("\n")) <= 50 and "Trail Runner" in out


def test_prune_stdin_windows_1252(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, '<meta charset="windows-1252"><p>caf\xe9 \x80</p>'.encode("latin-1"))
    code, out, _ = _run(capsys, "prune", "--format", "text")
    assert code == 0 and out == "café €\n"


def test_prune_verbose_and_out_dir(
    page_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "prune", str(page_file), "-b", "70", "-o", str(out_dir), "-v")
    assert code == 0 and out == ""
    written = (out_dir / "boots.html").read_text(encoding="utf-8")
    assert count_tokens(written.rstrip("\n")) <= 70
    assert "boots.html" in err and "budget 70" in err


def test_prune_many_files_one_bad(
    page_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.html"
    empty.write_text("   ")
    code, out, err = _run(capsys, "prune", str(page_file), str(empty), "-b", "60", "--json")
    assert code == 1
    assert json.loads(out.strip().splitlines()[0])["file"] == str(page_file)
    assert "empty.html" in err and "empty" in err and "Traceback" not in err


def test_chunk_json(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "chunk", str(page_file), "--budget", "120", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert len(rows) > 1
    assert [r["index"] for r in rows] == list(range(len(rows)))
    for r in rows:
        assert r["tokens"] == count_tokens(r["output"]) <= 120
        assert r["score"] is None


def test_chunk_question_top(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "chunk", str(page_file), "-b", "120", "-q", "What is the weight?", "--top", "1", "--json"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert len(rows) == 1 and "1.2 lb" in rows[0]["output"] and rows[0]["score"] > 0


def test_chunk_text_listing(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "chunk", str(page_file), "-b", "200")
    assert code == 0
    assert out.startswith("<!-- chunk 0: ")


def test_count(page_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = count_tokens(PAGE)
    code, out, _ = _run(capsys, "count", str(page_file))
    assert code == 0 and out == f"{n}\t{page_file}\n"
    other = tmp_path / "hello.html"
    other.write_text("Hello world")
    code, out, _ = _run(capsys, "count", str(page_file), str(other))
    assert out.splitlines()[-1] == f"{n + 2}\ttotal"
    code, out, _ = _run(capsys, "count", str(other), "--json", "-t", "tiktoken:cl100k_base")
    assert json.loads(out) == {"file": str(other), "tokens": 2}


def test_count_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, b"<|im_start|>user\nhi<|im_end|>")
    code, out, _ = _run(capsys, "count")
    assert code == 0 and out == "5\t<stdin>\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["prune", "{missing}"], "no such file"),
        (["prune", "{folder}"], "folder"),
        (["prune", "{page}", "--budget", "0"], "budget"),
        (["prune", "{page}", "--budget", "-3"], "budget"),
        (["prune", "{page}", "--budget", "2"], "smallest budget"),
        (["prune", "{page}", "--tokenizer", "nope"], "unknown tokenizer"),
        (["prune", "{page}", "--tokenizer", "hf:{missing}"], "cannot load tokenizer"),
        (["chunk", "{page}", "--budget", "3"], "budget"),
        (["count", "{missing}"], ""),
        (["count", "{page}", "-t", "nope"], "unknown tokenizer"),
        (["prune", "{binary}"], "binary"),
    ],
)
def test_bad_input_exit_2_one_line(
    argv: list[str], needle: str, page_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "junk.html"
    binary.write_bytes(bytes(range(256)) * 40)
    text = tmp_path / "plain.html"
    text.write_text("just some words, not a page")
    paths = {"missing": tmp_path / "missing.html", "folder": tmp_path, "page": page_file,
             "binary": binary, "text": text}  # fmt: skip
    argv = [a.format(**paths) for a in argv]
    code, out, err = _run(capsys, *argv)
    _assert_clean_error(code, err, needle)
    assert out == ""


def test_empty_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, b"")
    code, _, err = _run(capsys, "prune")
    _assert_clean_error(code, err, "empty")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["prune", "--budget", "abc"], ["frobnicate"], [], ["prune", "--format", "pdf"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_out_dir_never_overwrites_a_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "index.html", tmp_path / "b" / "index.html"
    first.write_text("<p>first page</p>")
    second.write_text("<p>second page</p>")
    out_dir = tmp_path / "out"
    code, _, err = _run(capsys, "prune", str(first), str(second), "-o", str(out_dir))
    # the two inputs share a file name: each output is named by its path below the common folder
    assert code == 0 and err == ""
    assert sorted(f.name for f in out_dir.iterdir()) == ["a__index.html", "b__index.html"]
    assert (out_dir / "a__index.html").read_text(encoding="utf-8") == "<p>first page</p>\n"
    assert (out_dir / "b__index.html").read_text(encoding="utf-8") == "<p>second page</p>\n"


def test_keep_backend_ids_and_mark_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "m2w.html"
    page.write_text(
        '<html backend_node_id="1"><body backend_node_id="2">'
        + "".join(
            f'<p backend_node_id="{10 + i}"><text backend_node_id="{100 + i}">row {i}</text></p>'
            for i in range(30)
        )
        + "</body></html>"
    )
    code, out, _ = _run(
        capsys, "prune", str(page), "--keep-backend-ids", "--json", "-b", "60", "--mark-removed"
    )
    assert code == 0
    record = json.loads(out)
    assert 'backend_node_id="100"' in record["output"]
    assert "<!-- removed -->" in record["output"]
    assert record["dialect"] == "mind2web"
    assert record["tokens_after"] <= 60
