r"""The bench's reader: a local causal LM that answers questions from each method's output.

:class:`Reader` loads a transformers folder by path (offline; torch and transformers are imported
only here, when a run asks for a reader), counts prompts with the model's own tokenizer and answers
them greedily in left-padded batches (a vision-language checkpoint such as Qwen2.5-VL is loaded
with its image-text-to-text class and reads text only). Every method gets the same prompt,
:data:`READER_TEMPLATE` (domvqa_train's default prompt as a plain string, no chat template), filled
with the method's output as the DOM; :func:`extract_answer` takes the answer out of a completion.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domprune.prompt import PromptTemplate
from domprune.safety import neutralize
from domprune.tokenizers import TokenCounter

from .loaders import BenchInputError

READER_TEMPLATE = PromptTemplate(system=None, chat=False)
"""The reader's prompt: ``<dom>{dom}</dom>\nQuestion: {question}`` as plain text."""
CONTEXT_CAP = 32768
"""The default reader context: the model's ``max_position_embeddings``, at most this."""
INSTALL = "pip install 'domprune[reader]' (torch and transformers)"

_BOX = re.compile(r"\\boxed\s*\{")


def reader_prompt(counter: TokenCounter, dom: str, question: str) -> str:
    """The reader's prompt for ``dom`` (a method's output, used as is) and ``question``, filled the way
    :func:`domprune.fit_prompt` fills a template (the question neutralised, the slots filled literally).

    >>> from domprune import get_tokenizer
    >>> reader_prompt(get_tokenizer("qwen2.5"), "<p>Price: $9</p>", "What does it cost?")
    '<dom><p>Price: $9</p></dom>\\nQuestion: What does it cost?'
    """
    return READER_TEMPLATE.render(counter, dom, neutralize(question))


def extract_answer(completion: str) -> str:
    r"""The content of the first balanced ``\boxed{...}``, else the first non-empty line (stripped).

    >>> extract_answer(r"The page says \boxed{\$129} and \boxed{other}")
    '\\$129'
    >>> extract_answer("\n  Walker 3 \nbecause the byline says so")
    'Walker 3'
    >>> extract_answer(r"\boxed{unclosed")
    '\\boxed{unclosed'
    """
    for match in _BOX.finditer(completion):
        depth, index = 1, match.end()
        while index < len(completion) and depth:
            depth += {"{": 1, "}": -1}.get(completion[index], 0)
            index += 1
        if not depth:
            return completion[match.end() : index - 1].strip()
    return next((line.strip() for line in completion.splitlines() if line.strip()), "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class Reader:
    """A loaded reader model, ready to answer prompts."""

    model: Any
    tokenizer: Any
    context: int
    """Tokens the reader may read: prompt plus ``max_new_tokens``."""
    max_new_tokens: int
    batch_size: int
    info: dict[str, Any] = field(default_factory=dict)
    """Path, model type, parameter count, dtype and device: what the report records."""
    calls: int = 0
    """Prompts answered so far."""
    seconds: float = 0.0
    """Time spent generating so far."""

    @classmethod
    def load(
        cls, path: Path, *, context: int | None = None, max_new_tokens: int = 24, batch_size: int = 4
    ) -> Reader:
        """Load the model and tokenizer in ``path``; a :class:`BenchInputError` says what to fix."""
        path = Path(path)
        if not path.is_dir():
            raise BenchInputError(
                f"--reader {path}: no such folder; give the folder of a transformers causal LM "
                "(config.json, weights, tokenizer), e.g. the merged/ folder of a domvqa-train run"
            )
        if not (path / "config.json").is_file() and (path / "adapter_config.json").is_file():
            raise BenchInputError(
                f"--reader {path} is a LoRA adapter; merge it into its base model first "
                "(domvqa-train with merge_adapter: true writes <output_dir>/merged) and give that folder"
            )
        try:
            import torch
            from transformers import (
                AutoConfig,
                AutoModelForCausalLM,
                AutoModelForImageTextToText,
                AutoTokenizer,
            )
        except ImportError as exc:
            raise BenchInputError(f"the reader needs torch and transformers ({exc}): {INSTALL}") from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            vision = getattr(config, "vision_config", None) is not None
            auto = AutoModelForImageTextToText if vision else AutoModelForCausalLM
            model = auto.from_pretrained(path, local_files_only=True, dtype="auto")
        except Exception as exc:
            raise BenchInputError(
                f"--reader {path}: cannot load it as a transformers causal LM: {_first_line(exc)}; the folder "
                "needs config.json, the weights and the tokenizer files (save_pretrained writes them)"
            ) from None
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        text_config = getattr(config, "text_config", None) or config
        positions = getattr(text_config, "max_position_embeddings", None) or CONTEXT_CAP
        info = {
            "path": str(path),
            "model_type": getattr(config, "model_type", "?"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "device": device,
            "max_position_embeddings": positions,
        }
        return cls(model, tokenizer, context or min(positions, CONTEXT_CAP), max_new_tokens, batch_size, info)

    def count(self, prompt: str) -> int:
        """Tokens of ``prompt`` as the reader reads it (with the tokenizer's own special tokens)."""
        return len(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def fits(self, prompt_tokens: int) -> bool:
        """Whether a prompt of this many tokens and the answer fit the reader's context."""
        return prompt_tokens + self.max_new_tokens <= self.context

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """Greedy completions of ``prompts``, in order; batches of similar length, padded on the left."""
        import torch

        start = time.perf_counter()
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: dict[int, str] = {}
        device = next(self.model.parameters()).device
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            inputs = self.tokenizer(
                [prompts[i] for i in batch], padding=True, return_tensors="pt", add_special_tokens=True
            ).to(device)
            with torch.no_grad():
                ids = self.model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            texts = self.tokenizer.batch_decode(
                ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
            )
            out.update(zip(batch, texts, strict=True))
        self.calls += len(prompts)
        self.seconds += time.perf_counter() - start
        return [out[i] for i in range(len(prompts))]
