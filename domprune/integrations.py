"""Prune many pages inside the engines researchers already run: Hugging Face ``datasets`` and Ray Data.

:class:`PruneBatch` is one callable over a batch of rows (a mapping of column name to values) that
adds the pruned page, its exact tokens and its Mind2Web backend ids as columns. The same object works
as a ``datasets.Dataset.map(..., batched=True, num_proc=N)`` function and, as a class, as a Ray Data
``map_batches`` callable (the actor builds it once in ``__init__``)::

    ds = ds.map(PruneBatch(budget=4000), batched=True, num_proc=8)

    ds = ray.data.read_parquet(...).map_batches(
        PruneBatch, fn_constructor_kwargs={"budget": 4000}, concurrency=16, batch_format="numpy"
    )

With a ``template`` it calls :func:`domprune.fit_prompt` instead of :func:`domprune.prune`, and the
columns hold the whole prompt. The object holds the tokenizer's name only; each process resolves it
once (``get_tokenizer`` caches it), so nothing heavy is pickled to the workers. A row that cannot be pruned gets its reason in the error column and empty
outputs; it never fails the batch. Outputs equal ``prune``/``fit_prompt`` on the same row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import DomPruneError, SettingsError
from .pipeline import check_budget, prune
from .prompt import PromptTemplate, fit_prompt
from .settings import PruneSettings
from .tokenizers import get_tokenizer


class PruneBatch:
    """Prune the ``html_column`` of each row of a batch to ``budget`` tokens (or fit a whole prompt).

    Added columns (names prefixed with ``prefix``): ``output`` (the pruned page, or the prompt text
    with a template), ``tokens`` (exact tokens of that text), ``backend_ids`` (JSON list of the Mind2Web
    ids still present), ``error`` (``""`` when the row was pruned, else the reason). With a template,
    ``messages`` holds the chat messages as JSON.
    """

    def __init__(
        self,
        budget: int,
        *,
        html_column: str = "html",
        question_column: str | None = "question",
        tokenizer: str = "qwen2.5",
        settings: PruneSettings | None = None,
        template: PromptTemplate | None = None,
        prefix: str = "pruned_",
    ) -> None:
        check_budget(budget)
        if not isinstance(tokenizer, str):
            raise SettingsError("give the tokenizer by name (it is built once in each worker process)")
        self.budget = budget
        self.html_column = html_column
        self.question_column = question_column
        self.tokenizer = tokenizer
        self.settings = settings or PruneSettings()
        self.template = template
        self.prefix = prefix
        get_tokenizer(tokenizer)  # fail here, in the caller, when the name is wrong

    def __call__(self, batch: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """The batch with the pruned columns added (the input columns are returned unchanged)."""
        if self.html_column not in batch:
            raise SettingsError(
                f"the batch has no {self.html_column!r} column (columns: {', '.join(batch)}); "
                "pass html_column=... to PruneBatch"
            )
        pages = list(batch[self.html_column])
        questions = (
            list(batch[self.question_column])
            if self.question_column is not None and self.question_column in batch
            else [None] * len(pages)
        )
        columns: dict[str, list[Any]] = {"output": [], "tokens": [], "backend_ids": [], "error": []}
        if self.template is not None:
            columns["messages"] = []
        for page, question in zip(pages, questions, strict=True):
            for name, value in self._one(page, _text(question)).items():
                columns[name].append(value)
        out = {name: list(values) for name, values in batch.items()}
        out.update({self.prefix + name: values for name, values in columns.items()})
        return out

    def _one(self, page: Any, question: str | None) -> dict[str, Any]:
        counter = get_tokenizer(self.tokenizer)
        try:
            if not isinstance(page, (str, bytes)) or not page:
                raise SettingsError(
                    f"the {self.html_column!r} value is not a page (a non-empty str or bytes)"
                )
            if self.template is None:
                result = prune(
                    page, budget=self.budget, question=question, tokenizer=counter, settings=self.settings
                )
                return {
                    "output": result.output,
                    "tokens": result.tokens_after,
                    "backend_ids": json.dumps(result.backend_ids),
                    "error": "",
                }
            fitted = fit_prompt(
                page,
                question=question or "",
                budget=self.budget,
                tokenizer=counter,
                template=self.template,
                settings=self.settings,
            )
            return {
                "output": fitted.text,
                "tokens": fitted.tokens,
                "backend_ids": json.dumps(fitted.prune.backend_ids),
                "error": "",
                "messages": json.dumps(fitted.messages, ensure_ascii=False),
            }
        except DomPruneError as exc:
            failed = {"output": "", "tokens": 0, "backend_ids": "[]", "error": f"{type(exc).__name__}: {exc}"}
            if self.template is not None:
                failed["messages"] = "[]"
            return failed


def _text(value: Any) -> str | None:
    """A question from a column value (Ray hands numpy strings; a missing value is None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):  # pandas/Ray: NaN for missing
        return None
    text = str(value)
    return text if text.strip() else None
