"""The reader's part of a bench run: which questions it answers, and one ``reader`` row per answer.

A seeded sample of questions (:func:`sample_questions`) is drawn once, before any method runs, so
every method and budget is read on the same questions. While a page is measured, a
:class:`PageReading` keeps the outputs of the sampled questions only; when the page is done, the
reader answers them all (and the whole page, where it fits the reader's context) and the rows are
scored against the question's answers.

A ``reader`` row: corpus, page, method (``whole_page`` for the raw page), budget (``None`` for the
whole page), question, kind, field, whether the answer was retained in the output, the prompt's
tokens by the reader's tokenizer, ``over_context`` (prompt and answer do not fit the reader's
context: not asked, scores ``None``), ``error`` (the method gave no output: not asked, scored 0, as retention counts it lost),
the completion, the extracted answer, and ``exact_match``, ``f1``, ``contains``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domprune.tokenizers import TokenCounter

from .metrics import contains_answer, exact_match, token_f1
from .reader import Reader, extract_answer, reader_prompt
from .records import Question

WHOLE_PAGE = "whole_page"


def sample_questions(
    strata: Sequence[tuple[str, Sequence[Question]]], n: int, seed: int
) -> set[tuple[int, int]]:
    """Up to ``n`` (page index, question index) pairs, stratified by (corpus, kind): each stratum is
    shuffled with ``seed`` and the strata give one question each in turn (sorted by name) until ``n``.

    ``strata`` is one (corpus, questions) per page, in page order.

    >>> q = lambda kind: Question("Q?", ("A",), kind)
    >>> pages = [("c", [q("natural"), q("synthetic")]), ("c", [q("natural"), q("natural")])]
    >>> sorted(kind for p, i in sample_questions(pages, 2, 0) for kind in [pages[p][1][i].kind])
    ['natural', 'synthetic']
    """
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for p, (corpus, questions) in enumerate(strata):
        for i, question in enumerate(questions):
            groups.setdefault((corpus, question.kind), []).append((p, i))
    for (corpus, kind), group in groups.items():
        random.Random(f"{seed}:reader:{corpus}:{kind}").shuffle(group)
    picked: set[tuple[int, int]] = set()
    queues = [groups[k] for k in sorted(groups)]
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.add(queue.pop(0))
    return picked


@dataclass
class _Read:
    row: dict[str, Any]
    answers: tuple[str, ...]
    prompt: str | None = None


@dataclass
class PageReading:
    """The outputs a page's sampled questions are read from, until the page is done."""

    reader: Reader
    counter: TokenCounter
    base: dict[str, Any]
    questions: dict[int, Question]
    """The page's sampled questions, by their index on the page."""
    pending: list[_Read] = field(default_factory=list)

    def add(
        self, method: str, budget: int | None, qi: int, dom: str | None, retained: bool, error: str | None
    ) -> None:
        """Keep what question ``qi`` is read from for ``method`` at ``budget`` (``dom`` None: no output)."""
        q = self.questions[qi]
        row: dict[str, Any] = {
            **self.base,
            "type": "reader",
            "method": method,
            "budget": budget,
            "question": qi,
            "kind": q.kind,
            "field": q.field,
            "retained": retained,
            "prompt_tokens": None,
            "over_context": False,
            "error": error if dom is None else None,
        }
        read = _Read(row, q.answers)
        if dom is not None:
            read.prompt = reader_prompt(self.counter, dom, q.text)
            row["prompt_tokens"] = self.reader.count(read.prompt)
            row["over_context"] = not self.reader.fits(row["prompt_tokens"])
        self.pending.append(read)

    def add_whole_page(self, html: str) -> None:
        """The raw page for every sampled question (asked where its prompt fits the reader's context)."""
        for qi in self.questions:
            self.add(WHOLE_PAGE, None, qi, html, True, None)

    def answer(self) -> list[dict[str, Any]]:
        """Ask the reader every kept prompt that fits; return the scored rows (and forget the outputs)."""
        asked = [r for r in self.pending if r.prompt is not None and not r.row["over_context"]]
        completions = self.reader.generate([r.prompt for r in asked]) if asked else []  # type: ignore[misc]
        for read, completion in zip(asked, completions, strict=True):
            answer = extract_answer(completion)
            read.row.update(
                completion=completion,
                answer=answer,
                exact_match=exact_match(answer, read.answers),
                f1=token_f1(answer, read.answers),
                contains=contains_answer(completion, read.answers),
            )
        for read in self.pending:
            if read.row["error"] is not None:  # no output to read: counted as a wrong answer
                read.row.update(completion=None, answer=None, exact_match=0.0, f1=0.0, contains=0.0)
            elif read.row["over_context"]:  # not asked: not scored
                read.row.update(completion=None, answer=None, exact_match=None, f1=None, contains=None)
        rows = [r.row for r in self.pending]
        self.pending = []
        return rows
