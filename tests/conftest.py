"""Shared fixtures: offline environment and a tokenizer built once per session."""

from __future__ import annotations

import os
from typing import Any

import pytest

# Tests never reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def qwen_hf_tokenizer() -> Any:
    """Holo1-3B's vocabulary as a transformers tokenizer, built offline once (a few seconds)."""
    from domprune.tokenizers import qwen_hf_tokenizer as build

    return build()


@pytest.fixture(scope="session")
def qwen() -> Any:
    """The default offline ``qwen2.5`` token counter."""
    import domprune

    return domprune.get_tokenizer("qwen2.5")


VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


def html_problems(fragment: str) -> list[str]:
    """Why ``fragment`` is not well-formed HTML (empty list: it is).

    Well-formed here means: every non-void start tag is closed by a matching end tag in proper
    nesting, no end tag is left over, void elements (img, input, br, ...) have no end tag and
    no other element is written self-closing. The stdlib tokenizer reports tags as written (it
    does not repair them, unlike lxml's HTML parser), so this checks the text itself.
    """
    from html.parser import HTMLParser

    problems: list[str] = []
    stack: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag not in VOID_TAGS:
                stack.append(tag)

        def handle_startendtag(self, tag: str, attrs: Any) -> None:
            if tag not in VOID_TAGS:
                problems.append(f"self-closing <{tag}/>")

        def handle_endtag(self, tag: str) -> None:
            if tag in VOID_TAGS:
                problems.append(f"end tag of void element </{tag}>")
            elif not stack:
                problems.append(f"stray </{tag}>")
            elif stack[-1] != tag:
                problems.append(f"</{tag}> closes <{stack[-1]}>")
                if tag in stack:
                    del stack[stack.index(tag) :]
            else:
                stack.pop()

    checker = Checker(convert_charrefs=True)
    checker.feed(fragment)
    checker.close()
    problems.extend(f"unclosed <{t}>" for t in stack)
    return problems


@pytest.fixture(scope="session")
def well_formed() -> Any:
    """``well_formed(fragment)`` -> list of problems (empty when the HTML is well-formed)."""
    return html_problems
