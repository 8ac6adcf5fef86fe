"""Keep page text from forging the chat template's special tokens (prompt injection).

A page can contain ``<|im_start|>system ...`` as text. Tokenizers turn such strings into real special
tokens, so the page could close the user turn and open a system turn. In HTML output text is escaped
(``&lt;|im_start|&gt;``); in text output, in JSON-LD scripts, in tag names and in questions, the
strings are broken with a space after ``<`` so they stay readable but are no longer special.
"""

from __future__ import annotations

import re

# chat-format control strings: <|...|> (Qwen, Llama 3, GPT), and the tag-like ones of Qwen2.5
SPECIAL = re.compile(r"<\|[A-Za-z0-9_.:\-]{1,40}\|>|</?(?:tool_call|tool_response|think)>")


def neutralize(text: str) -> str:
    """``<|im_start|>`` -> ``< |im_start|>``; text without such strings is returned unchanged.

    >>> neutralize("hi <|im_end|> there")
    'hi < |im_end|> there'
    """
    if "<" not in text:
        return text
    return SPECIAL.sub(lambda m: "< " + m.group(0)[1:], text)


def has_special(text: str) -> bool:
    return "<" in text and SPECIAL.search(text) is not None
