r"""Named prompt templates and run presets, including the original project's.

Templates (the ``template`` setting, by name or as ``{system, user, chat}``):

- ``default``: domprune's chat prompt: a system text that asks for ``\boxed{}``, then
  ``<dom>...</dom>`` and ``Question:``, rendered with the model's chat template;
- ``original``: the original trainer's prompt, exactly: its ``prepare_dataset.py`` user turn given
  to trl as a plain string (so trl applied no chat template and there was no system message).

Presets (``--preset NAME`` or ``preset: NAME`` in a settings file) are a base layer of settings under
the file, the flags and ``--set``: ``original`` is the original trainer's effective configuration.
"""

from __future__ import annotations

from typing import Any

from domprune import PromptTemplate
from domprune.conversation import ORIGINAL_INSTRUCTION, ORIGINAL_USER_TEMPLATE

TEMPLATES: dict[str, PromptTemplate] = {
    "default": PromptTemplate(),
    "original": PromptTemplate(system=None, user=ORIGINAL_USER_TEMPLATE, chat=False),
}
"""Prompt templates by name."""

SCREENSHOT_PROMPTS: dict[str, str] = {
    "default": "Question: {question}",
    "original": (
        "Given the following screenshot of a page, answer the question that is asked.\n"
        "            Question: {question}\n"
        f"            {ORIGINAL_INSTRUCTION}\n"
        "            Answer:"
    ),
}
"""The user text that goes with a screenshot when a model answers from the screenshot only
(``eval --inputs screenshot``), by template name; other templates use ``default``'s."""

PRESETS: dict[str, dict[str, Any]] = {
    "original": {
        "template": "original",
        "rewards": {"original": 1.0},
        "lora": {"rank": 32, "alpha": 64, "target_modules": ["q_proj", "k_proj", "v_proj"]},
        "learning_rate": 5e-5,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "adam_beta2": 0.99,
        "per_device_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "num_generations": 4,
        "max_completion_length": 64,
        "max_steps": 1000,
        "save_steps": 200,
        "merge_adapter": True,
        "prompt_budget": 4096,
    },
}
"""Run presets by name: settings as a YAML file would give them."""


def template_by_name(name: str) -> PromptTemplate:
    """The named template; a ``ValueError`` lists the names when ``name`` is unknown."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown template {name!r}; known templates: {', '.join(TEMPLATES)}") from None


def template_name(template: PromptTemplate) -> str | None:
    """The name of ``template`` when it is one of :data:`TEMPLATES`."""
    return next((name for name, known in TEMPLATES.items() if known == template), None)


def screenshot_prompt(template: PromptTemplate) -> str:
    """The screenshot-only user text that matches ``template`` (``{question}`` slot)."""
    return SCREENSHOT_PROMPTS.get(template_name(template) or "default", SCREENSHOT_PROMPTS["default"])


def screenshot_messages(template: PromptTemplate, question: str) -> list[dict[str, Any]]:
    """The chat prompt of a screenshot-only answer: ``template``'s system text, then the screenshot-only
    user text with ``question`` (the image is added to the user turn by whoever sends it).

    >>> screenshot_messages(TEMPLATES["default"], "Who?")[-1]
    {'role': 'user', 'content': 'Question: Who?'}
    """
    system = [{"role": "system", "content": template.system}] if template.system else []
    return [*system, {"role": "user", "content": screenshot_prompt(template).replace("{question}", question)}]
