"""The original project's files, in their exact shapes (tests/fixtures/original), load as they were meant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domprune.conversation import ORIGINAL_USER_TEMPLATE, ConversationError, split_user_turn
from domvqa_train.common.records import load_examples

ORIGINAL = Path(__file__).resolve().parent / "fixtures" / "original"


def _original_turn(dom: str, question: str) -> str:
    return ORIGINAL_USER_TEMPLATE.replace("{dom}", dom).replace("{question}", question)


def test_the_original_user_turn_is_the_triple_quoted_string() -> None:
    lines = _original_turn("<p>x</p>", "Q?").split("\n")
    assert lines[0] == "Given the following DOM of a page, answer the question that is asked."
    assert all(line.startswith(" " * 12) and not line.startswith(" " * 13) for line in lines[1:])
    assert lines[1:] == [
        " " * 12 + "<dom><p>x</p></dom>",
        " " * 12 + "Question: Q?",
        " " * 12 + "Your answer must be a boolean, a word or a number, contained within $\\boxed{}$. "
        "Now answer the question.",
        " " * 12 + "Answer:",
    ]


@pytest.mark.parametrize(
    "turn",
    [
        _original_turn("<p>Price: $5</p>", "What is the price?"),
        # unindented
        "\n".join(
            line.strip() for line in _original_turn("<p>Price: $5</p>", "What is the price?").split("\n")
        ),
        # blank-line variant (and another instruction)
        "Read the page.\n<dom><p>Price: $5</p></dom>\nQuestion: What is the price?\n\nAnswer in \\boxed{}.",
        # no instruction at all
        "<dom><p>Price: $5</p></dom>\nQuestion: What is the price?",
        # question before the page
        "Question: What is the price?\n<dom><p>Price: $5</p></dom>",
    ],
)
def test_user_turn_variants_give_the_bare_question(turn: str) -> None:
    assert split_user_turn(turn) == ("<p>Price: $5</p>", "What is the price?")


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        ("Question: What?", "no <dom> block"),
        ("<dom><p>a</p></dom><dom><p>b</p></dom>\nQuestion: What?", "2 <dom> blocks"),
        ("<dom><p>a</p>\nQuestion: What?", "no closing </dom>"),
        ("<dom><p>a</p></dom>\nWhat is it?", "no 'Question:'"),
        ("<dom><p>a</p></dom>\nQuestion:\nAnswer:", "'Question:' is empty"),
    ],
)
def test_malformed_user_turns_are_refused_with_a_reason(turn: str, reason: str) -> None:
    with pytest.raises(ConversationError, match=reason):
        split_user_turn(turn)


def test_original_conversation_file_loads_exactly() -> None:
    raw = json.loads((ORIGINAL / "vqa_rl_data.json").read_text(encoding="utf-8"))
    results = {
        r["question"]: r for r in json.loads((ORIGINAL / "domvqa_results.json").read_text(encoding="utf-8"))
    }
    loaded = load_examples(ORIGINAL / "vqa_rl_data.json")
    assert not loaded.rejects and len(loaded.examples) == len(raw) == 13
    assert sorted({e.split for e in loaded.examples}) == ["eval", "train"]
    assert sum(e.split == "eval" for e in loaded.examples) == 2  # first 20 % after the seed-42 shuffle
    for example in loaded.examples:
        source = results[example.question]  # the question is exactly the original question
        assert example.dom == source["cleaned_html"]
        assert example.answers == [source["answer"]]
        assert "Your answer" not in example.question and "Answer:" not in example.question


def test_one_bad_record_of_the_original_file_is_a_reject(tmp_path: Path) -> None:
    raw = json.loads((ORIGINAL / "vqa_rl_data.json").read_text(encoding="utf-8"))
    raw[3]["conversations"][0]["content"] = raw[3]["conversations"][0]["content"].replace("Question:", "Q:")
    raw[5]["conversations"][0]["content"] += "\n<dom><p>again</p></dom>"
    path = tmp_path / "vqa_rl_data.json"
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    loaded = load_examples(path)
    assert len(loaded.examples) == len(raw) - 2
    reasons = sorted(r.reason for r in loaded.rejects)
    assert [r.kind for r in loaded.rejects] == ["bad_conversation"] * 2
    assert "record 4: the user turn has no 'Question:'" in reasons[0]
    assert "record 6: the user turn has 2 <dom> blocks" in reasons[1]


@pytest.mark.parametrize(
    "name", ["domvqa_results.json", "domvqa_verified_v2.json", "domvqa_fused_filtered.json"]
)
def test_original_raw_files_keep_their_fields(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # screenshot paths do not depend on the working directory
    raw = json.loads((ORIGINAL / name).read_text(encoding="utf-8"))
    loaded = load_examples(ORIGINAL / name)
    assert not loaded.rejects and len(loaded.examples) == len(raw)
    for record, example in zip(raw, loaded.examples, strict=True):
        assert example.dom == record["cleaned_html"] and example.answers == [record["answer"]]
        assert (
            example.screenshot == str(ORIGINAL / record["screenshot"]) and Path(example.screenshot).is_file()
        )
        assert example.reasoning == record.get("reasoning")
        assert example.shortened_context == record.get("shortened_context")
        for key in ("dom_difficulty", "img_difficulty"):
            assert getattr(example, key) == record.get(key)
            assert getattr(example, key) is None or isinstance(getattr(example, key), float)
