"""What an element's tag says about how it is written: block or inline, void, heading.

Shared by the serializers (:mod:`.document` writes HTML and text, :mod:`.markdown` Markdown) and
the steps.
"""

from __future__ import annotations

BLOCK = frozenset(
    "address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html legend li main menu nav ol "
    "option p pre section summary table tbody td tfoot th thead title tr ul center select textarea".split()
)
VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
TEXT_ATTRS = ("alt", "aria-label", "aria_label", "title", "placeholder", "value", "input_value", "content")
"""Attributes whose value is an element's label when it has no text (text and Markdown print the
first one set)."""
