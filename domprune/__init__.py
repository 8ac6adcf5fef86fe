"""domprune: fit any web page's DOM into a token budget, counted by the model's own tokenizer.

>>> import domprune
>>> r = domprune.prune("<html><body><h1>Boots</h1><p>Price: $129</p></body></html>", budget=64)
>>> r.output
'<h1>Boots</h1><p>Price: $129</p>'
>>> page = domprune.prepare("<h1>Boots</h1>" + "<p>Light and dry.</p>" * 50, question="Is it dry?")
>>> [page.fit(b).tokens_after for b in (400, 100)]  # parsed and filtered once, fitted twice
[393, 97]
"""

from .errors import (
    BudgetTooSmallError,
    DomPruneError,
    InputError,
    InputTooLargeError,
    SettingsError,
    TokenizerError,
)
from .explain import Explanation, explain
from .pipeline import PreparedPage, PruneResult, StepReport, chunk, prepare, prune
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
    "Explanation",
    "FilterSettings",
    "FittedPrompt",
    "InputError",
    "InputTooLargeError",
    "ParseSettings",
    "PreparedPage",
    "PromptTemplate",
    "PruneResult",
    "PruneSettings",
    "SettingsError",
    "StepReport",
    "TokenCounter",
    "TokenizerError",
    "chunk",
    "count_tokens",
    "explain",
    "fit_prompt",
    "get_tokenizer",
    "prepare",
    "prune",
]
__version__ = "0.1.0"
