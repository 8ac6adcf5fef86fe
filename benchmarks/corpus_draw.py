"""Pages drawn evenly from each corpus of a folder: the draw the speed and token scripts share.

A sibling module (imported by path, beside the scripts), so that a script run with ``PYTHONPATH``
pointing at an older checkout of the package still finds it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def evenly(corpus: Path, per_corpus: int) -> list[Any]:
    """``per_corpus`` pages of each corpus in ``corpus`` (every ``len // per_corpus``-th, in the
    loader's order), corpora in name order: the same pages on every run."""
    from domprune.bench.corpora import load_corpus

    by_corpus: dict[str, list[Any]] = defaultdict(list)
    for page in load_corpus(corpus).pages:
        by_corpus[page.corpus].append(page)
    out = []
    for _, ps in sorted(by_corpus.items()):
        step = max(1, len(ps) // per_corpus)
        out.extend(ps[::step][:per_corpus])
    return out
