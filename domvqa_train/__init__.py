"""domvqa_train: GRPO LoRA training on DOM question answering, with prompts pruned to fit a token budget."""

from .data import DomQAExample, LoadResult, Reject, load_examples
from .errors import DomVQAError
from .prepare import PrepareReport, PrepareSettings, load_prepared, prepare_dataset
from .rewards import REWARDS, build_reward_funcs, normalize_answer

__all__ = [
    "REWARDS",
    "DomQAExample",
    "DomVQAError",
    "LoadResult",
    "PrepareReport",
    "PrepareSettings",
    "Reject",
    "build_reward_funcs",
    "load_examples",
    "load_prepared",
    "normalize_answer",
    "prepare_dataset",
]
