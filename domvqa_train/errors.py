"""One error hierarchy for domvqa_train. Every message says what was wrong and what to do about it."""

from __future__ import annotations


class DomVQAError(Exception):
    """Base class of every error domvqa_train raises on purpose."""


class DataSourceError(DomVQAError, OSError):
    """A data source is missing, unreadable, or not in any format the loaders know."""


class RewardSpecError(DomVQAError, ValueError):
    """A reward specification names an unknown reward or gives an invalid weight."""


class PrepareError(DomVQAError, RuntimeError):
    """A prepared-data folder is missing, incomplete or inconsistent with the requested run."""


class SettingsError(DomVQAError, ValueError):
    """Run settings are invalid (wrong type, out of range, unknown field)."""


class BackendError(DomVQAError, LookupError):
    """A training backend could not be found or loaded."""
