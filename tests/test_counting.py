"""Exact counts from pieces: batched counts and piece-by-piece counts equal the tokenizer's own."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domprune import get_tokenizer
from domprune.counting import PieceCounts, cut_before_tags

COUNTER = get_tokenizer("qwen2.5")
# letters, digits, marks that compose with "<" or ">" (U+0338), CJK, space runs, tags, entities,
# special-token strings and the batch separator itself
ATOMS = st.sampled_from(
    ["<", ">", "</", "<td>", "</td>", "<p>", "a", "Zürich", "e\u0301", "\u0338", "1", "2024", "½", "Ⅻ",
     " ", "  ", "\n", "\t", "東京", "&amp;", "'s", ".", "$", "-", "_", "<|im_start|>", "</tool_call>",
     "<|endoftext|>", "🙂", "x<", "9<", "é<"]
)  # fmt: skip
TEXT = st.lists(ATOMS, max_size=60).map("".join)
SETTINGS = settings(
    derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(texts=st.lists(TEXT, max_size=8))
def test_count_batch_equals_counting_each(texts: list[str]) -> None:
    assert COUNTER.count_batch(texts) == [COUNTER.count(t) for t in texts]


@SETTINGS
@given(text=TEXT)
def test_pieces_join_to_the_text_and_their_counts_add_up(text: str) -> None:
    pieces = cut_before_tags(text)
    assert "".join(pieces) == text
    assert sum(COUNTER.count(p) for p in pieces) == COUNTER.count(text)


@SETTINGS
@given(texts=st.lists(TEXT, min_size=1, max_size=5), repeat=st.integers(min_value=10, max_value=40))
def test_piece_counts_are_exact_and_reused(texts: list[str], repeat: int) -> None:
    counts = PieceCounts(COUNTER)
    assert counts.additive
    for t in texts:  # long texts (short ones are counted whole), each counted twice
        long_text = t * repeat
        earlier = dict(counts.known)
        assert counts.count(long_text) == COUNTER.count(long_text)
        if len(long_text) >= 512:  # cut into pieces, and every piece's count is kept
            assert set(cut_before_tags(long_text)) <= set(counts.known)
        else:  # counted whole, nothing kept
            assert counts.known == earlier
        before = dict(counts.known)
        assert counts.count(long_text) == COUNTER.count(long_text)
        assert counts.known == before  # the second count reused the kept pieces: nothing new was counted


def test_a_tokenizer_without_the_property_counts_whole_texts() -> None:
    class Plain:
        name = "plain"

        def count(self, text: str) -> int:
            return len(text.split())

    counts = PieceCounts(Plain())  # type: ignore[arg-type]
    text = "<td>a b</td>" * 100
    assert not counts.additive and counts.count(text) == len(text.split()) and not counts.known
