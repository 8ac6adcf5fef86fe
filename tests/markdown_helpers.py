"""Reading domprune's Markdown output back with an independent CommonMark parser (markdown-it-py,
GitHub tables on), so that tests check what a Markdown reader sees, not what domprune meant."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from lxml import html as lxml_html

_WORD = re.compile(r"\w+")
_URL_ATTRS = ("href", "src", "alt")


@lru_cache(maxsize=1)
def _parser() -> Any:
    import markdown_it

    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def render(markdown: str) -> Any:
    """The HTML a CommonMark reader makes of ``markdown``, as an lxml element."""
    return lxml_html.fragment_fromstring(_parser().render(markdown) or "<p></p>", create_parent="div")


def markdown_text(markdown: str) -> str:
    """The text a reader sees (images' alt texts in place), without link targets."""
    root = render(markdown)
    for img in root.iter("img"):
        img.tail = " " + (img.get("alt") or "") + " " + (img.tail or "")
    return root.text_content()


def markdown_words(markdown: str) -> list[str]:
    """Words of each text piece, alt text and link target a reader sees (as an HTML output's text
    pieces and attribute values); a list's numbers are syntax, not text."""
    root = render(markdown)
    # a reader percent-encodes link targets ("/a b" -> "/a%20b"): read them back
    values = [unquote(el.get(a) or "") for el in root.iter() for a in _URL_ATTRS if isinstance(el.tag, str)]
    return [w for piece in [*root.itertext(), *values] for w in _WORD.findall(piece)]


def markup_tags(markdown: str) -> set[str]:
    """The elements a reader makes of ``markdown``."""
    return {el.tag for el in render(markdown).iter() if isinstance(el.tag, str)} - {"div"}
