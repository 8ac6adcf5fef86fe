"""Summary statistics of the bench, and the reader's answer scores.

Whether an answer survived pruning is :mod:`domprune.answers` (shared with training). What a reader
*answered* is scored SQuAD-style: :func:`normalize_answer`, then :func:`exact_match`,
:func:`token_f1` and :func:`contains_answer`, each the best over the question's answers.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Percentile ``q`` (0-100) with linear interpolation; ``None`` for no values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """``n``, ``median``, ``p90``, ``max`` and ``mean`` of ``values`` (``None`` where empty)."""
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": float(max(values)) if values else None,
        "mean": float(sum(values) / len(values)) if values else None,
    }


def share(flags: Sequence[bool]) -> float | None:
    """Fraction of true flags; ``None`` for none."""
    return sum(1 for f in flags if f) / len(flags) if flags else None


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles (a/an/the), single spaces.

    >>> normalize_answer("  The Price: $1,299.00!")
    'price 129900'
    """
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised answer, else 0.0.

    >>> exact_match("the Eiffel tower.", ["Eiffel Tower", "Tour Eiffel"])
    1.0
    >>> exact_match("Eiffel", ["Eiffel Tower"])
    0.0
    """
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token F1 (bag of normalised words) of the prediction against any answer; 0.0 for none.

    >>> token_f1("Eiffel", ["Eiffel Tower"])
    0.6666666666666666
    >>> token_f1("", ["Eiffel Tower"])
    0.0
    """
    return max((_f1(prediction, a) for a in answers), default=0.0)


def contains_answer(completion: str, answers: Sequence[str]) -> float:
    """1.0 when any answer, normalised, is a substring of the normalised completion (an answer that
    normalises to nothing never counts).

    >>> contains_answer("I think it is the Eiffel Tower, in Paris.", ["eiffel tower"])
    1.0
    >>> contains_answer("Paris", ["Eiffel Tower", "!"])
    0.0
    """
    norm = normalize_answer(completion)
    return float(any((a := normalize_answer(x)) and a in norm for x in answers))
