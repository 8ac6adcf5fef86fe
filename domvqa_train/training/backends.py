"""The training-backend protocol and the registry that finds backends by name.

A backend is a class built from :class:`~domvqa_train.training.settings.TrainSettings`. Other packages add
backends without a fork through the ``domvqa_train.backends`` entry-point group::

    [project.entry-points."domvqa_train.backends"]
    mybackend = "mypkg.backend:MyBackend"
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..errors import BackendError
from .settings import TrainSettings

ENTRY_POINT_GROUP = "domvqa_train.backends"


class TrainReport(BaseModel):
    """What a finished (or interrupted) training run left behind."""

    steps: int = Field(description="optimizer steps completed (counting resumed ones)")
    adapter_dir: str | None = Field(None, description="final LoRA adapter with tokenizer/processor")
    merged_dir: str | None = Field(None, description="base model with the adapter merged in, if asked")
    pushed_to: str | None = Field(None, description="Hub repository the model was uploaded to (push_to_hub)")
    last_checkpoint: str | None = None
    resumed_from: str | None = None
    train_examples: int = 0
    max_prompt_tokens: int = Field(0, description="longest prompt, re-counted with the model's tokenizer")
    report: str | None = Field(None, description="the run's report.md (plots of rewards, lengths, step time)")
    log_history: list[dict[str, Any]] = Field(default_factory=list)


@runtime_checkable
class TrainingBackend(Protocol):
    """Trains a LoRA adapter with GRPO on prepared prompts and reloads it for generation."""

    def __init__(self, settings: TrainSettings) -> None: ...

    def prepare_model(self) -> None:
        """Load the model and tokenizer/processor and attach the (untrained) LoRA adapter."""

    def train(self) -> TrainReport:
        """Run (or resume) training; write checkpoints every ``save_steps`` and the final adapter."""

    def save(self, out_dir: str | Path) -> Path:
        """Write the adapter with its tokenizer/processor (and the merged model if configured)."""

    def load_for_inference(self, path: str | Path) -> Any:
        """A :class:`~domvqa_train.common.modelio.LoadedModel` for a saved adapter or model folder."""


_BUILTIN = {"trl": "domvqa_train.training.train:TrlGrpoBackend"}


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names :func:`get_backend` resolves (built-ins and installed entry points)."""
    return sorted({*_BUILTIN, *_entry_points()})


def get_backend(name: str) -> type[TrainingBackend]:
    """The backend class registered under ``name``."""
    eps = _entry_points()
    if name in eps:
        target: Any = eps[name]
    elif name in _BUILTIN:
        target = metadata.EntryPoint(name=name, value=_BUILTIN[name], group=ENTRY_POINT_GROUP)
    else:
        raise BackendError(
            f"unknown training backend {name!r}; available: {', '.join(available_backends())}. "
            f"Third-party backends register under the {ENTRY_POINT_GROUP!r} entry-point group"
        )
    try:
        return target.load()
    except ImportError as exc:
        raise BackendError(
            f"backend {name!r} needs packages that are not installed ({exc}); "
            "install the training extras: pip install 'domprune[train]'"
        ) from None
    except Exception as exc:
        raise BackendError(f"backend {name!r} failed to load: {exc}") from None


def create_backend(settings: TrainSettings) -> TrainingBackend:
    """Instantiate the backend that ``settings.backend`` names."""
    return get_backend(settings.backend)(settings)
