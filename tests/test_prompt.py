"""Prompt fitting: the whole chat prompt within budget, counted exactly, question included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import domprune
from domprune import (
    BudgetTooSmallError,
    PromptTemplate,
    SettingsError,
    TokenizerError,
    count_tokens,
    fit_prompt,
)

PAGE = (
    "<html><head><title>Boots</title></head><body><h1>Trail Runner 3</h1><p>Price: $129.95</p>"
    + "".join(f"<p>Review {i}: comfortable boots, would buy again, sizes run small.</p>" for i in range(120))
    + "<table><tr><th>Weight</th><td>1.2 lb</td></tr></table></body></html>"
)
QUESTION = "How much does the Trail Runner 3 weigh?"


@pytest.mark.parametrize("budget", [120, 300, 1000, 5000])
def test_prompt_fits_and_is_counted_exactly(budget: int) -> None:
    fp = fit_prompt(PAGE, question=QUESTION, budget=budget)
    assert fp.tokens == count_tokens(fp.text) <= budget
    assert QUESTION in fp.text
    assert fp.text.endswith("<|im_start|>assistant\n")
    assert fp.text == domprune.get_tokenizer().render_chat(fp.messages)
    assert fp.prune.output in fp.text
    assert fp.prune.tokens_after <= fp.dom_budget < budget


def test_prompt_uses_the_room_and_keeps_the_answer() -> None:
    fp = fit_prompt(PAGE, question=QUESTION, budget=300)
    assert fp.tokens >= 0.8 * 300
    assert "1.2 lb" in fp.text


def test_messages_shape() -> None:
    fp = fit_prompt(PAGE, question=QUESTION, budget=300)
    assert [m["role"] for m in fp.messages] == ["system", "user"]
    assert "{dom}" not in fp.messages[1]["content"] and "{question}" not in fp.messages[1]["content"]
    assert fp.messages[1]["content"].startswith("<dom>")


def test_custom_template_without_system() -> None:
    t = PromptTemplate(system=None, user="Page:\n{dom}\n\nAnswer this: {question}")
    fp = fit_prompt(PAGE, question=QUESTION, budget=200, template=t)
    assert [m["role"] for m in fp.messages] == ["user"]
    assert "You are a helpful assistant." in fp.text  # the chat template's default system
    assert f"Answer this: {QUESTION}" in fp.text
    assert fp.tokens == count_tokens(fp.text) <= 200


def test_without_generation_prompt() -> None:
    fp = fit_prompt(PAGE, question=QUESTION, budget=200, add_generation_prompt=False)
    assert not fp.text.endswith("<|im_start|>assistant\n")
    assert fp.tokens == count_tokens(fp.text) <= 200


def test_question_with_slot_text_is_literal() -> None:
    t = PromptTemplate(system=None, user="Q: {question}\n{dom}")
    question = "what is {dom} or {question} here?"
    fp = fit_prompt("<p>Price: $129</p>", question=question, budget=120, template=t)
    assert f"Q: {question}\n<p>Price: $129</p>" in fp.text


def test_page_text_with_slot_and_special_tokens() -> None:
    page = "<p>Literal {question} and {dom} and <|im_end|> in the page.</p>"
    fp = fit_prompt(page, question="What is literal?", budget=200)
    assert "Literal {question} and {dom}" in fp.text
    assert fp.tokens == count_tokens(fp.text) <= 200


@pytest.mark.parametrize("user", ["no slot at all", "{dom} twice {dom}", "{question} only"])
def test_template_validation(user: str) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        PromptTemplate(user=user)


def test_template_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        PromptTemplate(user="{dom}", assistant="x")  # type: ignore[call-arg]


def test_budget_smaller_than_template() -> None:
    with pytest.raises(BudgetTooSmallError) as info:
        fit_prompt(PAGE, question=QUESTION, budget=10)
    assert info.value.smallest_budget is not None and info.value.smallest_budget > 10
    assert "template" in str(info.value)


def test_budget_below_template_names_a_budget_that_works() -> None:
    page = "<html><body><h1>Boots</h1><p>Price: $129</p></body></html>"
    for budget in (10, 40):
        with pytest.raises(BudgetTooSmallError) as info:
            fit_prompt(page, question="What is the price?", budget=budget)
        smallest = info.value.smallest_budget
        assert smallest is not None
        fp = fit_prompt(page, question="What is the price?", budget=smallest)
        assert fp.tokens <= smallest


@pytest.mark.parametrize("budget", [0, -1, True, 2.5])
def test_bad_budget(budget: Any) -> None:
    with pytest.raises(SettingsError):
        fit_prompt(PAGE, question=QUESTION, budget=budget)


def test_question_must_be_text() -> None:
    with pytest.raises(SettingsError, match="question"):
        fit_prompt(PAGE, question=None, budget=300)  # type: ignore[arg-type]


def test_tokenizer_without_chat_template() -> None:
    with pytest.raises(TokenizerError, match="chat template"):
        fit_prompt(PAGE, question=QUESTION, budget=300, tokenizer="tiktoken:cl100k_base")


def test_with_a_local_hf_tokenizer(qwen_hf_tokenizer: Any, tmp_path: Path) -> None:
    qwen_hf_tokenizer.save_pretrained(tmp_path)
    fp = fit_prompt(PAGE, question=QUESTION, budget=250, tokenizer=f"hf:{tmp_path}")
    assert fp.tokens == len(qwen_hf_tokenizer(fp.text, add_special_tokens=False)["input_ids"]) <= 250
    assert fp.text == qwen_hf_tokenizer.apply_chat_template(
        fp.messages, tokenize=False, add_generation_prompt=True
    )
    offline = fit_prompt(PAGE, question=QUESTION, budget=250)
    assert offline.text == fp.text


def test_empty_page_fits_in_the_template_budget() -> None:
    page = "<html><body></body></html>"
    with pytest.raises(BudgetTooSmallError) as info:
        fit_prompt(page, question="What is the price?", budget=1)
    smallest = info.value.smallest_budget
    assert smallest is not None
    fp = fit_prompt(page, question="What is the price?", budget=smallest)
    assert fp.tokens <= smallest
