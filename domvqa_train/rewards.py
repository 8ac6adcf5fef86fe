r"""Reward functions for GRPO on DOM question answering, with trl's signature.

Every function is ``f(completions, **columns) -> list[float | None]``: ``completions`` holds strings
or conversational completions (``[{"role": "assistant", "content": "..."}]``), and the ground truth
is the ``answers`` column (one ``list[str]`` per completion) or, for compatibility, ``answer`` (one
string per completion). They never raise: a completion that cannot be scored gets the function's
lowest score. A completion whose ground truth is missing gets ``None``, which trl skips instead of
teaching the lowest score (the original reward keeps the original's -1.0 there); a missing
ground-truth column is reported with a warning.

>>> exact_match_reward([r"It costs \boxed{\$1,000.00}."], answers=[["1000"]])
[1.0]
>>> original_reward([r"\boxed{Paris}"], answer=["Paris"])
[1.0]
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import math
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from domprune.answers import answer_tokens

from .errors import RewardSpecError

RewardFunc = Callable[..., list[float | None]]

ORIGINAL_BOX_PATTERN = re.compile(r"\\boxed\{([^}]*)\}")
"""The original project's regex: the first ``\boxed{`` up to the first ``}`` (``[^}]`` crosses newlines)."""
ORIGINAL_MAX_WORDS = 5
"""The original reward scores a boxed answer only when it has fewer than this many words."""
FORMAT_MAX_WORDS = 10
""":func:`format_reward` calls a boxed answer short when it has at most this many words."""
ANLS_THRESHOLD = 0.5
"""ANLS gives 0 when the normalised Levenshtein distance is at least this."""

_BOX_START = re.compile(r"\\boxed\s*\{")
_TRAILER_OK = re.compile(r"[\s.$)\]\\]*")


# --------------------------------------------------------------------------- helpers


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last assistant message's content.

    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        return _content_text(assistant[-1].get("content")) if assistant else ""
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def extract_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}``, braces nested correctly; ``None`` when there is none.

    >>> extract_boxed(r"so \boxed{\frac{1}{2}} or \boxed{ 3 }")
    '3'
    >>> extract_boxed(r"\boxed{\text{a}") is None
    True
    """
    spans = _boxed_spans(text)
    return text[spans[-1][1] : spans[-1][2]].strip() if spans else None


def _boxed_spans(text: str) -> list[tuple[int, int, int]]:
    """(start of ``\boxed``, start of content, end of content) of every balanced box, in order."""
    spans: list[tuple[int, int, int]] = []
    pos = 0
    while match := _BOX_START.search(text, pos):
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth:
            break  # unbalanced: this box and everything after it is unusable
        spans.append((match.start(), match.end(), index - 1))
        pos = index
    return spans


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_WEEKDAY = r"(?:(?:" + "|".join(d.lower() for d in calendar.day_name) + r"),?\s+)?"
_DATE_PATTERNS = [
    re.compile(r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})"),
    re.compile(_WEEKDAY + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR),
    re.compile(_WEEKDAY + _DAY + r"\s+(?:of\s+)?" + _MONTH + r",?\s+" + _YEAR),
]
_NUMERIC_DATE = re.compile(r"(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<year>\d{4})")


def _iso_date(text: str) -> str | None:
    """``YYYY-MM-DD`` when ``text`` is one date whose day and month are unambiguous."""
    for pattern in _DATE_PATTERNS:
        if match := pattern.fullmatch(text):
            month = match["month"]
            month_number = int(month) if month.isdigit() else _MONTHS[month]
            return _valid_date(int(match["year"]), month_number, int(match["day"]))
    if match := _NUMERIC_DATE.fullmatch(text):
        a, b, year = int(match["a"]), int(match["b"]), int(match["year"])
        if a == b or (a > 12) != (b > 12):  # 05/05/2021, 13/05/2021, 05/13/2021; not 03/05/2021
            day, month = (a, b) if a > 12 or a == b else (b, a)
            return _valid_date(year, month, day)
    return None


def _valid_date(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


_LATEX_WRAPPER = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_BOOLEANS = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def normalize_answer(text: str) -> str:
    r"""A canonical form of an answer, so that equal answers written differently compare equal.

    Unicode NFKC and lower case; ``\text{...}``-style LaTeX wrappers unwrapped; a whole-answer date
    whose day and month are unambiguous becomes ISO ``YYYY-MM-DD``; yes/true and no/false become
    ``yes``/``no``; numbers lose thousands separators, currency signs and an all-zero fraction, and
    a fraction keeps at least two decimals (``12.5`` == ``12.50``); punctuation except ``%`` and the
    articles a/an/the are dropped; tokens are joined by single spaces. ``normalize_answer`` of its
    own result gives the same result.

    >>> normalize_answer("The  Price: $1,000.00!")
    'price 1000'
    >>> normalize_answer("$12.50"), normalize_answer("12.5")
    ('12.50', '12.50')
    >>> normalize_answer("March 5th, 2021"), normalize_answer("13/05/2021"), normalize_answer("03/05/2021")
    ('2021-03-05', '2021-05-13', '3 5 2021')
    >>> normalize_answer("True.")
    'yes'
    """
    text = _unwrap(text)
    core = " ".join(text.split()).strip(" \t\"'`.,;:!?()[]{}")
    if (date := _iso_date(core)) is not None:
        return date
    tokens = answer_tokens(text)
    return _iso_date(tokens) or _BOOLEANS.get(tokens, tokens)


def _unwrap(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return _LATEX_WRAPPER.sub(r"\1", text).replace("\\%", "%").replace("\\$", "$").lower()


AnswerType = Literal["boolean", "date", "money", "number", "word", "phrase"]
ANSWER_TYPES: tuple[AnswerType, ...] = ("boolean", "date", "money", "number", "word", "phrase")
_MONEY = re.compile(
    r"[$€£¥]|\b(?:usd|eur|gbp|jpy|chf|cad|aud)\b|\d\s?(?:dollars?|euros?|pounds?)\b", re.IGNORECASE
)
_MONTH_WORD = re.compile(r"\b(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def answer_type(answer: str) -> AnswerType:
    """The kind of a reference answer: boolean, date, money, number, word or phrase.

    >>> [answer_type(a) for a in ["Yes", "March 5, 2021", "$19.99", "1,204", "slate", "New York City"]]
    ['boolean', 'date', 'money', 'number', 'word', 'phrase']
    """
    normalized = normalize_answer(answer)
    if normalized in ("yes", "no"):
        return "boolean"
    if _iso_date(normalized) is not None or (
        _MONTH_WORD.search(answer) is not None and re.search(r"\d", answer) is not None
    ):
        return "date"
    if _MONEY.search(answer) and re.search(r"\d", answer):
        return "money"
    if re.fullmatch(r"-?\d+(?:\.\d+)?", normalized.replace(" %", "").replace("%", "")):
        return "number"
    return "word" if len(normalized.split()) == 1 else "phrase"


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def anls_score(prediction: str, answer: str, threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS of one prediction against one answer (both already normalised).

    >>> anls_score("paris", "paris"), anls_score("pariss", "paris"), anls_score("rome", "paris")
    (1.0, 0.8333333333333334, 0.0)
    """
    longest = max(len(prediction), len(answer))
    if longest == 0:
        return 1.0
    if abs(len(prediction) - len(answer)) / longest >= threshold:
        return 0.0  # the distance is at least the length difference
    distance = _levenshtein(prediction, answer) / longest
    return 1.0 - distance if distance < threshold else 0.0


def token_f1(prediction: str, answer: str) -> float:
    """Token-overlap F1 of two normalised strings (1.0 when both are empty).

    >>> token_f1("new york city", "new york")
    0.8
    """
    pred, gold = prediction.split(), answer.split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _ground_truth(kwargs: Mapping[str, Any], count: int, name: str) -> list[list[str] | None]:
    """Accepted answers per completion from the ``answers`` (or ``answer``) column."""
    if count == 0:
        return []
    column = kwargs.get("answers")
    if column is None:
        column = kwargs.get("answer")
    if not isinstance(column, Sequence) or isinstance(column, str):
        warnings.warn(
            f"{name}: no 'answers' (or 'answer') column was passed; no completion can be scored. "
            "Keep the 'answers' column in the training dataset.",
            RuntimeWarning,
            stacklevel=3,
        )
        return [None] * count
    truths: list[list[str] | None] = []
    for index in range(count):
        item = column[index] if index < len(column) else None
        if isinstance(item, str):
            truths.append([item])
        elif isinstance(item, Sequence) and item and all(isinstance(a, str) for a in item):
            truths.append(list(item))
        else:
            truths.append(None)
    return truths


def _as_list(completions: Any) -> list[Any]:
    """``completions`` as a list; anything that is not a collection of completions gives ``[]``."""
    if isinstance(completions, (str, bytes)) or not isinstance(completions, Sequence):
        return []
    return list(completions)


def _score_all(
    completions: Sequence[Any],
    kwargs: Mapping[str, Any],
    name: str,
    score: Callable[[str, list[str]], float],
    lowest: float,
    missing: float | None = None,
) -> list[float | None]:
    """Apply ``score(text, answers)`` per completion.

    A completion without usable ground truth gets ``missing``; one whose scoring fails or is not
    finite gets ``lowest``.
    """
    items = _as_list(completions)
    try:
        truths = _ground_truth(kwargs, len(items), name)
    except Exception:  # a malformed column must not stop training
        truths = [None] * len(items)
    rewards: list[float | None] = []
    for completion, answers in zip(items, truths, strict=True):
        if answers is None:
            rewards.append(missing)
            continue
        try:
            value = float(score(completion_text(completion), answers))
        except Exception:
            value = lowest
        rewards.append(value if math.isfinite(value) else lowest)
    return rewards


# --------------------------------------------------------------------------- rewards


def original_box(text: str) -> str | None:
    r"""The answer the original reward reads: the first ``\boxed{...}`` match, stripped, if under 5 words.

    ``None`` when there is no box or it holds 5 words or more (the original's "format" rule).

    >>> original_box("\\boxed{a\nb} and \\boxed{c}")
    'a\nb'
    >>> original_box(r"\boxed{one two three four five}") is None
    True
    """
    match = ORIGINAL_BOX_PATTERN.search(text)
    if match is None:
        return None
    boxed = match.group(1).strip()
    return boxed if len(boxed.split()) < ORIGINAL_MAX_WORDS else None


def original_score(text: str, reference: str) -> float:
    r"""The original reward of one completion text against one reference string.

    ``difflib.SequenceMatcher(None, reference.strip(), boxed).ratio()`` - reference first: the ratio
    is not symmetric once difflib's autojunk heuristic applies to the second string (200+ characters).

    >>> original_score("\\boxed{Paris\n}", "Paris"), original_score("Paris", "Paris")
    (1.0, -1.0)
    """
    boxed = original_box(text)
    if boxed is None:
        return -1.0
    return difflib.SequenceMatcher(None, reference.strip(), boxed).ratio()


def original_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""The original project's reward, bit for bit on every input the original could score.

    -1.0 unless the FIRST match of the regex ``\\boxed\{([^}]*)\}`` (``re.search``; ``[^}]`` crosses
    newlines, the content ends at the first ``}``) holds fewer than 5 words (``str.split``) once
    stripped; then ``difflib.SequenceMatcher(None, reference.strip(), boxed).ratio()`` against the
    reference (the ``answer`` column, or the first of ``answers``), case and punctuation sensitive.
    Edge cases: an empty box ``\boxed{}`` scores 0.0 against a non-empty reference;
    ``\boxed{\text{A}}`` compares ``\text{A``.

    The only deliberate differences from the original, which raised on them: a completion or a
    reference that is ``None`` or not a string scores -1.0, and conversational completions
    (``[{"role": "assistant", "content": ...}]``) are read as their text.

    >>> original_reward(["no box", r"\boxed{}", r"\boxed{a b c d e}", "\\boxed{Paris\n}"], answer=["Paris"] * 4)
    [-1.0, 0.0, -1.0, 1.0]
    """

    def score(text: str, answers: list[str]) -> float:
        return original_score(text, answers[0])

    return _score_all(completions, kwargs, "original_reward", score, lowest=-1.0, missing=-1.0)


def exact_match_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""1.0 when the last ``\boxed{}`` answer equals some accepted answer after :func:`normalize_answer`.

    A completion without a boxed answer scores 0.0; one without ground truth gets ``None``.

    >>> exact_match_reward([r"\boxed{The Louvre}", "The Louvre", r"\boxed{x}"], answers=[["louvre"], ["louvre"], None])
    [1.0, 0.0, None]
    """

    def score(text: str, answers: list[str]) -> float:
        boxed = extract_boxed(text)
        if boxed is None:
            return 0.0
        prediction = normalize_answer(boxed)
        return float(any(prediction == normalize_answer(a) for a in answers))

    return _score_all(completions, kwargs, "exact_match_reward", score, lowest=0.0)


def f1_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""Best token F1 of the last ``\boxed{}`` answer over the accepted answers (normalised).

    0.0 without a box.

    >>> f1_reward([r"\boxed{New York City}"], answers=[["new york", "NYC"]])
    [0.8]
    """

    def score(text: str, answers: list[str]) -> float:
        boxed = extract_boxed(text)
        if boxed is None:
            return 0.0
        prediction = normalize_answer(boxed)
        return max(token_f1(prediction, normalize_answer(a)) for a in answers)

    return _score_all(completions, kwargs, "f1_reward", score, lowest=0.0)


def anls_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""Best ANLS (threshold 0.5) of the last ``\boxed{}`` answer over the accepted answers (normalised).

    0.0 without a box.

    >>> anls_reward([r"\boxed{Pariss}", r"\boxed{Rome}"], answers=[["Paris"], ["Paris"]])
    [0.8333333333333334, 0.0]
    """

    def score(text: str, answers: list[str]) -> float:
        boxed = extract_boxed(text)
        if boxed is None:
            return 0.0
        prediction = normalize_answer(boxed)
        return max(anls_score(prediction, normalize_answer(a)) for a in answers)

    return _score_all(completions, kwargs, "anls_reward", score, lowest=0.0)


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    r"""1.0 for exactly one non-empty, short ``\boxed{}`` answer with nothing but punctuation after it.

    Short means at most :data:`FORMAT_MAX_WORDS` words; "nothing after it" allows whitespace and
    ``. $ ) ] \``. Needs no ground truth.

    >>> format_reward([r"So \boxed{42}.", r"\boxed{1} \boxed{2}", r"\boxed{42} because...", r"\boxed{ }"])
    [1.0, 0.0, 0.0, 0.0]
    """
    rewards: list[float] = []
    for completion in _as_list(completions):
        try:
            text = completion_text(completion)
            spans = _boxed_spans(text)
            ok = (
                len(spans) == 1
                and len(_BOX_START.findall(text)) == 1
                and 0 < len(text[spans[0][1] : spans[0][2]].split()) <= FORMAT_MAX_WORDS
                and _TRAILER_OK.fullmatch(text, spans[0][2] + 1) is not None
            )
        except Exception:
            ok = False
        rewards.append(1.0 if ok else 0.0)
    return rewards


REWARDS: dict[str, RewardFunc] = {
    "original": original_reward,
    "exact_match": exact_match_reward,
    "f1": f1_reward,
    "anls": anls_reward,
    "format": format_reward,
}
"""Reward functions by name, for :func:`build_reward_funcs` and run settings."""


def build_reward_funcs(spec: Sequence[str] | Mapping[str, float]) -> tuple[list[RewardFunc], list[float]]:
    """Reward functions and their weights from names (weight 1.0 each) or a ``{name: weight}`` mapping.

    >>> funcs, weights = build_reward_funcs({"exact_match": 1.0, "format": 0.2})
    >>> [f.__name__ for f in funcs], weights
    (['exact_match_reward', 'format_reward'], [1.0, 0.2])
    """
    if isinstance(spec, str):
        raise RewardSpecError(f"reward spec {spec!r} is a string; give a list of names, e.g. [{spec!r}]")
    items = list(spec.items()) if isinstance(spec, Mapping) else [(name, 1.0) for name in spec]
    if not items:
        raise RewardSpecError(f"no reward functions given; choose from: {', '.join(REWARDS)}")
    funcs: list[RewardFunc] = []
    weights: list[float] = []
    for name, weight in items:
        if name not in REWARDS:
            raise RewardSpecError(f"unknown reward {name!r}; known rewards: {', '.join(REWARDS)}")
        if REWARDS[name] in funcs:
            raise RewardSpecError(f"reward {name!r} is listed twice; list each reward once")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise RewardSpecError(f"weight of reward {name!r} is {weight!r}; give a finite number")
        funcs.append(REWARDS[name])
        weights.append(float(weight))
    return funcs, weights
