"""Measure token reduction, answer retention and speed of domprune and baselines on labelled pages.

Run it with ``domprune bench --corpus CORPORA_FOLDER`` (or ``python -m domprune.bench``); the
library entry is :func:`run_bench` + :func:`write_report`.
"""

from .loaders import BenchInputError, Loaded, load_input
from .records import Page, Question, Skip
from .settings import BenchSettings

__all__ = [
    "BenchInputError",
    "BenchSettings",
    "Loaded",
    "Page",
    "Question",
    "Skip",
    "load_input",
    "run_bench",
    "write_report",
]


def __getattr__(name: str):  # runner/report import domprune.prune and matplotlib lazily
    if name == "run_bench":
        from .runner import run_bench

        return run_bench
    if name == "write_report":
        from .report import write_report

        return write_report
    raise AttributeError(name)
