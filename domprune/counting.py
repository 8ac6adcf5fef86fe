"""Exact token counts of outputs that differ a little from outputs counted before.

Qwen2's pre-tokenizer never joins a letter or digit with a ``<`` that follows it (a piece with a
letter ends with a letter; a digit is a piece alone). So the count of an HTML text is the sum of
the counts of its parts cut before every ``<`` that follows a letter or digit, and tokenizing
the parts gives exactly the tokens of the whole. Budget fitting writes several outputs that
share most of their parts (a refill adds a few units, a second budget keeps most of the first);
:class:`PieceCounts` counts each distinct part once, the new parts of an output in one batched
tokenizer call. Tokenizers without this property (``TokenCounter.additive_at_tags`` false or
absent) count every text whole.
"""

from __future__ import annotations

from .tokenizers import TokenCounter

_MIN_CHARS = 512  # shorter texts are counted whole (cutting them costs more than it saves)


def cut_before_tags(text: str) -> list[str]:
    """``text`` cut before every ``<`` that follows a letter or digit (the parts join to ``text``).

    >>> cut_before_tags("<td>Price</td><td>$5</td>")
    ['<td>Price', '</td><td>$5', '</td>']
    """
    pieces = text.split("<")
    out: list[str] = []
    cur = pieces[0]
    for p in pieces[1:]:
        if cur[-1:].isalnum():
            out.append(cur)
            cur = "<" + p
        else:
            cur += "<" + p
    out.append(cur)
    return out


class PieceCounts:
    """Exact counts by ``counter``, remembering the count of every part it has seen."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.additive = bool(getattr(counter, "additive_at_tags", False))
        self.known: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Exactly ``counter.count(text)``."""
        if not self.additive or len(text) < _MIN_CHARS:
            return self.counter.count(text)
        parts = cut_before_tags(text)
        known = self.known
        new = list(dict.fromkeys(p for p in parts if p not in known))
        if new:
            known.update(zip(new, self.counter.count_batch(new)))
        return sum(map(known.__getitem__, parts))
