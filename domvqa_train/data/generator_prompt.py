"""The prompt that asks a model for question/answer pairs about a page, its JSON schema, and a tolerant parser.

The model is asked, like the original project asked o3, for N short verifiable answers (a number,
one word, yes/no or a short phrase) answerable from the DOM alone or from the screenshot alone, and
says which (``source``), with the DOM text that shows a DOM answer (``evidence``). The schema goes
out as ``response_format`` where the endpoint takes it; whatever comes back is read by
:func:`parse_questions`, which also accepts JSON inside prose or code fences, a bare list, trailing
commas and the usual key variants, and says exactly why a response is unusable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANSWER_TYPES = ("number", "boolean", "word", "phrase")
SOURCES = ("dom", "image")

SYSTEM = (
    "You write question-answer pairs about web pages. They train and test a model that must answer "
    "questions about a page, so every answer must be short, unambiguous and checkable against the page."
)

USER = """Here is a web page{with_screenshot}. Its DOM:
<dom>
{dom}
</dom>

Write {n} questions about this page, each with one short answer.
- The answer is a number, one word, yes/no, or a phrase of at most {max_words} words, written exactly as the page writes it.
- Each question can be answered from {sources}; "source" says which ({source_values}).
- "evidence" is the shortest exact text of the DOM that contains or proves the answer ("" for a screenshot answer).
- Ask about different facts. Never put the answer in the question. No questions about markup, code or attributes.
- "answer_type" is one of: number, boolean, word, phrase.
Reply with JSON only, in this form:
{{"reasoning": "...", "questions": [{{"question": "...", "answer": "...", "answer_type": "word", "source": "dom", "evidence": "..."}}]}}"""


def build_messages(
    dom: str, *, n: int, max_words: int, screenshot_part: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The chat messages for one page: the DOM (already pruned) and, when given, the screenshot as an image part."""
    with_image = screenshot_part is not None
    text = USER.format(
        with_screenshot=" and its screenshot" if with_image else "",
        dom=dom,
        n=n,
        max_words=max_words,
        sources="the DOM alone or from the screenshot alone" if with_image else "the DOM alone",
        source_values='"dom" or "image"' if with_image else '"dom"',
    )
    content: Any = [{"type": "text", "text": text}, screenshot_part] if with_image else text
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def response_format(n: int) -> dict[str, Any]:
    """OpenAI's structured-output ``response_format`` (strict JSON schema) for :data:`USER`'s reply."""
    item = {
        "type": "object",
        "properties": {
            "question": {"type": "string"},
            "answer": {"type": "string"},
            "answer_type": {"type": "string", "enum": list(ANSWER_TYPES)},
            "source": {"type": "string", "enum": list(SOURCES)},
            "evidence": {"type": "string"},
        },
        "required": ["question", "answer", "answer_type", "source", "evidence"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "questions": {"type": "array", "items": item, "minItems": 1, "maxItems": max(1, 2 * n)},
        },
        "required": ["reasoning", "questions"],
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": "page_questions", "strict": True, "schema": schema},
    }


@dataclass(frozen=True)
class ProposedQA:
    """One question as the generator wrote it, before it is checked against the page."""

    question: str
    answers: tuple[str, ...]
    answer_type: str | None = None
    source: str | None = None  # the generator's claim: "dom" or "image"
    evidence: str | None = None


@dataclass(frozen=True)
class ParsedResponse:
    """What a response held: its questions, the model's reasoning, and items that were not questions."""

    items: list[ProposedQA]
    reasoning: str | None
    malformed: int


class UnusableResponse(ValueError):
    """A response with no usable question; ``kind`` is ``empty``, ``not_json`` or ``wrong_schema``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_LIST_KEYS = ("questions", "qa", "qas", "pairs", "items", "data", "results")
_QUESTION_KEYS = ("question", "q", "query")
_ANSWER_KEYS = ("answers", "answer", "a")
_SOURCE_ALIASES = {
    "dom": "dom",
    "html": "dom",
    "text": "dom",
    "image": "image",
    "screenshot": "image",
    "img": "image",
}


def parse_questions(text: str) -> ParsedResponse:
    """Read the questions of a generator response; raises :class:`UnusableResponse` when there are none.

    >>> parse_questions('Sure! ```json\\n{"questions": [{"q": "Price?", "a": 12,}]}\\n```').items[0].answers
    ('12',)
    """
    if not text or not text.strip():
        raise UnusableResponse("empty", "the response is empty")
    value = _find_json(text)
    reasoning = None
    if isinstance(value, Mapping):
        reasoning = value.get("reasoning") if isinstance(value.get("reasoning"), str) else None
        listed = next((value[k] for k in _LIST_KEYS if isinstance(value.get(k), list)), None)
        if listed is None and any(k in value for k in _QUESTION_KEYS):
            listed = [value]
        if listed is None:
            keys = ", ".join(sorted(map(str, value))) or "none"
            raise UnusableResponse("wrong_schema", f"the JSON object has no 'questions' list (keys: {keys})")
    elif isinstance(value, list):
        listed = value
    else:
        raise UnusableResponse(
            "wrong_schema", f"the JSON is a {type(value).__name__}, not an object with 'questions'"
        )
    items = [item for item in (_item(raw) for raw in listed) if item is not None]
    if not items:
        raise UnusableResponse(
            "wrong_schema", f"none of the {len(listed)} listed items has a non-empty question and answer"
        )
    return ParsedResponse(items, reasoning.strip() or None if reasoning else None, len(listed) - len(items))


def _find_json(text: str) -> Any:
    """The first JSON value in ``text``: the whole text, a fenced block, or from the first ``{``/``[`` on."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(variant)
            except ValueError:
                pass
    decoder = json.JSONDecoder()
    relaxed = _TRAILING_COMMA.sub(r"\1", text)
    for start in [m.start() for m in re.finditer(r"[{\[]", relaxed)][:50]:
        try:
            value, _ = decoder.raw_decode(relaxed, start)
        except ValueError:
            continue
        if isinstance(value, (dict, list)) and value:
            return value
    snippet = " ".join(text.split())[:80]
    raise UnusableResponse("not_json", f"no JSON object or list in the response (it starts: {snippet!r})")


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def _item(raw: Any) -> ProposedQA | None:
    if not isinstance(raw, Mapping):
        return None
    question = next((t for k in _QUESTION_KEYS if (t := _text(raw.get(k)))), None)
    answer_value = next((raw[k] for k in _ANSWER_KEYS if raw.get(k) not in (None, "", [])), None)
    values = answer_value if isinstance(answer_value, list) else [answer_value]
    answers = tuple(dict.fromkeys(t for v in values if (t := _text(v))))
    if not question or not answers:
        return None
    kind = _text(raw.get("answer_type") or raw.get("type"))
    source = _text(raw.get("source"))
    return ProposedQA(
        question=question,
        answers=answers,
        answer_type=kind.lower() if kind else None,
        source=_SOURCE_ALIASES.get(source.lower()) if source else None,
        evidence=_text(raw.get("evidence") or raw.get("quote")),
    )
