"""domvqa_train: GRPO LoRA training on DOM question answering, with prompts pruned to fit a token budget."""

from .backends.base import TrainingBackend, TrainReport, available_backends, create_backend, get_backend
from .data import DomQAExample, LoadResult, Reject, load_examples
from .errors import DomVQAError
from .evaluate import EvalReport, EvalSettings, evaluate_models
from .modelio import load_for_inference
from .prepare import PrepareReport, PrepareSettings, load_prepared, prepare_dataset
from .rewards import REWARDS, build_reward_funcs, normalize_answer
from .settings import TrainSettings

__all__ = [
    "REWARDS",
    "DomQAExample",
    "DomVQAError",
    "EvalReport",
    "EvalSettings",
    "LoadResult",
    "PrepareReport",
    "PrepareSettings",
    "Reject",
    "TrainReport",
    "TrainSettings",
    "TrainingBackend",
    "available_backends",
    "build_reward_funcs",
    "create_backend",
    "evaluate_models",
    "get_backend",
    "load_examples",
    "load_for_inference",
    "load_prepared",
    "normalize_answer",
    "prepare_dataset",
]
