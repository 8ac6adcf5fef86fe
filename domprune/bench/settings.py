"""Settings of one bench run (one pydantic model; the CLI fills it from its arguments)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domprune.settings import OutputFormat

from .baselines import ALL_METHODS

DEFAULT_BUDGETS = (16000, 8000, 4000, 2000, 1000, 500)


class BenchSettings(BaseModel):
    """What to measure, on which pages, and where to write the results."""

    model_config = ConfigDict(extra="forbid")

    corpus: Path | None = Field(None, description="Folder of the labelled corpora, or one corpus folder.")
    inputs: list[str] = Field(
        default_factory=list, description="HTML folders, JSONL/JSON files, dataset folders, hf:NAME."
    )
    hf_split: str = Field("train", description="Split of a Hugging Face dataset input.")
    out: Path = Field(
        Path("bench-out"),
        description="Folder for results.json, records.jsonl, skipped.jsonl, report.txt and the plots.",
    )
    budgets: list[int] = Field(
        default_factory=lambda: list(DEFAULT_BUDGETS),
        description="Token budgets to fit every page to (positive; kept largest first, without repeats).",
    )
    tokenizer: str = Field(
        "qwen2.5", description="Tokenizer that counts every budget: qwen2.5, hf:NAME, tiktoken:ENCODING."
    )
    sample: int | None = Field(12, ge=1, description="Pages drawn per corpus/source (None: all).")
    seed: int = Field(
        0, description="Seed of the page sample and of each page's synthetic and paraphrased questions."
    )
    format: OutputFormat = Field(
        "html", description="How domprune's methods write their output (the baselines keep their own)."
    )
    vocabulary: Literal["full", "leave-one-out", "sources"] = Field(
        "full",
        description="Label words domprune's field vocabulary may use: 'full' (as shipped), 'leave-one-out' "
        "(for each corpus, the published synonyms table and the labels of the other corpora's pages: "
        "nothing derived from the corpus under test), 'sources' (the synonyms table alone).",
    )
    methods: list[str] = Field(
        default_factory=lambda: list(ALL_METHODS),
        description="Methods to run, from domprune, domprune_noq (without the question), domprune_dense, "
        "truncate, strip_truncate, trafilatura, htmlrag.",
    )
    require_methods: bool = Field(
        False,
        description="Stop with an error when a method named cannot be built (a baseline's package "
        "is missing or broken) instead of leaving it out with a note.",
    )
    htmlrag_sample: int | None = Field(
        2,
        ge=0,
        description="HtmlRAG runs on this many of the drawn pages per corpus (it is slow; None: all).",
    )
    dense_sample: int | None = Field(
        12,
        ge=0,
        description="domprune_dense (a MiniLM call per page and question) runs on this many of the "
        "drawn pages per corpus (None: all).",
    )
    synthetic_per_page: int = Field(2, ge=0, description="Synthetic questions drawn per page.")
    paraphrased_per_page: int = Field(
        2, ge=0, description="Paraphrased questions (a label's value asked without its words) per page."
    )
    chunk_budget: int = Field(
        2000, ge=0, description="Budget of each chunk for the chunking measure (0: off)."
    )
    memory_sample: int = Field(6, ge=0, description="Pages whose peak memory is measured (a process each).")
    ablation: bool = Field(
        True,
        description="Also run domprune with budget fitting off (filtering only; filtering + attributes).",
    )
    call_timeout_s: float = Field(
        60.0, gt=0, description="A call running longer is stopped and counted as failed."
    )
    progress: bool = Field(True, description="Show a progress bar on standard error.")
    reader: Path | None = Field(
        None,
        description="Folder of a transformers causal LM (loaded by path, offline) that answers the sampled "
        "questions from each method's output at each budget, and from the whole page where it fits; "
        "None: no reader. Use a model that has learnt the task (e.g. one trained by domvqa-train).",
    )
    reader_sample: int = Field(
        40,
        ge=1,
        description="Questions the reader answers: a seeded sample, stratified by corpus and question "
        "kind, the same for every method and budget.",
    )
    reader_max_new_tokens: int = Field(
        24, ge=1, description="Tokens the reader may write per answer (greedy)."
    )
    reader_context: int | None = Field(
        None,
        ge=1,
        description="Tokens the reader may read, prompt and answer together; a longer prompt is not asked "
        "(None: the model's max_position_embeddings, at most 32768).",
    )
    reader_batch_size: int = Field(4, ge=1, description="Prompts the reader answers at once (left-padded).")

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, v: list[int]) -> list[int]:
        if not v or any(b <= 0 for b in v):
            raise ValueError("budgets must be positive token counts, e.g. 16000,8000,4000")
        return sorted(set(v), reverse=True)

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        unknown = [m for m in v if m not in ALL_METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}: choose from {', '.join(ALL_METHODS)}")
        return v

    @model_validator(mode="after")
    def _some_input(self) -> BenchSettings:
        if self.corpus is None and not self.inputs:
            raise ValueError("nothing to measure: give --corpus PATH and/or --input PATH")
        return self
