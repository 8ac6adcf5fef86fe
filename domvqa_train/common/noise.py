"""Keep third-party warnings that a user cannot act on out of a command's output (``-v`` shows them).

transformers 5, trl, peft, accelerate and datasets warn about their own internals (e.g. trl calling the
``gradient_checkpointing_*`` methods that transformers 5 renamed to ``activation_checkpointing_*``), log
notes and draw loading/tokenizing progress bars. None of it is something the settings can change.
This package's own warnings stay, printed as one line each; the trainer's progress bar and step logs stay.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

#: Packages whose Future/Deprecation/User warnings, info logs and progress bars are hidden by default.
THIRD_PARTY = ("transformers", "trl", "peft", "accelerate", "datasets", "huggingface_hub", "torch")
_HIDDEN_CATEGORIES = (FutureWarning, DeprecationWarning, UserWarning)
_OWN_DIR = str(Path(__file__).resolve().parent.parent)  # the whole domvqa_train package


def _one_line(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    """``warnings.formatwarning`` that writes this package's warnings as ``warning: message``."""
    if str(Path(filename).resolve()).startswith(_OWN_DIR):
        return f"warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


_default_formatwarning = warnings.formatwarning


@contextlib.contextmanager
def quiet_third_party(verbose: bool = False) -> Iterator[None]:
    """Within the block: hide third-party warnings, info logs and loading bars unless ``verbose``.

    Warnings filters, ``warnings.formatwarning`` and the libraries' log levels are restored afterwards.
    """
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line
    try:
        with warnings.catch_warnings():
            if verbose:
                yield
                return
            for package in THIRD_PARTY:
                for category in _HIDDEN_CATEGORIES:
                    warnings.filterwarnings("ignore", category=category, module=rf"{package}(\.|$)")
            with _quiet_libraries():
                yield
    finally:
        warnings.formatwarning = formatwarning


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in THIRD_PARTY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    restore = []
    try:
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        restore.append(lambda: hf_logging.set_verbosity(level))
        restore.append(lambda: hf_logging.enable_progress_bar() if bars else None)
    except ImportError:  # the training extras are not installed: nothing to quiet
        pass
    try:
        import datasets

        ds_bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        restore.append(lambda: datasets.enable_progress_bars() if ds_bars else None)
    except (ImportError, ValueError):  # ValueError: HF_DATASETS_DISABLE_PROGRESS_BARS=0 set by the user
        pass
    try:
        yield
    finally:
        for undo in restore:
            undo()
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
