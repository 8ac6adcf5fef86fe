"""Upload a trained adapter or merged model to the Hugging Face Hub, with a model card.

:func:`check_hub_access` runs before training (so an offline machine or a bad token fails in a second,
not after hours of training); :func:`write_model_card` writes the card into the folder that will be
uploaded; :func:`push_folder` creates the repository if needed and uploads the folder with
``huggingface_hub``. The token is the usual one: ``HF_TOKEN``, else the one ``huggingface-cli login``
saved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DomVQAError
from .settings import TrainSettings

CARD_FILE = "README.md"


class HubError(DomVQAError, RuntimeError):
    """The Hub cannot be reached, or the token cannot write there."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_hub_access(repo_id: str) -> str:
    """Raise :class:`HubError` unless a token is set and the Hub answers for it; returns the user name."""
    if _offline():
        raise HubError(
            f"push_to_hub={repo_id!r} needs the Hugging Face Hub, but HF_HUB_OFFLINE is set; unset it, or drop "
            "--push-to-hub and upload the saved folder later with `huggingface-cli upload`"
        )
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise HubError(
            f"push_to_hub={repo_id!r} needs a Hugging Face token with write access: set HF_TOKEN (or run "
            "`huggingface-cli login`) before training"
        )
    try:
        who = HfApi().whoami(token=token)
    except Exception as exc:  # connection errors, 401, timeouts: all mean "cannot upload"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubError(
            f"cannot reach the Hugging Face Hub with the token in HF_TOKEN ({type(exc).__name__}: {first}); "
            "check the network and the token, or drop --push-to-hub and upload the saved folder later"
        ) from None
    return str(who.get("name", ""))


def write_model_card(
    folder: str | Path, settings: TrainSettings, *, merged: bool, steps: int, vision_language: bool = True
) -> Path:
    """Write ``README.md`` (Hub metadata and how the model was trained) into ``folder``; returns its path."""
    out = Path(folder)
    base = settings.model
    kind = "merged model" if merged else "LoRA adapter"
    auto = "AutoModelForImageTextToText" if vision_language else "AutoModelForCausalLM"
    metadata = {
        "base_model": base,
        "library_name": "transformers" if merged else "peft",
        "tags": ["domvqa", "grpo", "trl", "lora", "web", "dom"],
        "pipeline_tag": "image-text-to-text" if vision_language else "text-generation",
    }
    front = "\n".join(f"{key}: {json.dumps(value)}" for key, value in metadata.items())
    rewards = ", ".join(f"{name} x {weight:g}" for name, weight in settings.rewards.items())
    template = "plain string (no chat template)" if not settings.template.chat else "chat template"
    load = (
        f'model = {auto}.from_pretrained("{settings.push_to_hub or out.name}")'
        if merged
        else f'base = {auto}.from_pretrained("{base}")\n'
        f'model = PeftModel.from_pretrained(base, "{settings.push_to_hub or out.name}")'
    )
    body = f"""---
{front}
---

# {settings.push_to_hub or out.name}

A {kind} of `{base}` trained with GRPO (trl) on questions about web pages, each page pruned by
domprune so that the whole prompt fits {settings.prompt_budget} tokens.

| setting | value |
|---|---|
| steps | {steps} |
| LoRA | rank {settings.lora.rank}, alpha {settings.lora.alpha:g}, on {", ".join(settings.lora.target_modules)} |
| learning rate | {settings.learning_rate:g} ({settings.lr_scheduler_type}, warm-up {settings.warmup_ratio:g}) |
| batch | {settings.per_device_batch_size} x accumulation {settings.gradient_accumulation_steps}, {settings.num_generations} generations |
| completion tokens | {settings.max_completion_length} |
| rewards | {rewards} |
| prompt | {template}, budget {settings.prompt_budget} tokens |
| preset | {settings.preset or "none"} |

```python
from transformers import {auto}
{"from peft import PeftModel" if not merged else ""}
{load}
```
"""
    path = out / CARD_FILE
    path.write_text(body, encoding="utf-8")
    return path


def push_folder(folder: str | Path, repo_id: str, *, private: bool = True) -> str:
    """Create ``repo_id`` (if needed) and upload ``folder`` to it; returns the repository URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="domvqa-train upload")
    except Exception as exc:
        raise HubError(
            f"uploading {str(folder)!r} to {repo_id!r} failed ({type(exc).__name__}: {exc}); the folder is kept, "
            "upload it with `huggingface-cli upload`"
        ) from None
    return str(url)


def upload_after_training(
    settings: TrainSettings, adapter_dir: str, merged_dir: str | None, *, steps: int, vision_language: bool
) -> str | None:
    """Write the card into the saved folders and push the merged model (if any, else the adapter) when
    ``settings.push_to_hub`` names a repository; returns its URL."""
    write_model_card(adapter_dir, settings, merged=False, steps=steps, vision_language=vision_language)
    if merged_dir is not None:
        write_model_card(merged_dir, settings, merged=True, steps=steps, vision_language=vision_language)
    folder = merged_dir or adapter_dir
    if settings.push_to_hub is None:
        return None
    return push_folder(folder, settings.push_to_hub, private=settings.hub_private)
