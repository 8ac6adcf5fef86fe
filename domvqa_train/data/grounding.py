"""Check generated answers against their page: found in the DOM text, claimed from the screenshot, or dropped.

Each proposed question ends in exactly one place: kept with how it was grounded, or dropped with a
reason (``bad_question``, ``answer_too_long``, ``answer_in_question``, ``not_grounded``,
``no_screenshot``, ``duplicate_question``). Grounding, in order:

- ``answer_in_dom``: an accepted answer occurs in the page (:func:`answer_in_page`, the project's
  answer matcher);
- ``evidence_in_dom``: a yes/no answer whose quoted evidence occurs in the page;
- ``model_claim``: the generator says the answer is read from the screenshot and the page has one
  (tagged, since only the model vouches for it);
- otherwise the question is dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from domprune.answers import Haystack, answer_in, haystack

from ..rewards import answer_type, normalize_answer
from .generator_prompt import ProposedQA

Grounding = Literal["answer_in_dom", "evidence_in_dom", "model_claim"]
MAX_QUESTION_CHARS = 300
_BOOLEAN = {"yes", "no"}


def answer_in_page(answers: Sequence[str], html: str) -> bool:
    """Whether some answer occurs in the page's text: the project's one answer matcher
    (:func:`domprune.answers.answer_in`), which prepare and the bench use too.

    >>> answer_in_page(["$1,000"], "<td>Total: 1000.00</td>")
    True
    """
    return answer_in(answers, html, fmt="html")


@dataclass(frozen=True)
class GroundedQA:
    """A proposed question that passed every check, with how its answer was found."""

    proposal: ProposedQA
    answer_type: str
    source: Literal["dom", "image"]
    grounding: Grounding


@dataclass
class GroundingResult:
    """The kept questions of one page, and why the others were dropped (with an example question each)."""

    kept: list[GroundedQA]
    dropped: Counter[str]
    examples: dict[str, str]


def ground_questions(
    proposals: Sequence[ProposedQA], html: str, *, has_screenshot: bool, max_answer_words: int
) -> GroundingResult:
    """Check each proposal against ``html`` (and whether a screenshot exists); drop repeats of a question."""
    kept: list[GroundedQA] = []
    dropped: Counter[str] = Counter()
    examples: dict[str, str] = {}
    seen: set[str] = set()
    page = haystack(html) if proposals else None  # the page's searchable text, built once for all proposals
    for proposal in proposals:
        assert page is not None
        reason, grounded = _check(proposal, page, has_screenshot, max_answer_words)
        if grounded is not None:
            key = normalize_answer(proposal.question)
            if key in seen:
                reason, grounded = "duplicate_question", None
            else:
                seen.add(key)
        if grounded is None:
            dropped[reason] += 1
            examples.setdefault(reason, f"{proposal.question} -> {proposal.answers[0]}")
        else:
            kept.append(grounded)
    return GroundingResult(kept, dropped, examples)


def _check(
    proposal: ProposedQA, page: Haystack, has_screenshot: bool, max_answer_words: int
) -> tuple[str, GroundedQA | None]:
    question, answers = proposal.question.strip(), proposal.answers
    if not question or len(question) > MAX_QUESTION_CHARS or not normalize_answer(question):
        return "bad_question", None
    if any(len(a.split()) > max_answer_words for a in answers[:1]):
        return "answer_too_long", None
    kind = answer_type(answers[0])
    if kind != "boolean" and answer_in_page(answers[:1], question):
        return "answer_in_question", None
    if any(map(page.contains, answers)):
        return "", GroundedQA(proposal, kind, "dom", "answer_in_dom")
    if (
        kind == "boolean"
        and proposal.source != "image"
        and proposal.evidence
        and page.contains(proposal.evidence)
    ):
        return "", GroundedQA(proposal, kind, "dom", "evidence_in_dom")
    if proposal.source == "image":
        if has_screenshot:
            return "", GroundedQA(proposal, kind, "image", "model_claim")
        return "no_screenshot", None
    return "not_grounded", None
