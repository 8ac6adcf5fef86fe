"""A prepared page fits many budgets with the same results as one prune/chunk call each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sample_pages import PAGES, QUESTIONS
from test_properties import PROPERTY_SETTINGS, page_st, question_st

import domprune
from domprune import BudgetSettings, BudgetTooSmallError, PromptTemplate, PruneSettings, SettingsError


def _outcome(call):  # type: ignore[no-untyped-def]
    try:
        r = call()
    except BudgetTooSmallError as exc:
        return ("too small", exc.smallest_budget)
    if isinstance(r, list):
        return [(c.output, c.tokens, c.path, c.headings, c.score) for c in r]
    return (r.output, r.tokens_after, r.backend_ids, [(s.name, s.removed) for s in r.steps])


@PROPERTY_SETTINGS
@given(
    page=page_st,
    question=question_st,
    budgets=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=5),
    fmt=st.sampled_from(["html", "text"]),
)
def test_fit_in_any_order_equals_prune(page: str, question: str | None, budgets: list[int], fmt: str) -> None:
    settings = PruneSettings(format=fmt)
    try:
        prepared = domprune.prepare(page, question=question, settings=settings)
    except domprune.InputError:
        return
    for b in budgets:
        fresh = _outcome(lambda b=b: domprune.prune(page, budget=b, question=question, settings=settings))
        assert _outcome(lambda b=b: prepared.fit(b)) == fresh
        assert _outcome(lambda b=b: prepared.chunks(b)) == _outcome(
            lambda b=b: domprune.chunk(page, budget=b, question=question, settings=settings)
        )


@pytest.mark.parametrize("name", sorted(PAGES))
def test_sample_pages_fit_like_prune(name: str) -> None:
    page = PAGES[name]()
    question = QUESTIONS[name][0][0]
    prepared = domprune.prepare(page, question=question)
    for b in (8000, 300, 1000, 60, 2000):  # not in order: nothing depends on earlier fits
        assert _outcome(lambda b=b: prepared.fit(b)) == _outcome(
            lambda b=b: domprune.prune(page, budget=b, question=question)
        )
    r = prepared.fit(300)
    assert r.tokens_before == domprune.count_tokens(page)
    # the cost of this result from scratch, shared parts included, though an earlier fit built them
    assert {"parse", "filter_attributes", "fit", "total"} <= set(r.timings)
    assert "units" in r.timings or "whole" in r.timings  # fitted by units, or the whole page fits
    assert set(r.timings) <= {
        "parse",
        "filter_attributes",
        "units",
        "ranking",
        "serialize",
        "whole",
        "measure",
        "fit",
        "total",
    }
    parts = sum(v for k, v in r.timings.items() if k != "total")
    assert r.timings["total"] == pytest.approx(parts)
    assert r.steps[-1].seconds == pytest.approx(parts - r.timings["parse"] - r.timings["filter_attributes"])
    small = domprune.prune("<p>Hello world, a small page.</p>", budget=1000)  # whole page, by estimate alone
    assert {"serialize", "whole"} <= set(small.timings)  # writing it out is reported, not lost from the total


def test_fit_prompt_takes_a_prepared_page() -> None:
    page = PAGES["blender_shop"]()
    q = "Who makes the blender?"
    template = PromptTemplate()
    direct = domprune.fit_prompt(page, question=q, budget=900, template=template)
    prepared = domprune.prepare(page, question=q)
    again = domprune.fit_prompt(prepared, question=q, budget=900, template=template)
    assert (again.text, again.tokens, again.dom_budget) == (direct.text, direct.tokens, direct.dom_budget)
    with pytest.raises(SettingsError, match="another question"):
        domprune.fit_prompt(prepared, question="When did it come out?", budget=900)
    with pytest.raises(SettingsError, match="other settings"):
        domprune.fit_prompt(prepared, question=q, budget=900, settings=PruneSettings(format="text"))


def test_chunk_honours_budget_settings() -> None:
    page = PAGES["news_article"]()
    q = "Who wrote this article?"
    default = domprune.chunk(page, budget=400, question=q)
    flat = domprune.chunk(
        page, budget=400, question=q, settings=PruneSettings(budget=BudgetSettings(boilerplate_last=False))
    )
    assert [c.output for c in flat] == [c.output for c in default]  # the same pieces ...
    assert [c.score for c in flat] != [c.score for c in default]  # ... ranked by the settings given


def test_bad_budget_is_refused_by_fit() -> None:
    prepared = domprune.prepare("<p>hello</p>")
    with pytest.raises(SettingsError, match="positive whole number"):
        prepared.fit(0)
    with pytest.raises(SettingsError, match="positive whole number"):
        prepared.chunks(-3)


@PROPERTY_SETTINGS
@given(
    page=page_st,
    questions=st.lists(question_st, min_size=1, max_size=4),
    budget=st.integers(min_value=1, max_value=400),
    fold=st.booleans(),
)
def test_one_page_for_many_questions_equals_prune(
    page: str, questions: list[str | None], budget: int, fold: bool
) -> None:
    settings = PruneSettings(filtering=domprune.FilterSettings(fold_repeated=fold, fold_min_run=2))
    try:
        base = domprune.prepare(page, settings=settings)
    except domprune.InputError:
        return
    for q in questions:  # each question from the page prepared once, fitted in turn
        fresh = _outcome(lambda q=q: domprune.prune(page, budget=budget, question=q, settings=settings))
        assert _outcome(lambda q=q: base.for_question(q).fit(budget)) == fresh


def test_questions_share_the_page_and_rank_it_each_their_own() -> None:
    page = PAGES["blender_shop"]()
    (q1, _), (q2, _) = QUESTIONS["blender_shop"][:2]
    base = domprune.prepare(page)
    one, two = base.for_question(q1), base.for_question(q2)
    one.fit(300)
    assert two.units is one.units is base.units  # built once, by whichever copy asked first
    assert two.ranking is not one.ranking and two.query != one.query
    # the ranking's question-free parts (flags, blocks...) were built once, for both questions
    assert {"flags", "blocks", "pairs", "structure", "header", "joined"} <= base.units.page_parts.keys()
    # each question ranks its own copy of the page's structure priority
    assert two.ranking.prio is not one.ranking.prio is not base.units.page_parts["structure"]
    assert two.ranking.base is one.ranking.base is base.units.page_parts["structure"]
    result = two.fit(300)  # its result still says what it costs from scratch
    assert result.timings["units"] > 0 and result.timings["parse"] > 0
    # and its total is the sum of every part, the shared ones built by the other copy included
    assert result.timings["total"] == pytest.approx(sum(v for k, v in result.timings.items() if k != "total"))
    assert result.tokens_before == one.fit(300).tokens_before
    assert base.for_question(None) is base


def test_fold_repeated_on_an_lxml_tree_needs_preparing_per_question() -> None:
    import lxml.html

    settings = PruneSettings(filtering=domprune.FilterSettings(fold_repeated=True))
    base = domprune.prepare(lxml.html.fromstring(PAGES["blender_shop"]()), settings=settings)
    with pytest.raises(SettingsError, match="prepare the lxml tree again"):
        base.for_question("What does it weigh?")
