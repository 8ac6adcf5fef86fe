"""Prompt fitting: give the DOM exactly the room that keeps the whole chat prompt within budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import BudgetTooSmallError, SettingsError
from .parse import Page
from .pipeline import DEFAULT_BUDGET, PruneResult, prune
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

    def render(self, counter: TokenCounter, dom: str, question: str, add_generation_prompt: bool = True) -> str:
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
    text: str
    tokens: int
    dom_budget: int
    prune: PruneResult


def fit_prompt(
    page: Page,
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
    token or two more, the DOM budget shrinks by that much and the page is pruned again.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise SettingsError(f"budget must be a positive whole number of tokens, got {budget!r}")
    if not isinstance(question, str):
        raise SettingsError("question must be a string")
    template = template or PromptTemplate()
    counter = get_tokenizer(tokenizer)
    question = neutralize(question)  # a question is untrusted text too

    def render(dom: str) -> str:
        return template.render(counter, dom, question, add_generation_prompt)

    overhead = counter.count(render(""))
    dom_budget = budget - overhead
    if dom_budget <= 0 and overhead <= budget:
        # no room for a DOM: fine if the page has no content at all
        try:
            empty = prune(page, budget=1, question=question, tokenizer=counter, settings=settings)
        except BudgetTooSmallError:
            empty = None
        if empty is not None and not empty.output:
            return FittedPrompt(template.messages("", question), render(""), overhead, 0, empty)
    if dom_budget <= 0:
        smallest = _smallest_budget(page, question, counter, template, settings, overhead, render)
        raise BudgetTooSmallError(
            f"the prompt template and question take {overhead} tokens of the budget of {budget}, "
            f"leaving no room for the page; the smallest budget that works is {smallest}",
            smallest,
        )
    for _ in range(6):
        try:
            result = prune(page, budget=dom_budget, question=question, tokenizer=counter, settings=settings)
        except BudgetTooSmallError as exc:
            smallest = _smallest_budget(page, question, counter, template, settings, overhead, render)
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


def _smallest_budget(
    page: Page,
    question: str,
    counter: TokenCounter,
    template: PromptTemplate,
    settings: PruneSettings | None,
    overhead: int,
    render: Any,
) -> int | None:
    """The smallest prompt budget that fits: the page's own smallest DOM plus the template, checked."""
    try:
        prune(page, budget=1, question=question, tokenizer=counter, settings=settings)
        dom = 1
    except BudgetTooSmallError as exc:
        if exc.smallest_budget is None:
            return None
        dom = exc.smallest_budget
    for _ in range(8):  # joins between the DOM and the template may cost a token or two more
        try:
            result = prune(page, budget=dom, question=question, tokenizer=counter, settings=settings)
        except BudgetTooSmallError:
            dom += 1
            continue
        tokens = counter.count(render(result.output))
        if tokens <= overhead + dom:
            return tokens
        dom += tokens - overhead - dom
    return None
