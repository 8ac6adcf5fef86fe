"""One error hierarchy. Every message says what was wrong and what to do about it."""

from __future__ import annotations


class DomPruneError(Exception):
    """Base class of every error domprune raises on purpose."""


class InputError(DomPruneError, ValueError):
    """The page could not be read as HTML (empty, binary, not markup, unreadable path)."""


class InputTooLargeError(InputError):
    """The page is larger than the configured limit."""


class BudgetTooSmallError(DomPruneError, ValueError):
    """No well-formed output fits the budget.

    ``smallest_budget`` is the smallest budget that would work, when it is known.
    """

    def __init__(self, message: str, smallest_budget: int | None = None) -> None:
        super().__init__(message)
        self.smallest_budget = smallest_budget
        """The smallest budget that would work, or ``None`` when it is not known."""


class TokenizerError(DomPruneError, LookupError):
    """A tokenizer name could not be resolved or loaded."""


class SettingsError(DomPruneError, ValueError):
    """Settings are invalid (wrong type, out of range, unknown field)."""
