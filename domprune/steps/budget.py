"""Budget fitting: choose what to keep so the serialized output fits the budget exactly.

Data flow: the page's units and their costs (:mod:`.units`) -> their ranking (:mod:`.ranking`) ->
take units greedily by rank -> serialize and count exactly -> drop the lowest-ranked kept units
until the exact count fits (BPE costs are almost additive, so this takes one or two counts).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from heapq import nlargest

from ..document import Document, Flags, flags, ints
from ..errors import BudgetTooSmallError
from ..settings import BudgetSettings
from ..tokenizers import TokenCounter
from .ranking import Ranking
from .units import (
    ATTR,
    TAG_TOKENS_PER_CHAR,
    TEXT_TOKENS_PER_CHAR,
    UnitModel,
    Units,
    WrittenChars,
)

MAX_CHARS_PER_TOKEN = 4.7
FIRST_AIM = 0.96  # share of the budget the first fill aims at, by estimate
MAX_ROUNDS = 4  # fills: the first, then refills at the corrected estimate
MAX_COUNTS_PER_ROUND = 6


class RankOrder:
    """Units best first: ``first``, then the rest by priority, ties in document order (as a stable
    sort), found only as far as they are read.

    A fit reads the best few thousand units; sorting all of a huge page's (10^5, an int object
    each) waits until something reads past the ``start`` best (then four times as many, and so on).

    >>> order = RankOrder([0.5, 0.9, 0.5, 0.1, 0.7], [3], start=2)
    >>> list(order), len(order)
    ([3, 1, 4, 0, 2], 5)
    """

    def __init__(self, prio: Sequence[float], first: list[int], start: int) -> None:
        self.prio, self.first, self.skip = prio, first, set(first)
        self.best = ints()  # the best units, a prefix of the whole order (``first`` among them)
        self.complete = False
        self._grow(start)

    def _grow(self, k: int) -> None:
        n, key = len(self.prio), self.prio.__getitem__
        self.complete = k >= n
        # (nlargest is sorted(reverse=True)[:k], ties in order, without an int object per unit)
        self.best = ints(
            sorted(range(n), key=key, reverse=True) if self.complete else nlargest(k, range(n), key)
        )

    def __iter__(self) -> Iterator[int]:
        yield from self.first
        i, skip = 0, self.skip
        while True:
            best = self.best
            for u in best[i:] if i else best:
                if u not in skip:
                    yield u
            i = len(best)
            if self.complete:
                return
            self._grow(4 * i)

    def __len__(self) -> int:
        return len(self.prio)


@dataclass
class Selection:
    """What budget fitting kept, and the exact result."""

    keep: Flags
    keep_text: Flags
    keep_tail: Flags
    output: str
    tokens: int
    units_dropped: int
    exact_counts: int
    order: RankOrder | list[int] = field(default_factory=list)  # units by rank (empty: the whole page fits)
    header_taken: list[int] = field(default_factory=list)  # header-tier units taken first


def whole_may_fit(
    chars: WrittenChars,
    fmt: str,
    budget: int,
    whole_text: Callable[[], str],
    counter: TokenCounter,
) -> bool:
    """Whether everything filtering left may fit ``budget``: by its characters (``chars``; a token is
    at most about 4.7 characters of written HTML; corpus pages 2.0-4.6, median 3.0), by the typical
    tokens per character, then by counting three samples of the whole page written out."""
    text = chars.text
    if text > budget * MAX_CHARS_PER_TOKEN or text * TEXT_TOKENS_PER_CHAR > budget * 1.25:
        return False
    tags = chars.tags if fmt == "html" else 0
    estimate = text * TEXT_TOKENS_PER_CHAR + tags * TAG_TOKENS_PER_CHAR
    return (
        text + tags <= budget * MAX_CHARS_PER_TOKEN
        and estimate <= budget * 1.25
        and (estimate <= budget * 0.8 or _likely_tokens(whole_text(), counter) <= budget * 1.1)
    )


def whole_selection(doc: Document, alive: Flags, output: str, tokens: int) -> Selection:
    """The selection that keeps everything filtering left."""
    keep = bytearray(alive)
    tails = flags(len(keep))
    if keep:
        tails[1:] = bytearray([alive[p] for p in doc.parent[1:]])
    return Selection(keep, keep, tails, output, tokens, 0, 1)


def fit_to_budget(
    model: UnitModel,
    budget: int,
    *,
    ranking: Callable[[], Ranking],
    settings: BudgetSettings | None = None,
    count: Callable[[str], int] | None = None,
) -> Selection:
    """Keep the highest-ranked units whose serialization fits ``budget`` tokens exactly.

    ``ranking()`` gives the units' ranking (called once; a prepared page computes it once for all
    budgets). Units are chosen by estimated cost (characters, no tokenizer); every output is then
    counted exactly with ``count`` (default ``counter.count``; a prepared page passes a
    :class:`~domprune.counting.PieceCounts`, which recounts only what changed), and the estimate is
    corrected by that count until the output fits closely.
    """
    settings = settings or BudgetSettings()
    doc, units, counter = model.doc, model.units, model.counter
    count = count or counter.count
    exact_counts = 0
    rk = ranking()
    prio, header = rk.prio, rk.header
    header_limit = (settings.header_share if rk.rel else settings.header_share_no_question) * budget
    head_units = sorted((u for u in header if header[u]), key=lambda u: (-header[u], u))
    said = {u: _said(doc, units, u) for u in head_units}
    seen_text: set[str] = set()
    unique_head = []
    for u in head_units:  # og:title, twitter:title and <title> often say the same thing
        if said[u] not in seen_text:
            seen_text.add(said[u])
            unique_head.append(u)
    head_taken, _ = model.select(unique_head, header_limit) if unique_head else ([], [])
    head_taken = _without_repeated_titles(model, unique_head, head_taken, said, header_limit)
    order = RankOrder(prio, head_taken, budget + 4096)

    # estimates are characters times a typical tokens-per-character; each exact count corrects
    # them (``scale``: exact tokens / estimate of what was written). The first fill aims a little
    # low: counting an output over the budget costs more than topping one up.
    scale = 1.0
    aim = FIRST_AIM
    best: tuple[str, Flags, Flags, Flags, int, int] | None = None
    seen: set[tuple[int, float]] = set()
    for _ in range(MAX_ROUNDS):
        taken, cum = model.select(order, budget * aim / scale)
        key = (len(taken), cum[-1] if cum else 0.0)
        if key in seen:  # the corrected estimate chose what was tried already
            break
        seen.add(key)
        # the longest prefix of ``taken`` that fits: first by estimate, then between a prefix that
        # fits (lo, lo_tokens) and one that does not (hi, hi_tokens), by interpolation
        k, lo, hi = len(taken), -1, -1
        lo_tokens = hi_tokens = 0
        for _ in range(MAX_COUNTS_PER_ROUND):
            out, keep, kt, kl = model.render(taken[:k], settings.mark_removed)
            tokens = count(out)
            exact_counts += 1
            if k:
                scale = tokens / max(cum[k - 1], 1.0)
            if tokens <= budget:
                if (k > 0 or not units) and (best is None or tokens > best[4]):
                    best = (out, keep, kt, kl, tokens, k)
                lo, lo_tokens = k, tokens
                if hi < 0 or tokens >= budget * 0.985 or hi - lo <= 1:
                    break
                k = _between(cum, lo, lo_tokens, hi, hi_tokens, budget)
            else:
                hi, hi_tokens = k, tokens
                if k == 0:
                    break
                if lo < 0:  # drop the lowest-ranked units worth the excess, at the scale just measured
                    target = cum[k - 1] - ((tokens - budget) * 1.03 + 1) / scale
                    k = bisect.bisect_right(cum, target, 0, k - 1)
                elif hi - lo <= 1:
                    break
                else:
                    k = _between(cum, lo, lo_tokens, hi, hi_tokens, budget)
        if hi >= 0 or len(taken) == len(units) or (best is not None and best[4] >= budget * 0.985):
            break
        aim = 0.995
    if best is None:
        best = _smallest_single(model, order, budget, settings)
    out, keep, kt, kl, tokens, k = best
    return Selection(keep, kt, kl, out, tokens, len(units) - k, exact_counts, order, head_taken)


def _title_like(doc: Document, units: Units, u: int) -> bool:
    """Whether header unit ``u`` is a title: ``<title>``, ``<h1>``, or a ``<meta>`` named as one
    (``og:title``, ``twitter:title``, ``name="title"``...)."""
    e = units.elem[u]
    tag = doc.tags[e]
    if tag == "meta":
        return any(k != "content" and "title" in v.lower() for k, v in doc.kept_attrs[e])
    return tag in ("title", "h1")


def _said(doc: Document, units: Units, u: int) -> str:
    """What header unit ``u`` says, to compare with the others: a title ``<meta>``'s content (its
    name says only that it is a title), else its text (a meta's name with its value: the same value
    under another name is another fact); lower-cased, white space collapsed, without the mark of a
    cut value.

    >>> from domprune.parse import parse_page
    >>> from domprune.document import flatten, flags
    >>> page = '<meta name="title" content="Boots  X…"><meta name="author" content="Ann"><h1>Boots x</h1>'
    >>> doc, _ = flatten(parse_page(page).root)
    >>> units = Units(doc, flags(len(doc.tags), True))
    >>> [_said(doc, units, u) for u in range(len(units))]
    ['boots x', 'author ann', 'boots x']
    """
    e = units.elem[u]
    text = units.text_of(doc, u)
    if units.kind[u] == ATTR and doc.tags[e] == "meta" and _title_like(doc, units, u):
        text = next((v for k, v in doc.kept_attrs[e] if k == "content"), text)
    return " ".join(text.rstrip("…").split()).lower()


def _without_repeated_titles(
    model: UnitModel, unique_head: list[int], taken: list[int], said: dict[int, str], limit: float
) -> list[int]:
    """``taken`` (the header tier) less each title whose words a longer title taken holds as whole
    words (a meta title inside ``<title>``, an ``<h1>`` that repeats it), its room given to the
    other header units in rank order. For each repeated title, the first title that holds it is
    taken first, so it stays (a subset of what fitted costs no more); the result is in rank order.
    """
    doc, units = model.doc, model.units
    titles = [u for u in taken if said[u] and _title_like(doc, units, u)]

    def holds(t: int, u: int) -> bool:
        return (
            len(said[t]) > len(said[u])
            and re.search(rf"(?<!\w){re.escape(said[u])}(?!\w)", said[t]) is not None
        )

    repeated = {u for u in titles if any(holds(t, u) for t in titles)}
    if not repeated:
        return taken
    # (for each repeated title the first that holds it, in rank order: one is enough)
    holders = list(
        dict.fromkeys(next(t for t in titles if t not in repeated and holds(t, u)) for u in repeated)
    )
    rest = [u for u in unique_head if u not in repeated and u not in holders]
    now, _ = model.select(holders + rest, limit)
    rank = {u: r for r, u in enumerate(unique_head)}
    return sorted(now, key=rank.__getitem__)


def _between(cum: list[float], lo: int, lo_tokens: int, hi: int, hi_tokens: int, budget: int) -> int:
    """The prefix length strictly between ``lo`` (fits: ``lo_tokens``) and ``hi`` (over:
    ``hi_tokens``) whose cost, interpolated between those two exact counts by the units' estimates,
    is just under the budget: fewer exact counts than halving the range (on 60 pages of new sites,
    2.6 counts a call at 4,000 tokens against halving's 3.3, 3.0 against 3.5 at 1,000;
    ``benchmarks/prune_speed.py``).

    >>> _between([10.0, 20.0, 30.0, 40.0, 50.0], 1, 100, 5, 500, 310)
    3
    """
    start = cum[lo - 1] if lo > 0 else 0.0
    span = cum[hi - 1] - start
    if span <= 0 or hi_tokens <= lo_tokens:
        return (lo + hi) // 2
    target = start + span * (budget * 0.9925 - lo_tokens) / (hi_tokens - lo_tokens)
    return min(max(bisect.bisect_right(cum, target, lo, hi), lo + 1), hi - 1)


def _likely_tokens(text: str, counter: TokenCounter) -> float:
    """About how many tokens ``text`` has, from three samples of it (a long text is not counted)."""
    n = len(text)
    if n <= 8000:
        return counter.count(text)
    k = 1200
    starts = (n // 5, n // 2, n * 4 // 5)
    return n * sum(counter.count(text[s : s + k]) for s in starts) / (3 * k)


def cheapest_units(model: UnitModel, order: Iterable[int], k: int = 40) -> list[int]:
    """The ``k`` units that cost least on their own (with their ancestors' tags), best rank first."""
    alone = [(model.alone_cost(u), r, u) for r, u in enumerate(order)]
    return [u for _, _, u in sorted(alone)[:k]]


def _smallest_single(
    model: UnitModel, order: RankOrder | list[int], budget: int, settings: BudgetSettings
) -> tuple[str, Flags, Flags, Flags, int, int]:
    """When the greedy pass kept nothing: the best-ranked single unit whose exact count fits.

    Raises :class:`BudgetTooSmallError` naming the smallest budget among the cheapest units when
    none fits.
    """
    if not order:
        raise BudgetTooSmallError(f"the page has no content left to fit in {budget} tokens", None)
    rank = {u: r for r, u in enumerate(order)}
    fitting = []
    counts = []
    for u in cheapest_units(model, order):
        out, keep, kt, kl = model.render([u], settings.mark_removed)
        tokens = model.counter.count(out)
        counts.append(tokens)
        if tokens <= budget and out:
            fitting.append((rank[u], out, keep, kt, kl, tokens))
    if not fitting:
        smallest = min(counts, default=None)
        raise BudgetTooSmallError(
            f"a budget of {budget} tokens is too small for any part of this page; "
            f"the smallest budget that works is {smallest}",
            smallest,
        )
    _, out, keep, kt, kl, tokens = min(fitting, key=lambda x: x[0])
    return out, keep, kt, kl, tokens, 1
