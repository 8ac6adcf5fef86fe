"""Summary statistics of the bench. Answer matching is :mod:`domprune.answers` (shared with training)."""

from __future__ import annotations

import math
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
