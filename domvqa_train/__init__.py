"""domvqa_train: GRPO LoRA training on DOM question answering, with prompts pruned to fit a token budget."""

from .common.endpoint import ChatClient, EndpointSettings
from .common.modelio import load_for_inference
from .common.records import DomQAExample, LoadResult, Reject, load_examples
from .data.filter import FilterDataSettings, FilterReport, filter_data
from .data.generate import (
    EndpointGenerator,
    GenerateReport,
    GenerateSettings,
    RulesGenerator,
    generate_dataset,
)
from .data.label import EndpointPolicy, LabelReport, LabelSettings, LocalPolicy, label_dataset
from .errors import DomVQAError
from .evaluation.eval import EvalReport, EvalSettings, evaluate_models
from .prompts.prepare import PrepareReport, PrepareSettings, load_prepared, prepare_dataset
from .rewards import REWARDS, build_reward_funcs, normalize_answer
from .training.backends import TrainingBackend, TrainReport, available_backends, create_backend, get_backend
from .training.settings import TrainSettings

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
