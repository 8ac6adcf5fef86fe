"""domvqa_train: GRPO LoRA training on DOM question answering, with prompts pruned to fit a token budget."""

from .data import DomQAExample, LoadResult, Reject, load_examples
from .errors import DomVQAError

__all__ = [
    "DomQAExample",
    "DomVQAError",
    "LoadResult",
    "Reject",
    "load_examples",
]
