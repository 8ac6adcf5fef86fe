"""Reward functions: exact values, the original reward's edge cases, and that they never raise."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domvqa_train.errors import RewardSpecError
from domvqa_train.rewards import (
    REWARDS,
    anls_reward,
    answer_in_text,
    build_reward_funcs,
    exact_match_reward,
    extract_boxed,
    f1_reward,
    format_reward,
    normalize_answer,
    original_reward,
)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("The answer is Paris.", -1.0),  # no box
        (r"\boxed{}", 0.0),  # empty box: ratio("", "Paris")
        (r"\boxed{ Paris }", 1.0),  # stripped
        (r"\boxed{a b c d e}", -1.0),  # 5 words is too many
        (r"\boxed{paris}", 0.8),  # case-sensitive: 2 * 4 / (5 + 5)
        (r"\boxed{\text{Paris}}", 0.625),  # cut at the first "}": ratio("\text{Paris", "Paris") = 10 / 16
        (r"\boxed{Rome} then \boxed{Paris}", 0.0),  # the FIRST box counts
        ("\\boxed{Pa\nris}", -1.0),  # the regex does not cross a newline
    ],
)
def test_original_reward_edge_cases(completion: str, expected: float) -> None:
    assert original_reward([completion], answer=["Paris"]) == [expected]


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
    with pytest.warns(RuntimeWarning, match="answers"):
        assert f1_reward([r"\boxed{A}", "x"]) == [0.0, 0.0]
    with pytest.warns(RuntimeWarning):
        assert original_reward([r"\boxed{A}"]) == [-1.0]


def test_bad_inputs_get_lowest_score() -> None:
    completions = [None, 42, [{"role": "assistant", "content": None}], r"\boxed{A}", r"\boxed{A}"]
    answers = [["a"], ["a"], ["a"], None, [3]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in REWARDS.values():
            lowest = -1.0 if func is original_reward else 0.0
            # format_reward needs no ground truth: the last two completions are well formed
            expected = [0.0, 0.0, 0.0, 1.0, 1.0] if func is format_reward else [lowest] * 5
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


def test_answer_in_text() -> None:
    dom = "<table><tr><td>Total</td><td>$1,299.00</td></tr><tr><td>Ship &amp; Co</td></tr></table>"
    assert answer_in_text(["1299"], dom)
    assert answer_in_text(["Ship & Co"], dom)
    assert not answer_in_text(["129"], dom)
    assert not answer_in_text(["missing", "absent"], dom)
