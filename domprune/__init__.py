"""domprune: fit any web page's DOM into a token budget, counted by the model's own tokenizer.

>>> import domprune
>>> r = domprune.prune("<html><body><h1>Boots</h1><p>Price: $129</p></body></html>", budget=64)
>>> r.output
'<h1>Boots</h1><p>Price: $129</p>'
"""

from .errors import (
    BudgetTooSmallError,
    DomPruneError,
    InputError,
    InputTooLargeError,
    SettingsError,
    TokenizerError,
)
from .pipeline import PruneResult, StepReport, chunk, prune
from .prompt import FittedPrompt, PromptTemplate, fit_prompt
from .settings import AttributeSettings, BudgetSettings, FilterSettings, ParseSettings, PruneSettings
from .steps.chunking import Chunk
from .tokenizers import TokenCounter, count_tokens, get_tokenizer

__all__ = [
    "AttributeSettings",
    "BudgetSettings",
    "BudgetTooSmallError",
    "Chunk",
    "DomPruneError",
    "FilterSettings",
    "FittedPrompt",
    "InputError",
    "InputTooLargeError",
    "ParseSettings",
    "PromptTemplate",
    "PruneResult",
    "PruneSettings",
    "SettingsError",
    "StepReport",
    "TokenCounter",
    "TokenizerError",
    "chunk",
    "count_tokens",
    "fit_prompt",
    "get_tokenizer",
    "prune",
]
__version__ = "0.1.0"
