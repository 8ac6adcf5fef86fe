"""Statistics and the truncation helpers of the bench (answer matching: test_answers.py)."""

from __future__ import annotations

import pytest

from domprune.bench.baselines import head_tokens, strip_scripts_styles
from domprune.bench.metrics import percentile, share, summarize
from domprune.tokenizers import get_tokenizer


def test_statistics() -> None:
    assert percentile([3, 1, 2, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90) == pytest.approx(91.0)
    assert percentile([], 50) is None
    assert summarize([1, 2, 3, 10]) == {
        "n": 4,
        "median": 2.5,
        "p90": pytest.approx(7.9),
        "max": 10.0,
        "mean": 4.0,
    }
    assert summarize([]) == {"n": 0, "median": None, "p90": None, "max": None, "mean": None}
    assert share([True, False, True, True]) == 0.75
    assert share([]) is None


def test_head_tokens_fits_exactly() -> None:
    counter = get_tokenizer("qwen2.5")
    text = "<p>" + " ".join(f"word{i} é ü 日本" for i in range(400)) + "</p>"
    for budget in (1, 7, 50, 333):
        cut = head_tokens(text, budget, counter)
        assert counter.count(cut) <= budget
        assert text.startswith(cut.rstrip("\ufffd"))
        assert counter.count(cut) >= budget - 3  # a cut only loses a partial character
    assert head_tokens("short", 100, counter) == "short"


class _NoDecode:
    """A counter without ``decode``: one token per character."""

    def count(self, text: str) -> int:
        return len(text)


def test_head_tokens_without_decode_searches_characters() -> None:
    assert head_tokens("abcdefghij", 4, _NoDecode()) == "abcd"  # type: ignore[arg-type]


def test_strip_scripts_styles() -> None:
    out = strip_scripts_styles(
        "<html><head><style>p{}</style></head><body><p>Keep</p><script>drop()</script>tail"
        "<!-- note --></body></html>"
    )
    assert "drop()" not in out and "p{}" not in out and "note" not in out
    assert "<p>Keep</p>" in out and "tail" in out
