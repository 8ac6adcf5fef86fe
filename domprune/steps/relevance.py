"""Lexical relevance of page blocks to a question: BM25 plus a few cheap cues.

BM25 is computed here over one page's blocks for one question: a few thousand short documents
scored once. Index-building libraries (rank-bm25, bm25s) are made for many queries over a corpus
and would cost more than the scoring itself, so the twenty lines below do it directly.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress

from ..document import filled, ints
from .fields import KIND_PATTERNS, fields_of

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was were "
    "what when where which who whom whose why will with does did do can could would should page web "
    "article about me tell please give name there their they them you your we our der die das und ist "
    "von mit den des ein eine zu im auf für wer was wie wo wann le la les de du un une et est".split()
)
# the kinds of value a question word asks for (the kinds' patterns are in .fields)
_WH_KINDS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"\bwhen\b|\bwann\b|\bquand\b|\bcuándo\b|what (date|day|year)|\bdate\b|\byear\b"), ("date",)),
    (re.compile(r"how much does .{0,40}(weigh|hold|measure)|how (heavy|big|large|tall|wide|deep|long|far|fast)"), ("quantity",)),
    (re.compile(r"\bprice\b|\bcosts?\b|how much|\bfares?\b|cheap|expensive|\bpay\b|\bwie viel\b|\bcombien\b"), ("money",)),
    (re.compile(r"how many|number of|\bcount\b|\bwie viele\b"), ("number",)),
    (re.compile(r"\bisbn"), ("isbn",)),
    (re.compile(r"^(who|whom|whose|wer|qui|quién)\b|\b(who|whose) |which (company|brand|person|firm|author|publisher)"), ("name",)),
    (re.compile(r"\bwhere\b|\bwo\b|\boù\b|\bdónde\b"), ("place",)),
)  # fmt: skip
ANSWER_PATTERNS = KIND_PATTERNS  # the kinds of value, by name
_MEASURES = frozenset({"quantity", "number", "duration", "rating"})


def _compatible(kind: str, asked: list[str]) -> bool:
    """Whether a field's kind of value fits the kinds a question word asks for (measures go together)."""
    return kind in asked or (kind in _MEASURES and not _MEASURES.isdisjoint(asked))


_SUFFIXES = ("ings", "ing", "ers", "er", "ed", "es", "s")


@functools.lru_cache(maxsize=65536)
def stem(w: str) -> str:
    """A light suffix strip: publisher, published, publishing -> publish."""
    if len(w) > 4 and not w.endswith("ss"):
        for suf in _SUFFIXES:
            if w.endswith(suf) and len(w) - len(suf) >= 4:
                return w[: -len(suf)]
    return w


def words(text: str) -> list[str]:
    """Lower-cased, lightly stemmed word tokens."""
    return list(map(stem, _WORD.findall(text.lower())))


@dataclass
class Query:
    """A question turned into weighted terms and the kinds of answer it expects."""

    terms: dict[str, float]
    answer_kinds: tuple[str, ...]
    text: str = ""  # the question as asked (dense relevance embeds it)

    @classmethod
    def from_question(cls, question: str) -> Query:
        """The question's own words (weight 1), the labels of the fields it asks for (0.5), and the
        kinds of value it expects: from its question word, else from those fields."""
        raw = _WORD.findall(question.lower())
        terms: dict[str, float] = {}
        for t in raw:
            if t not in STOPWORDS:
                terms[stem(t)] = 1.0
        asked = fields_of(question)
        q = " ".join(raw)
        kinds = [k for pattern, ks in _WH_KINDS if pattern.search(q) for k in ks]
        if "quantity" in kinds and "money" in kinds and "how much" in q:
            kinds.remove("money")  # "how much does it weigh": a quantity, not a price
        if kinds:  # "When was it published?" asks for a date, not for the publisher
            asked = tuple(f for f in asked if not f.kinds or any(_compatible(k, kinds) for k in f.kinds))
            kinds += [k for f in asked for k in f.kinds]  # "how long is the book": pages, a number
        for f in asked:
            for label in f.labels:
                terms.setdefault(stem(label), 0.5)
        if not kinds:
            kinds = [k for f in asked for k in f.kinds]
        return cls(terms=terms, answer_kinds=tuple(dict.fromkeys(kinds)), text=question)


def match_terms(docs: Sequence[list[str]], query: dict[str, float]) -> dict[str, float]:
    """Extend ``query`` with page words that share a stem with a query term (weigh ~ weight).

    Two words match when one is a prefix of the other, the shorter has at least four letters, and
    they differ by at most three letters.
    """
    long_terms = [t for t in query if len(t) >= 4]
    if not long_terms:
        return query
    out = dict(query)
    vocab: set[str] = set()
    for d in docs:
        vocab.update(d)
    firsts = {t[:4] for t in long_terms}
    for w in vocab:
        if len(w) < 4 or w in out or w[:4] not in firsts:
            continue
        for t in long_terms:
            short, long_ = (w, t) if len(w) <= len(t) else (t, w)
            if len(long_) - len(short) <= 3 and long_.startswith(short):
                out[w] = query[t] * 0.8
                break
    return out


def fold_case(text: str) -> str | None:
    """``text`` lower-cased, where a case-sensitive lower-case pattern then matches exactly what it
    matches case-insensitively in ``text`` (Python's ``re`` is several times slower with
    IGNORECASE); ``None`` where it would not: a character with a longer lower case (İ), or one that
    IGNORECASE equates with another letter without lower-casing to it (dotless ı, long ſ).

    >>> fold_case("Price: $5"), fold_case("İstanbul")
    ('price: $5', None)
    """
    low = text.lower()
    if len(low) != len(text) or "\u0131" in text or "\u017f" in text:
        return None
    return low


@dataclass(frozen=True)
class Matcher:
    """A pattern to run over many texts at once: ``folded`` (case-sensitive) over the lower-cased
    texts where :func:`fold_case` allows it, else ``plain`` over the texts as they are."""

    plain: re.Pattern[str]
    folded: re.Pattern[str] | None = None

    def on(self, text: str, low: str | None) -> tuple[re.Pattern[str], str]:
        """The pattern and the text to run it on (``low``: ``fold_case(text)``)."""
        if self.folded is not None and low is not None:
            return self.folded, low
        return self.plain, text


def matcher(source: str, ignorecase: bool, flags: int = 0) -> Matcher:
    """A :class:`Matcher` for a pattern written in lower case (``ignorecase``: case-insensitive)."""
    if not ignorecase:
        return Matcher(re.compile(source, flags))
    return Matcher(re.compile(source, flags | re.IGNORECASE), re.compile(source, flags))


def strings_matching(m: Matcher, strings: Sequence[str], group: str = "key") -> set[int]:
    """Indices of the ``strings`` (without line breaks of their own mattering: ``^`` and ``$`` are
    per line) in which ``m`` finds a match, found by one search over them joined by line breaks;
    a match belongs to the string where its group ``group`` starts."""
    if not strings:
        return set()
    starts = list(accumulate([len(t) + 1 for t in strings], initial=0))
    joined = "\n".join(strings)
    pattern, text = m.on(joined, fold_case(joined))
    return {bisect.bisect_right(starts, x.start(group)) - 1 for x in pattern.finditer(text)}


@functools.lru_cache(maxsize=256)
def _candidate_matcher(long_starts: tuple[str, ...], short_terms: tuple[str, ...]) -> Matcher:
    parts = []
    if long_starts:
        parts.append(r"(?:" + "|".join(map(re.escape, long_starts)) + r")\w*")
    if short_terms:
        parts.append(r"(?:" + "|".join(map(re.escape, short_terms)) + r")\b")
    if not parts:
        return matcher(r"(?!x)x", False)
    # a word start whose first letter may start a term: the look-ahead rejects most positions fast
    firsts = "".join(sorted({t[0] for t in long_starts + short_terms}))
    return matcher(r"\b(?=[" + re.escape(firsts) + "])(?:" + "|".join(parts) + ")", True)


def candidate_pattern(query: dict[str, float]) -> Matcher:
    """Words of a text that may match ``query`` (after :func:`stem` and :func:`match_terms`): those
    starting with a long term's first four letters, and short terms whole. One regex per question,
    run over all texts at once in C, so that only these words are stemmed."""
    longs = tuple(sorted({t[:4].lower() for t in query if len(t) >= 4}))
    shorts = tuple(sorted(t.lower() for t in query if len(t) < 4))
    return _candidate_matcher(longs, shorts)


def kinds_pattern(kinds: Sequence[str]) -> list[Matcher]:
    """Matchers for the values of any of ``kinds`` (one for the case-insensitive kinds, one for the
    others; empty for none)."""
    return _kinds_matchers(tuple(kinds))


@functools.lru_cache(maxsize=256)
def _kinds_matchers(kinds: tuple[str, ...]) -> list[Matcher]:
    out = []
    for ignorecase in (True, False):
        parts = [
            "(?:" + ANSWER_PATTERNS[k].pattern + ")"
            for k in kinds
            if bool(ANSWER_PATTERNS[k].flags & re.IGNORECASE) == ignorecase
        ]
        if parts:
            out.append(matcher("|".join(parts), ignorecase))
    return out


class JoinedTexts:
    """Texts joined by a character that no pattern matches ("\\x00"), for one regex search over
    them all in C, with the lower-cased copy (:func:`fold_case`) and where each text starts.

    >>> j = JoinedTexts(["Price: $5", "Ships in 2 days"])
    >>> j.text_at(j.text.index("Ships")), j.low[:5]
    (1, 'price')
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.text = "\x00".join(texts)
        self.low = fold_case(self.text)
        # (machine ints: a page may have 10^5 texts, and a list holds an int object for each)
        self.starts = array(
            "i" if len(self.text) < 2**31 - 1 else "q", accumulate((len(t) + 1 for t in texts), initial=0)
        )

    def text_at(self, pos: int) -> int:
        """The index of the text that character ``pos`` of :attr:`text` is in."""
        return bisect.bisect_right(self.starts, pos) - 1


def texts_matching(
    matchers: Sequence[Matcher],
    texts: Sequence[str],
    eligible: Sequence[int],
    joined: JoinedTexts | None = None,
) -> set[int]:
    """Indices of the eligible texts in which any of ``matchers`` finds a match.

    One search over the texts joined by a character that none of the patterns matches, each match
    extended to the end of its text (the rest of a text that matched is not searched); a match
    across two texts is checked again in each text alone. ``joined``: all of ``texts`` joined
    already (a search over the eligible ones alone finds the same texts).

    >>> m = kinds_pattern(["money"])
    >>> sorted(texts_matching(m, ["$5", "Ships in 2 days", "$7.50 off"], [1, 1, 0]))
    [0]
    """
    if not matchers or not any(eligible):
        return set()
    if joined is None:
        idx = ints(compress(range(len(eligible)), eligible))
        joined = JoinedTexts([texts[u] for u in idx])
    else:
        idx = None
    out: set[int] = set()
    for matcher in matchers:
        pattern, text = matcher.on(joined.text, joined.low)
        rest = _to_end(pattern)
        for m in rest.finditer(text):
            a = joined.text_at(m.start())
            z = joined.text_at(max(m.start(1) + len(m.group(1)) - 1, m.start()))
            hits = [a] if a == z else [k for k in range(a, z + 1) if pattern.search(joined.texts[k])]
            for k in hits:  # (across texts: each text alone)
                u = k if idx is None else idx[k]
                if eligible[u]:
                    out.add(u)
    return out


@functools.lru_cache(maxsize=256)
def _to_end(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` as group 1, followed by the rest of its text."""
    return re.compile("(" + pattern.pattern + ")[^\x00]*", pattern.flags)


def bm25_blocks(
    lengths: Sequence[int],
    tfs: Sequence[Counter[str] | None],
    query: dict[str, float],
    k1: float = 1.2,
    b: float = 0.75,
) -> array:
    """BM25 of blocks given each block's length in words and the counts of its matched words
    (``None``: none matched), by block number; 0.0 for a block that does not score.

    Blocks may share one ``Counter`` (the same words matched): each distinct one is read once, and
    each (counts, length) pair scored once.

    >>> tf = Counter({"price": 1})
    >>> s = bm25_blocks([3, 3, 9], [tf, tf, None], {"price": 1.0})
    >>> s[0] == s[1] > 0 == s[2]
    True
    """
    n = len(lengths)
    scores = filled(n, 0.0, "d")
    if not n or not query:
        return scores
    shared = Counter(id(tf) for tf in tfs if tf is not None)  # how many blocks hold each distinct Counter
    distinct = {id(tf): tf for tf in tfs if tf is not None}
    df: Counter[str] = Counter()
    for key, tf in distinct.items():
        for t in tf:
            if t in query:
                df[t] += shared[key]
    if not df:
        return scores
    avgdl = (sum(lengths) / n) or 1.0
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    known: dict[tuple[int, int], float] = {}
    for block, tf in enumerate(tfs):
        if tf is None:
            continue
        length = lengths[block]
        s = known.get((id(tf), length))
        if s is None:
            norm = k1 * (1 - b + b * length / avgdl)
            s = 0.0
            for t, f in tf.items():
                if t in idf:
                    s += query[t] * idf[t] * f * (k1 + 1) / (f + norm)
            known[(id(tf), length)] = s
        scores[block] = s
    return scores
