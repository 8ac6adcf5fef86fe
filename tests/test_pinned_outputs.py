"""Pinned outputs: prune, chunk and fit_prompt write the same bytes as when the pins were taken.

A refactoring must keep every pin. A change that alters outputs on purpose updates the pins
(``DOMPRUNE_UPDATE_PINS=1 python -m pytest tests/test_pinned_outputs.py``) and says in its commit
message which outputs changed and why.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sample_pages import PAGES, QUESTIONS

import domprune
from domprune import BudgetTooSmallError, PruneSettings

PINS = Path(__file__).parent / "data" / "pinned_outputs.json"
TEXT = PruneSettings(format="text")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _prune(page: str, budget: int, q: str | None, settings: PruneSettings | None, counter) -> list:  # type: ignore[no-untyped-def]
    r = domprune.prune(page, budget=budget, question=q, tokenizer=counter, settings=settings)
    return [_digest(r.output), r.tokens_after]


def _chunks(page: str, budget: int, q: str | None, counter) -> list:  # type: ignore[no-untyped-def]
    chunks = domprune.chunk(page, budget=budget, question=q, tokenizer=counter)
    return [_digest("\x00".join(c.output for c in chunks)), [c.score for c in chunks]]


def _prompt(page: str, budget: int, q: str, counter) -> list:  # type: ignore[no-untyped-def]
    fp = domprune.fit_prompt(page, question=q, budget=budget, tokenizer=counter)
    return [_digest(fp.text), fp.tokens]


def _outcome(call, *args) -> list:  # type: ignore[no-untyped-def]
    try:
        return call(*args)
    except BudgetTooSmallError as exc:
        return ["too small", exc.smallest_budget]


def current_outputs() -> dict[str, list]:
    counter = domprune.get_tokenizer("qwen2.5")
    out: dict[str, list] = {}
    for name, build in PAGES.items():
        page = build()
        questions = [None, *(q for q, _ in QUESTIONS[name])]
        for qi, q in enumerate(questions):
            for budget in (16000, 2000, 1000, 500, 150):
                out[f"{name}/q{qi}/prune/{budget}/html"] = _outcome(_prune, page, budget, q, None, counter)
                if budget in (1000, 150):
                    out[f"{name}/q{qi}/prune/{budget}/text"] = _outcome(
                        _prune, page, budget, q, TEXT, counter
                    )
            for budget in (2000, 400):
                out[f"{name}/q{qi}/chunk/{budget}"] = _outcome(_chunks, page, budget, q, counter)
            if q is not None:
                out[f"{name}/q{qi}/prompt/1200"] = _outcome(_prompt, page, 1200, q, counter)
    return out


def test_outputs_match_the_pins() -> None:
    now = current_outputs()
    if os.environ.get("DOMPRUNE_UPDATE_PINS") == "1":
        PINS.write_text(json.dumps(now, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("pins rewritten")
    pinned = json.loads(PINS.read_text(encoding="utf-8"))
    changed = sorted(k for k in pinned.keys() | now.keys() if pinned.get(k) != now.get(k))
    assert not changed, f"{len(changed)} of {len(pinned)} pinned outputs changed, e.g. {changed[:8]}"
