"""Reward functions: exact values, the original reward's edge cases, and that they never raise."""

from __future__ import annotations

import difflib
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domvqa_train.errors import RewardSpecError
from domvqa_train.rewards import (
    REWARDS,
    anls_reward,
    build_reward_funcs,
    exact_match_reward,
    extract_boxed,
    f1_reward,
    format_reward,
    normalize_answer,
    original_reward,
)

_LONG_REF = (
    "The quick brown fox jumps over the lazy dog near the riverbank while the sun sets. " * 3
).strip()

# (completion, reference, the original reward): each value follows from the original's rules - the
# FIRST match of r"\\boxed\{([^}]*)\}" (crossing newlines), stripped, fewer than 5 str.split() words,
# else -1.0; then difflib.SequenceMatcher(None, reference.strip(), boxed).ratio(), reference first.
ORIGINAL_CASES = [
    (r"\boxed{Paris}", "Paris", 1.0),
    ("\\boxed{Paris\n}", "Paris", 1.0),  # [^}] crosses the newline; strip() removes it
    ("\\boxed{\nParis}", "Paris", 1.0),
    ("\\boxed{Pa\nris}", "Paris", 10 / 11),  # one word; "Pa\nris" vs "Paris": 2 * 5 / 11
    ("\\boxed{a\nb} and \\boxed{c}", "c", 0.0),  # the first box, "a\nb", is the answer
    ("\\boxed{a\nb} and \\boxed{c}", "a b", 2 / 3),
    (r"\boxed{Rome} then \boxed{Paris}", "Paris", 0.0),
    ("Answer: \\boxed{Berlin}\nReasoning: \\boxed{Paris}", "Paris", 4 / 11),  # ratio("Paris", "Berlin")
    ("no box here", "Paris", -1.0),
    ("", "Paris", -1.0),
    (r"\boxed{}", "Paris", 0.0),
    (r"\boxed{}", "", 1.0),  # ratio("", "") is 1.0
    (r"\boxed{   }", "Paris", 0.0),
    (r"\boxed{a b c d}", "a b c d", 1.0),  # 4 words: scored
    (r"\boxed{a b c d e}", "a b c d e", -1.0),  # 5 words: refused
    ("\\boxed{a\tb\nc d}", "a b c d", 5 / 7),  # 4 words split on any white space
    ("\\boxed{a\tb\nc d e}", "a b c d e", -1.0),
    (
        "\\boxed{one\u00a0two\u00a0three\u00a0four\u00a0five}",
        "one two three four five",
        -1.0,
    ),  # str.split splits on NBSP
    ("\\boxed{\u00a0Paris\u00a0}", "Paris", 1.0),  # str.strip removes NBSP
    (r"\boxed{\text{Yes}}", "Yes", 0.5),  # content ends at the first "}": "\text{Yes"
    (r"\boxed{\frac{1}{2}}", "1/2", 0.2),  # "\frac{1"
    (r"\boxed{{a}}", "a", 2 / 3),  # "{a"
    (r"\boxed{a}} extra", "a", 1.0),
    (r"\boxed {Paris}", "Paris", -1.0),  # no space allowed after \boxed
    (r"\\boxed{Paris}", "Paris", 1.0),  # a doubled backslash still holds "\boxed{"
    (r"\BOXED{Paris}", "Paris", -1.0),  # case-sensitive
    (r"boxed{Paris}", "Paris", -1.0),
    (r"\boxed{Paris", "Paris", -1.0),  # unclosed
    (r"$\boxed{42}$", "42", 1.0),
    (r"\boxed{42}", " 42 ", 1.0),  # the reference is stripped
    (r"\boxed{paris}", "Paris", 0.8),  # case-sensitive
    (r"\boxed{Paris.}", "Paris", 10 / 11),  # punctuation-sensitive
    (r"\boxed{1,000}", "1000", 8 / 9),
    (r"\boxed{$19.99}", "$19.99", 1.0),
    (r"\boxed{True}", "true", 0.75),
    (r"\boxed{No}", "Yes", 0.0),
    (r"\boxed{2021-03-05}", "March 5, 2021", 8 / 23),  # no date normalisation
    (r"\boxed{42}", "forty-two", 0.0),
    (r"The answer is \boxed{New York City}.", "New York", 16 / 21),
    (r"The answer is \boxed{New York}.", "New York City", 16 / 21),
    ("\\boxed{Café}", "Cafe", 0.75),
    ("\\boxed{東京}", "東京", 1.0),
    # a reference over 200 characters: difflib's autojunk drops its popular characters only when it
    # is the SECOND string; the reference goes first, so these are the original's values
    (r"\boxed{the fox}", _LONG_REF, 0.047058823529411764),
    (r"\boxed{The quick brown fox}", _LONG_REF, 0.14232209737827714),
    ("\\boxed{" + "ab" * 150 + "}", "ab" * 150, 1.0),
    ("\\boxed{" + "ab" * 150 + "}", "ab" * 149 + "ba", 0.9933333333333333),
    ("\\boxed{" + "ab" * 120 + "x}", "abx", 0.02459016393442623),
]


@pytest.mark.parametrize(("completion", "reference", "expected"), ORIGINAL_CASES)
def test_original_reward_case_table(completion: str, reference: str, expected: float) -> None:
    assert original_reward([completion], answer=[reference]) == [expected]  # exactly, not approximately


def test_original_reward_puts_the_reference_first() -> None:
    # ratio is not symmetric here (autojunk on the 200+ character second string): only one order is the original's
    assert difflib.SequenceMatcher(None, r"the fox", _LONG_REF).ratio() != 0.047058823529411764
    assert original_reward([r"\boxed{the fox}"], answers=[[_LONG_REF, "fox"]]) == [0.047058823529411764]


def test_original_reward_deliberate_differences() -> None:
    # the original raised on these; here they score -1.0 (and warn when the whole column is missing)
    assert original_reward([None, 42, r"\boxed{A}"], answer=["A", "A", None]) == [-1.0, -1.0, -1.0]
    with pytest.warns(RuntimeWarning):
        assert original_reward([r"\boxed{A}"]) == [-1.0]
    # conversational completions are read as their text
    assert original_reward([[{"role": "assistant", "content": "\\boxed{A\n}"}]], answer=["A"]) == [1.0]


def test_original_reward_four_words_and_first_answer_only() -> None:
    assert original_reward([r"\boxed{a b c d}"], answers=[["a b c d"]]) == [1.0]
    # only the first accepted answer is compared, as in the original (ratio("Paris", "Rome") is 0)
    assert original_reward([r"\boxed{Paris}"], answers=[["Rome", "Paris"]]) == [0.0]


def test_conversational_completions() -> None:
    completions = [[{"role": "assistant", "content": r"It is \boxed{Paris}."}]]
    assert original_reward(completions, answers=[["Paris"]]) == [1.0]
    assert exact_match_reward(completions, answers=[["paris"]]) == [1.0]
    assert format_reward(completions) == [1.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{42}", "42"),
        (r"first \boxed{1} last \boxed{ 2 }", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed {x}", "x"),
        (r"\boxed{}", ""),
        ("no box", None),
        (r"\boxed{unclosed", None),
        (r"\boxed{ok} then \boxed{unclosed", "ok"),
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an  apple, a day!  ", "apple day"),
        ("1,000.00", "1000"),
        ("$12.50", "12.50"),
        ("12.5", "12.50"),
        ("€ 3,250", "3250"),
        ("-4.0", "-4"),
        ("3.14159", "3.14159"),
        ("45%", "45 %"),
        ("45 %", "45 %"),
        ("007", "7"),
        ("-0", "0"),
        ("(March) 5, 2021", "2021-03-05"),
        ("March 5, 2021", "2021-03-05"),
        ("5th of March 2021", "2021-03-05"),
        ("Friday, March 5, 2021", "2021-03-05"),
        ("2021/3/5", "2021-03-05"),
        ("25.12.2020", "2020-12-25"),
        ("03/05/2021", "3 5 2021"),  # day and month ambiguous: left as numbers
        ("February 30, 2021", "february 30 2021"),  # not a date
        ("Yes", "yes"),
        ("TRUE.", "yes"),
        ("false", "no"),
        (r"\text{Blue}", "blue"),
        ("Ｐａｒｉｓ", "paris"),  # NFKC
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"aAy 0123456789,.$€-−%/:()\\{}²Ｐ", "March ", "the ", "true", "2021", "\\text{"]),
        max_size=15,
    ).map("".join)
)
def test_normalize_answer_is_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once


def test_exact_match_reward() -> None:
    completions = [r"\boxed{$1,000.00}", r"\boxed{1000}", r"\boxed{100}", "1000", r"\boxed{The Louvre}"]
    answers = [["1000"], ["1,000"], ["1000"], ["1000"], ["Musée", "louvre"]]
    assert exact_match_reward(completions, answers=answers) == [1.0, 1.0, 0.0, 0.0, 1.0]


def test_f1_reward() -> None:
    completions = [r"\boxed{New York City}", r"\boxed{Boston}", r"\boxed{the}", "New York"]
    answers = [["new york", "NYC"], ["new york"], ["a"], ["New York"]]
    # 2*(2/3)*(2/2)/(2/3+1) = 0.8; no overlap; both normalise to "" -> 1.0; no box -> 0.0
    assert f1_reward(completions, answers=answers) == [pytest.approx(0.8), 0.0, 1.0, 0.0]


def test_anls_reward() -> None:
    completions = [r"\boxed{Pariss}", r"\boxed{Paris}", r"\boxed{Rome}", r"\boxed{Parsi}"]
    answers = [["Paris"], ["Rome", "Paris"], ["Paris"], ["Paris"]]
    # 1 - 1/6; exact match with the second answer; distance >= 0.5; two substitutions: 1 - 2/5
    assert anls_reward(completions, answers=answers) == [pytest.approx(5 / 6), 1.0, 0.0, pytest.approx(0.6)]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (r"The price is \boxed{12.50}.", 1.0),
        (r"$\boxed{12.50}$", 1.0),
        (r"\[\boxed{x}\]", 1.0),
        (r"\boxed{1} or \boxed{2}", 0.0),  # two answers
        (r"\boxed{12} because it says so", 0.0),  # text after the answer
        (r"\boxed{ }", 0.0),  # empty
        (r"\boxed{one two three four five six seven eight nine ten eleven}", 0.0),  # too long
        (r"\boxed{unclosed", 0.0),
        ("12.50", 0.0),
    ],
)
def test_format_reward(completion: str, expected: float) -> None:
    assert format_reward([completion]) == [expected]


def test_answer_column_as_strings_and_missing_column() -> None:
    assert exact_match_reward([r"\boxed{A}"], answer=["a"]) == [1.0]
    # no ground truth: None, which trl skips, instead of a low score that teaches something false
    with pytest.warns(RuntimeWarning, match="answers"):
        assert f1_reward([r"\boxed{A}", "x"]) == [None, None]
    with pytest.warns(RuntimeWarning):
        assert original_reward([r"\boxed{A}"]) == [-1.0]


def test_bad_inputs_get_lowest_score_and_missing_truth_none() -> None:
    completions = [None, 42, [{"role": "assistant", "content": None}], r"\boxed{A}", r"\boxed{A}"]
    answers = [["a"], ["a"], ["a"], None, [3]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in REWARDS.values():
            lowest = -1.0 if func is original_reward else 0.0
            missing = -1.0 if func is original_reward else None  # the last two have no usable truth
            # format_reward needs no ground truth: the last two completions are well formed
            expected = [0.0, 0.0, 0.0, 1.0, 1.0] if func is format_reward else [lowest] * 3 + [missing] * 2
            assert func(completions, answers=answers) == expected, func.__name__


def test_not_a_list_of_completions_gives_no_scores() -> None:
    for func in REWARDS.values():
        assert func(None, answers=None) == [] and func("text", answers=[["a"]]) == []


@settings(max_examples=150, deadline=None)
@given(
    completions=st.lists(st.text(alphabet=st.sampled_from("ab 1,.$\\boxed{}%-\n"), max_size=40), max_size=4),
    answer=st.text(max_size=12),
)
def test_rewards_never_raise_and_are_finite(completions: list[str], answer: str) -> None:
    for func in REWARDS.values():
        values = func(completions, answers=[[answer]] * len(completions))
        assert len(values) == len(completions)
        assert all(isinstance(v, float) and math.isfinite(v) for v in values)


def test_registry_names_and_build() -> None:
    assert {name: func.__name__ for name, func in REWARDS.items()} == {
        "original": "original_reward",
        "exact_match": "exact_match_reward",
        "f1": "f1_reward",
        "anls": "anls_reward",
        "format": "format_reward",
    }
    funcs, weights = build_reward_funcs(["f1", "format"])
    assert funcs == [f1_reward, format_reward] and weights == [1.0, 1.0]
    funcs, weights = build_reward_funcs({"exact_match": 2, "anls": 0.5})
    assert funcs == [exact_match_reward, anls_reward] and weights == [2.0, 0.5]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["f1", "bleu"], "unknown reward 'bleu'; known rewards: original, exact_match, f1, anls, format"),
        ([], "no reward functions"),
        (["f1", "f1"], "listed twice"),
        ({"f1": float("nan")}, "finite number"),
        ({"f1": "1"}, "finite number"),
        ("f1", "is a string"),
    ],
)
def test_build_reward_funcs_errors(spec: object, message: str) -> None:
    with pytest.raises(RewardSpecError) as info:
        build_reward_funcs(spec)  # type: ignore[arg-type]
    assert message in str(info.value)
