"""Prompt fitting: give the DOM exactly the room that keeps the whole chat prompt within budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import BudgetTooSmallError, SettingsError
from .parse import Page
from .pipeline import DEFAULT_BUDGET, PreparedPage, PruneResult, prepare
from .safety import neutralize
from .settings import PruneSettings
from .tokenizers import TokenCounter, get_tokenizer

DEFAULT_SYSTEM = (
    "You answer questions about a web page from its DOM. Think briefly, then give the final short "
    "answer inside \\boxed{}."
)
DEFAULT_USER = "<dom>{dom}</dom>\nQuestion: {question}"


class PromptTemplate(BaseModel):
    """A system text and a user text with ``{dom}`` and ``{question}`` slots (filled literally).

    ``chat=False`` makes the prompt the user text alone, with no chat template around it: what a
    trainer sees when it is given a plain-string prompt (trl applies no chat template to those).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str | None = Field(DEFAULT_SYSTEM, description="System message; None for none.")
    user: str = Field(DEFAULT_USER, description="User message with {dom} and {question}.")
    chat: bool = Field(True, description="Render with the tokenizer's chat template (False: plain text).")

    @field_validator("user")
    @classmethod
    def _has_slots(cls, v: str) -> str:
        if v.count("{dom}") != 1:
            raise ValueError("the user template needs exactly one {dom} slot")
        return v

    @model_validator(mode="after")
    def _plain_has_no_system(self) -> PromptTemplate:
        if not self.chat and self.system is not None:
            raise ValueError("a plain-text prompt (chat=False) has no system message; set system to None")
        return self

    def render(
        self, counter: TokenCounter, dom: str, question: str, add_generation_prompt: bool = True
    ) -> str:
        """The prompt text the model reads: the chat-templated messages, or the plain user text."""
        messages = self.messages(dom, question)
        if not self.chat:
            return messages[-1]["content"]
        return counter.render_chat(messages, add_generation_prompt)

    def messages(self, dom: str, question: str) -> list[dict[str, Any]]:
        """The chat messages; the slots are filled literally (a question may contain "{dom}")."""
        head, _, tail = self.user.partition("{dom}")
        head = head.replace("{question}", question)
        tail = tail.replace("{question}", question)
        msgs: list[dict[str, Any]] = []
        if self.system is not None:
            msgs.append({"role": "system", "content": self.system})
        msgs.append({"role": "user", "content": head + dom + tail})
        return msgs


@dataclass
class FittedPrompt:
    """A chat prompt whose rendered text fits the budget, with the pruning behind it."""

    messages: list[dict[str, Any]]
    """The chat messages with the pruned DOM and the question filled in."""
    text: str
    """The prompt as the model reads it: the messages rendered with the chat template (or the plain
    user text with ``PromptTemplate(chat=False)``)."""
    tokens: int
    """Exact tokens of ``text``; at most the budget."""
    dom_budget: int
    """The tokens the DOM was fitted to: the budget less the template and question (and any joins)."""
    prune: PruneResult
    """The pruning of the page behind the prompt."""


def fit_prompt(
    page: Page | PreparedPage,
    *,
    question: str,
    budget: int = DEFAULT_BUDGET,
    tokenizer: str | TokenCounter | None = None,
    template: PromptTemplate | None = None,
    settings: PruneSettings | None = None,
    add_generation_prompt: bool = True,
) -> FittedPrompt:
    """Prune ``page`` so that the chat-templated prompt (system, instructions, DOM, question) fits.

    The overhead of the template is counted by rendering it with an empty DOM; the DOM gets the
    rest. The final prompt is counted exactly; if joins between the DOM and the template cost a
    token or two more, the DOM budget shrinks by that much and the page is fitted again (the page
    is prepared once: :func:`~domprune.prepare`). ``page`` may be a page already prepared for this
    question; its tokenizer and settings are then used.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SettingsError(f"budget must be a positive whole number of tokens, got {budget!r}")
    if not isinstance(question, str):
        raise SettingsError("question must be a string")
    template = template or PromptTemplate()
    question = neutralize(question)  # a question is untrusted text too
    if isinstance(page, PreparedPage):
        prepared = page
        _check_prepared(prepared, question, tokenizer, settings)
        counter = prepared.counter
    else:
        counter = get_tokenizer(tokenizer)
        prepared = prepare(page, question=question, tokenizer=counter, settings=settings)

    def render(dom: str) -> str:
        return template.render(counter, dom, question, add_generation_prompt)

    overhead = counter.count(render(""))
    dom_budget = budget - overhead
    if dom_budget <= 0 and overhead <= budget:
        # no room for a DOM: fine if the page has no content at all
        try:
            empty = prepared.fit(1)
        except BudgetTooSmallError:
            empty = None
        if empty is not None and not empty.output:
            return FittedPrompt(template.messages("", question), render(""), overhead, 0, empty)
    if dom_budget <= 0:
        smallest = _smallest_budget(prepared, overhead, render)
        raise BudgetTooSmallError(
            f"the prompt template and question take {overhead} tokens of the budget of {budget}, "
            f"leaving no room for the page; the smallest budget that works is {smallest}",
            smallest,
        )
    for _ in range(6):
        try:
            result = prepared.fit(dom_budget)
        except BudgetTooSmallError as exc:
            smallest = _smallest_budget(prepared, overhead, render)
            raise BudgetTooSmallError(
                f"a prompt budget of {budget} tokens leaves {dom_budget} for the page after the template "
                f"({overhead} tokens), too few for any part of it; the smallest prompt budget that "
                f"works is {smallest}",
                smallest,
            ) from exc
        text = render(result.output)
        tokens = counter.count(text)
        if tokens <= budget:
            return FittedPrompt(template.messages(result.output, question), text, tokens, dom_budget, result)
        dom_budget -= tokens - budget
        if dom_budget <= 0:
            break
    raise BudgetTooSmallError(
        f"could not fit the prompt in {budget} tokens (template {overhead} tokens); raise the budget",
        None,
    )


def _check_prepared(
    prepared: PreparedPage,
    question: str,
    tokenizer: str | TokenCounter | None,
    settings: PruneSettings | None,
) -> None:
    """A prepared page must have been prepared for this question, tokenizer and settings."""
    if neutralize(prepared.question or "") != question:
        raise SettingsError(
            "the page was prepared for another question; prepare it with question= the prompt's question"
        )
    if tokenizer is not None and get_tokenizer(tokenizer).name != prepared.counter.name:
        raise SettingsError("the page was prepared with another tokenizer; leave tokenizer= unset")
    if settings is not None and settings != prepared.settings:
        raise SettingsError("the page was prepared with other settings; leave settings= unset")


def _smallest_budget(prepared: PreparedPage, overhead: int, render: Any) -> int | None:
    """The smallest prompt budget that fits: the page's own smallest DOM plus the template, checked."""
    counter = prepared.counter
    try:
        prepared.fit(1)
        dom = 1
    except BudgetTooSmallError as exc:
        if exc.smallest_budget is None:
            return None
        dom = exc.smallest_budget
    for _ in range(8):  # joins between the DOM and the template may cost a token or two more
        try:
            result = prepared.fit(dom)
        except BudgetTooSmallError:
            dom += 1
            continue
        tokens = counter.count(render(result.output))
        if tokens <= overhead + dom:
            return tokens
        dom += tokens - overhead - dom
    return None
