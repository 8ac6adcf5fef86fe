r"""The original DOM question project's conversation records, read in one place.

A record is ``{"conversations": [user, assistant], "split": ...}``: the user turn holds the page
between ``<dom>`` and ``</dom>`` and the question after ``Question:``; the assistant turn holds the
answer. The original project's ``prepare_dataset.py`` wrote the user turn from a triple-quoted
Python string, so its lines after the first start with 12 spaces (:data:`ORIGINAL_USER_TEMPLATE`)::

    Given the following DOM of a page, answer the question that is asked.
                <dom>{cleaned_html}</dom>
                Question: {question}
                Your answer must be a boolean, a word or a number, contained within $\boxed{}$. Now answer the question.
                Answer:

The question runs from ``Question:`` to the first blank line, the original's instruction line
(``Your answer must be ...``) or the ``Answer:`` line, so the unindented and blank-line variants
read the same. ShareGPT keys (``from``/``value``, ``human``/``gpt``) and content given as a list of
typed parts are accepted. Both domprune's bench and domvqa_train read records through this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InputError

ORIGINAL_INSTRUCTION = "Your answer must be a boolean, a word or a number, contained within $\\boxed{}$. Now answer the question."
"""The original user turn's instruction line (after the question)."""

ORIGINAL_USER_TEMPLATE = (
    "Given the following DOM of a page, answer the question that is asked.\n"
    "            <dom>{dom}</dom>\n"
    "            Question: {question}\n"
    f"            {ORIGINAL_INSTRUCTION}\n"
    "            Answer:"
)
"""The original user turn with ``{dom}`` and ``{question}`` slots, 12-space indents included."""

_DOM_OPEN, _DOM_CLOSE, _QUESTION = "<dom>", "</dom>", "Question:"
_QUESTION_END = re.compile(r"^\s*(?:Your answer must be\b|Answer:\s*$)")
_USER_ROLES = frozenset({"user", "human"})
_ASSISTANT_ROLES = frozenset({"assistant", "gpt", "model"})


class ConversationError(InputError):
    """A conversation record cannot be read; the message is the reason (for a rejects file)."""


@dataclass(frozen=True)
class Conversation:
    """What a conversation record holds: the page, the question, the answer and a screenshot path."""

    dom: str
    question: str
    answer: str
    screenshot: str | None = None


def split_user_turn(text: str) -> tuple[str, str]:
    r"""The (DOM, question) of a user turn in the original shape or its variants.

    >>> turn = ORIGINAL_USER_TEMPLATE.replace("{dom}", "<p>Hi</p>").replace("{question}", "Who?")
    >>> split_user_turn(turn)
    ('<p>Hi</p>', 'Who?')
    >>> split_user_turn("Read the page.\n<dom><p>Hi</p></dom>\nQuestion: Who?\n\nAnswer in a box.")
    ('<p>Hi</p>', 'Who?')
    """
    opens = text.count(_DOM_OPEN)
    if opens != 1:
        problem = "no <dom> block" if not opens else f"{opens} <dom> blocks (one page per record)"
        raise ConversationError(f"the user turn has {problem}; put the page between one <dom> and </dom>")
    start = text.find(_DOM_OPEN)
    end = text.find(_DOM_CLOSE, start)
    if end < 0:
        raise ConversationError("the user turn's <dom> block has no closing </dom>")
    if text.count(_DOM_CLOSE) != 1:
        raise ConversationError("the user turn has more than one </dom>; one page per record")
    dom = text[start + len(_DOM_OPEN) : end].strip()
    after, before = text[end + len(_DOM_CLOSE) :], text[:start]
    marker = after.find(_QUESTION)
    if marker >= 0:
        question = _question_at(after, marker)
    elif (marker := before.rfind(_QUESTION)) >= 0:
        question = _question_at(before, marker)
    else:
        raise ConversationError("the user turn has no 'Question:' outside the <dom> block")
    if not question:
        raise ConversationError("the user turn's 'Question:' is empty")
    return dom, question


def _question_at(text: str, marker: int) -> str:
    """The question after ``text[marker:]`` (``Question:``), up to the first line that ends it."""
    lines = text[marker + len(_QUESTION) :].split("\n")
    kept = [lines[0].strip()]
    for line in lines[1:]:
        if not line.strip() or _QUESTION_END.match(line):
            break
        kept.append(line.strip())
    return "\n".join(kept).strip()


def parse_conversation(record: Mapping[str, Any]) -> Conversation:
    """Read one conversation record (``conversations`` or ``messages``); :class:`ConversationError` says why not."""
    turns = record.get("conversations", record.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise ConversationError("'conversations' must be a non-empty list of {role, content} turns")
    user_text: str | None = None
    answer: str | None = None
    screenshot = screenshot_path(record.get("screenshot"))
    for turn in turns:
        if not isinstance(turn, Mapping):
            raise ConversationError("a turn in 'conversations' is not an object")
        role = str(turn.get("role", turn.get("from", ""))).lower()
        text, image = _turn_text(turn.get("content", turn.get("value")))
        screenshot = screenshot or image
        if role in _USER_ROLES and user_text is None and _DOM_OPEN in text:
            user_text = text
        elif role in _ASSISTANT_ROLES and answer is None and text.strip():
            answer = text.strip()
    if user_text is None:
        raise ConversationError("no user turn contains a <dom>...</dom> block")
    if answer is None:
        raise ConversationError("no assistant turn with a non-empty answer")
    dom, question = split_user_turn(user_text)
    return Conversation(dom=dom, question=question, answer=answer, screenshot=screenshot)


def _turn_text(content: Any) -> tuple[str, str | None]:
    """Text of a turn's content (a string or a list of typed parts) and an image path if one is given."""
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts: list[str] = []
        image: str | None = None
        for part in content:
            if isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif isinstance(part.get("image"), str):
                    image = image or part["image"]
        return "".join(texts), image
    raise ConversationError("a turn's 'content' is neither a string nor a list of parts")


def screenshot_path(value: Any) -> str | None:
    """A screenshot path: a non-empty string, or the ``path`` of an undecoded ``datasets`` Image."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, Mapping) and isinstance(value.get("path"), str) and value["path"]:
        return value["path"]
    return None
