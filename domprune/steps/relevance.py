"""Lexical relevance of page blocks to a question: BM25 plus a few cheap cues.

BM25 is computed here over one page's blocks for one question: a few thousand short documents
scored once. Index-building libraries (rank-bm25, bm25s) are made for many queries over a corpus
and would cost more than the scoring itself, so the twenty lines below do it directly.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was were "
    "what when where which who whom whose why will with does did do can could would should page web "
    "article about me tell please give name there their they them you your we our der die das und ist "
    "von mit den des ein eine zu im auf für wer was wie wo wann le la les de du un une et est".split()
)
# question words -> terms a page uses for the answer (also matched against class/id/itemprop)
EXPANSIONS: dict[str, tuple[str, ...]] = {
    "who": ("author", "byline", "by", "writer", "creator", "autor", "auteur", "von", "par", "por"),
    "wrote": ("author", "byline", "by", "writer", "autor", "auteur", "von", "par", "por"),
    "written": ("author", "byline", "by", "writer", "autor", "auteur"),
    "author": ("byline", "by", "writer", "creator", "autor", "auteur"),
    "when": ("date", "time", "published", "posted", "updated", "datetime"),
    "date": ("time", "published", "posted", "updated", "datetime", "pubdate"),
    "published": ("date", "time", "posted", "publication", "pubdate"),
    "publication": ("date", "published", "pubdate"),
    "price": ("cost", "sale", "offer"),
    "cost": ("price", "sale"),
    "much": ("price", "cost"),
    "title": ("headline", "heading", "titel", "titre"),
    "website": ("site", "site_name", "publisher"),
    "site": ("site_name", "publisher"),
    "headline": ("title",),
    "where": ("address", "location", "place"),
    "publisher": ("published", "imprint"),
    "isbn": ("isbn13", "ean"),
}
_MONTHS = (
    r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?"
    r"|nov(ember)?|dec(ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember"
)
ANSWER_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(rf"\b(\d{{4}}-\d\d-\d\d|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}|({_MONTHS})\b)", re.I),
    "money": re.compile(r"[$€£¥]\s?\d|\d\s?(usd|eur|gbp|€|\$)", re.I),
    "isbn": re.compile(r"\b97[89][-\s]?\d{1,5}[-\s]?\d+[-\s]?\d+[-\s]?\d\b|\b\d{13}\b"),
    "number": re.compile(r"\d"),
}


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

    @classmethod
    def from_question(cls, question: str) -> Query:
        raw = _WORD.findall(question.lower())
        terms: dict[str, float] = {}
        for t in raw:
            if t not in STOPWORDS:
                terms[stem(t)] = 1.0
        for t in raw:
            for e in EXPANSIONS.get(t, ()):
                terms.setdefault(stem(e), 0.5)
        q = question.lower()
        kinds = []
        if re.search(r"\bwhen\b|\bdate\b|\bpublished on\b|\byear\b", q):
            kinds.append("date")
        if re.search(r"\bprice\b|\bcost|how much|\bfare|cheap|expensive|\bpay\b", q):
            kinds.append("money")
        if "isbn" in q:
            kinds.append("isbn")
        if re.search(r"how many|number of|\bcount\b", q):
            kinds.append("number")
        return cls(terms=terms, answer_kinds=tuple(kinds))


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


def bm25(docs: Sequence[list[str]], query: dict[str, float], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 score of each tokenised document for weighted query terms."""
    n = len(docs)
    if not n or not query:
        return [0.0] * n
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d).intersection(query))
    if not df:
        return [0.0] * n
    avgdl = (sum(len(d) for d in docs) / n) or 1.0
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    scores = []
    for d in docs:
        if not d:
            scores.append(0.0)
            continue
        tf = Counter(w for w in d if w in idf)
        s = 0.0
        norm = k1 * (1 - b + b * len(d) / avgdl)
        for t, f in tf.items():
            s += query[t] * idf[t] * f * (k1 + 1) / (f + norm)
        scores.append(s)
    return scores
