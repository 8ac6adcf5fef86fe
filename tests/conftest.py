"""Shared fixtures: offline environment and a tokenizer built once per session."""

from __future__ import annotations

import os
from typing import Any

import pytest

# Tests never reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def qwen_hf_tokenizer() -> Any:
    """Holo1-3B's vocabulary as a transformers tokenizer, built offline once (a few seconds)."""
    from domprune.tokenizers import qwen_hf_tokenizer as build

    return build()


@pytest.fixture(scope="session")
def qwen() -> Any:
    """The default offline ``qwen2.5`` token counter."""
    import domprune

    return domprune.get_tokenizer("qwen2.5")
