"""Griffe extension for the API pages: the project's docstrings read as Markdown.

The docstrings are written for ``help()`` and doctest: bare ``>>>`` examples, Sphinx roles such
as :func:`domprune.prune`, and tag names such as <h1> in plain text. Markdown would read ``>>>``
lines as nested quotes (and an output like ``[True, True]`` as a link), and a bare <h1> as HTML.
So each run of doctest lines is fenced as ``pycon``, a role becomes a code span, and ``<`` outside
code is escaped. Only the rendered text changes; the sources and their doctests do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|obj|exc|const):`(~?)([^`]+)`")
_PROMPT = re.compile(r"^( {0,3})>>> ")  # deeper: already an indented code block
_CODE_SPAN = re.compile(r"(`+).+?\1")


def to_markdown(text: str) -> str:
    """``text`` with doctest runs fenced as ``pycon``, roles as code spans and ``<`` escaped."""
    out: list[str] = []
    fence: str | None = None  # the indentation of an open pycon fence
    in_code = False  # inside a fence the docstring wrote itself
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is not None and not stripped:
            out.append(f"{fence}```")
            fence = None
        if fence is None and stripped.startswith("```"):
            in_code = not in_code
            out.append(line)
            continue
        prompt = None if in_code or fence is not None else _PROMPT.match(line)
        if prompt:
            fence = prompt.group(1)
            out.append(f"{fence}```pycon")
        out.append(line if in_code or fence is not None else _text_line(line))
    if fence is not None:
        out.append(f"{fence}```")
    return "\n".join(out)


def _text_line(line: str) -> str:
    line = _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", line)
    if line.startswith("    "):  # an indented code block (or a continuation): leave it as written
        return line
    parts, last = [], 0
    for m in _CODE_SPAN.finditer(line):
        parts += [line[last : m.start()].replace("<", "&lt;"), m.group(0)]
        last = m.end()
    parts.append(line[last:].replace("<", "&lt;"))
    return "".join(parts)


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)  # type: ignore[arg-type]


class DocstringsAsMarkdown(griffe.Extension):
    """Rewrites every docstring of a loaded package with :func:`to_markdown`.

    It runs when the whole package is loaded, so it also sees the docstrings that other
    extensions (griffe_pydantic: a field's ``description``) made; list it after them.
    """

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value)
