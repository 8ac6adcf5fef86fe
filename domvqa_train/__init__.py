"""domvqa_train: GRPO LoRA training on DOM question answering, with prompts pruned to fit a token budget."""

from .backends.base import TrainingBackend, TrainReport, available_backends, create_backend, get_backend
from .data import DomQAExample, LoadResult, Reject, load_examples
from .endpoint import ChatClient, EndpointSettings
from .errors import DomVQAError
from .evaluate import EvalReport, EvalSettings, evaluate_models
from .filter_data import FilterDataSettings, FilterReport, filter_data
from .generate import EndpointGenerator, GenerateReport, GenerateSettings, RulesGenerator, generate_dataset
from .label import EndpointPolicy, LabelReport, LabelSettings, LocalPolicy, label_dataset
from .modelio import load_for_inference
from .prepare import PrepareReport, PrepareSettings, load_prepared, prepare_dataset
from .rewards import REWARDS, build_reward_funcs, normalize_answer
from .settings import TrainSettings

__all__ = [
    "REWARDS",
    "ChatClient",
    "DomQAExample",
    "DomVQAError",
    "EndpointGenerator",
    "EndpointPolicy",
    "EndpointSettings",
    "EvalReport",
    "EvalSettings",
    "FilterDataSettings",
    "FilterReport",
    "GenerateReport",
    "GenerateSettings",
    "LabelReport",
    "LabelSettings",
    "LoadResult",
    "LocalPolicy",
    "PrepareReport",
    "PrepareSettings",
    "Reject",
    "RulesGenerator",
    "TrainReport",
    "TrainSettings",
    "TrainingBackend",
    "available_backends",
    "build_reward_funcs",
    "create_backend",
    "evaluate_models",
    "filter_data",
    "generate_dataset",
    "get_backend",
    "label_dataset",
    "load_examples",
    "load_for_inference",
    "load_prepared",
    "normalize_answer",
    "prepare_dataset",
]
