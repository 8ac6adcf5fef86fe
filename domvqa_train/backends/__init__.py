"""Training backends, found by name (built-in ``trl``; more through entry points)."""

from .base import TrainingBackend, TrainReport, available_backends, create_backend, get_backend

__all__ = ["TrainReport", "TrainingBackend", "available_backends", "create_backend", "get_backend"]
