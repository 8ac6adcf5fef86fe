"""Budget fitting: the exact guarantee, relevance at small budgets, boilerplate last, errors."""

from __future__ import annotations

import json

import pytest

import domprune
from domprune import BudgetSettings, BudgetTooSmallError, PruneSettings, SettingsError, count_tokens

FILLER = "".join(
    f"<p>Paragraph {i} talks about the weather and general news of the day, nothing else.</p>"
    for i in range(150)
)
ROWS = "".join(f"<tr><td>Model {i}</td><td>{100 + i} g</td><td>${20 + i}.00</td></tr>" for i in range(60))
CATALOGUE = f"""<html><head><title>Specs</title></head><body>
<nav class="menu"><a href="/">Home</a><a href="/shop">Shop</a><a href="/about">About us</a></nav>
<main><h1>Catalogue</h1>{FILLER}
<h2>Weights</h2><table><tr><th>Model</th><th>Weight</th><th>Price</th></tr>{ROWS}
<tr><td>Zephyr Ultralight</td><td>412 g</td><td>$199.00</td></tr></table>{FILLER}</main>
<footer class="footer">Copyright 2024 Example Corp. All rights reserved. Privacy. Terms.</footer>
</body></html>"""
TEXT = PruneSettings(format="text")


@pytest.mark.parametrize("settings", [None, TEXT], ids=["html", "text"])
@pytest.mark.parametrize("budget", [10, 25, 64, 100, 257, 1000, 3000])
def test_exact_guarantee(budget: int, settings: PruneSettings | None) -> None:
    for question in (None, "How much does the Zephyr Ultralight weigh?"):
        r = domprune.prune(CATALOGUE, budget=budget, question=question, settings=settings)
        assert r.tokens_after == count_tokens(r.output) <= budget
        assert r.budget == budget and r.fits
        assert r.output


def test_budget_is_used_well() -> None:
    # the greedy fill plus refill rounds should not leave most of the budget unused
    for budget in (200, 1000, 3000):
        r = domprune.prune(CATALOGUE, budget=budget)
        assert r.tokens_after >= 0.8 * budget


def test_page_that_fits_is_kept_whole() -> None:
    page = "<html><body><h1>Boots</h1><p>Price: $129</p><ul><li>Light</li><li>Dry</li></ul></body></html>"
    r = domprune.prune(page, budget=1000)
    assert r.output == "<h1>Boots</h1><p>Price: $129</p><ul><li>Light</li><li>Dry</li></ul>"
    assert r.tokens_before == count_tokens(page)
    assert r.steps[-1].removed["units_dropped"] == 0


@pytest.mark.parametrize("budget", [60, 80, 120])
def test_question_keeps_a_deep_table_row_with_its_value(budget: int) -> None:
    q = "How much does the Zephyr Ultralight weigh?"
    r = domprune.prune(CATALOGUE, budget=budget, question=q)
    assert r.tokens_after <= budget
    assert "Zephyr Ultralight" in r.output
    assert "412 g" in r.output
    assert "Zephyr" not in domprune.prune(CATALOGUE, budget=budget).output


def test_question_keeps_the_column_header() -> None:
    r = domprune.prune(CATALOGUE, budget=120, question="How much does the Zephyr Ultralight weigh?")
    assert "<th>Weight</th>" in r.output
    assert "412 g" in r.output


def test_question_by_value_keeps_the_row_label() -> None:
    r = domprune.prune(CATALOGUE, budget=100, question="Which model weighs 412 g?")
    assert "Zephyr Ultralight" in r.output and "412 g" in r.output


def test_definition_list_label_kept_with_value() -> None:
    page = (
        f"<html><body><article><h1>The Book</h1>{FILLER}<dl><dt>Publisher</dt><dd>Penguin</dd>"
        f"<dt>ISBN</dt><dd>978-0-14-044913-6</dd><dt>Pages</dt><dd>320</dd></dl>{FILLER}"
        "</article></body></html>"
    )
    r = domprune.prune(page, budget=60, question="What is the ISBN?")
    assert "978-0-14-044913-6" in r.output
    assert "ISBN" in r.output.replace("978-0-14-044913-6", "")


def test_text_format_keeps_the_row_too() -> None:
    r = domprune.prune(
        CATALOGUE, budget=60, question="How much does the Zephyr Ultralight weigh?", settings=TEXT
    )
    assert "Zephyr Ultralight" in r.output and "412 g" in r.output
    assert "<" not in r.output


BOILERPLATE = """<html><head><title>Trail report</title></head><body>
<header><div class="logo">MegaSite</div><nav><a href="/a">News</a><a href="/b">Sport</a>
<a href="/c">Weather</a><a href="/d">Shopping deals</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<aside class="sidebar"><h3>Popular</h3><ul><li>Ten tips for campers</li><li>Best tents</li></ul></aside>
<div class="content"><h1>Trail report</h1>
<p>The north ridge trail reopened on Monday after two weeks of repairs by volunteers.</p>
<p>Rangers advise hikers to carry water because the spring at mile four is dry.</p>
<p>Parking at the trailhead is limited to forty cars on weekends.</p></div>
<footer class="footer">Copyright MegaSite. About. Careers. Privacy policy. Terms of use.</footer>
</body></html>"""


MAIN_ONLY = (
    "<title>Trail report</title><h1>Trail report</h1>"
    "<p>The north ridge trail reopened on Monday after two weeks of repairs by volunteers.</p>"
    "<p>Rangers advise hikers to carry water because the spring at mile four is dry.</p>"
    "<p>Parking at the trailhead is limited to forty cars on weekends.</p>"
)


def test_boilerplate_dropped_before_main_content() -> None:
    full = domprune.prune(BOILERPLATE, budget=10_000)
    budget = count_tokens(MAIN_ONLY) + 8
    assert budget < full.tokens_after
    r = domprune.prune(BOILERPLATE, budget=budget)
    assert r.tokens_after <= budget
    for main in ("north ridge trail reopened", "carry water", "forty cars"):
        assert main in r.output
    for boiler in ("Shopping deals", "cookies", "Careers", "Best tents"):
        assert boiler not in r.output


def test_boilerplate_last_can_be_switched_off() -> None:
    paras = "".join(f"<p>Story paragraph number {i} about the trail and the weather.</p>" for i in range(8))
    page = f'<body><nav><a href="/n">Newsdesk</a><a href="/s">Sportsdesk</a></nav>{paras}</body>'
    budget = 60
    default = domprune.prune(page, budget=budget).output
    assert "Newsdesk" not in default and "number 0" in default
    settings = PruneSettings(budget=BudgetSettings(boilerplate_last=False))
    r = domprune.prune(page, budget=budget, settings=settings)
    assert r.tokens_after <= budget
    assert "Newsdesk" in r.output  # page order decides: the nav comes first


def test_title_kept_first_at_small_budgets() -> None:
    r = domprune.prune(CATALOGUE, budget=30)
    assert "Specs" in r.output or "Catalogue" in r.output


def test_mark_removed_leaves_markers_within_budget() -> None:
    settings = PruneSettings(budget=BudgetSettings(mark_removed=True))
    r = domprune.prune(CATALOGUE, budget=150, settings=settings, question="Zephyr Ultralight weight?")
    assert "<!-- removed -->" in r.output
    assert r.tokens_after == count_tokens(r.output) <= 150


def _pages() -> list[str]:
    return [
        CATALOGUE,
        BOILERPLATE,
        "<div><p>Hello world</p></div>",
        "<p>Catalogue</p>",
        "<h1>Catalogue</h1><p>Some body text here.</p>",
        '<div><img alt="A very long description of a picture of a mountain at sunrise"></div>',
    ]


@pytest.mark.parametrize("fmt", ["html", "text"])
@pytest.mark.parametrize("page_index", range(6))
def test_budget_too_small_names_a_budget_that_works(fmt: str, page_index: int) -> None:
    page = _pages()[page_index]
    settings = PruneSettings(format=fmt)
    for budget in range(1, 16):
        try:
            r = domprune.prune(page, budget=budget, settings=settings)
        except BudgetTooSmallError as exc:
            assert exc.smallest_budget is not None
            assert exc.smallest_budget > budget
            assert str(exc.smallest_budget) in str(exc)
            r = domprune.prune(page, budget=exc.smallest_budget, settings=settings)
            assert r.tokens_after <= exc.smallest_budget
        else:
            assert r.tokens_after == count_tokens(r.output) <= budget


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_no_error_when_a_single_short_text_fits(fmt: str) -> None:
    # "Hello world" is 2 tokens; as text it must fit in 2, as html <p>Hello world</p> in 6.
    page = "<div><p>Hello world</p></div>"
    budget = 2 if fmt == "text" else count_tokens("<p>Hello world</p>")
    r = domprune.prune(page, budget=budget, settings=PruneSettings(format=fmt))
    assert "Hello world" in r.output


@pytest.mark.parametrize("budget", [0, -5, True, 1.5, "100", None])
def test_bad_budget_is_a_settings_error(budget: object) -> None:
    with pytest.raises(SettingsError, match="positive whole number"):
        domprune.prune("<p>x</p>", budget=budget)  # type: ignore[arg-type]


def test_settings_reject_unknown_fields_and_bad_values() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PruneSettings(formatt="html")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        PruneSettings(format="pdf")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BudgetSettings(header_share=2.0)


def test_fit_false_reports_honestly() -> None:
    r = domprune.prune(CATALOGUE, budget=100, settings=PruneSettings(fit=False))
    assert r.tokens_after == count_tokens(r.output)
    assert r.tokens_after > 100 and not r.fits


def test_exact_step_tokens_are_consistent() -> None:
    page = CATALOGUE.replace("<main>", '<main><script>var tracking = "abc";</script><style>p{}</style>')
    r = domprune.prune(page, budget=600, settings=PruneSettings(exact_step_tokens=True))
    names = [s.name for s in r.steps]
    assert names == ["filtering", "attributes", "budget"]
    assert r.steps[0].tokens_before == r.tokens_before == count_tokens(page)
    assert r.steps[0].tokens_after == r.steps[1].tokens_before
    assert r.steps[1].tokens_after == r.steps[2].tokens_before
    assert r.steps[2].tokens_after == r.tokens_after
    assert r.steps[0].tokens_saved is not None and r.steps[0].tokens_saved > 0
    # the steps' seconds split the result's timings: filtering and attributes are part of the page's
    # filter_attributes time; the budget step is the rest after parse, filter_attributes and measure
    assert r.steps[0].seconds + r.steps[1].seconds <= r.timings["filter_attributes"]
    page_work = r.timings["parse"] + r.timings["filter_attributes"] + r.timings["measure"]
    assert r.steps[2].seconds == pytest.approx(r.timings["total"] - page_work)


def test_result_to_dict_is_json() -> None:
    r = domprune.prune(CATALOGUE, budget=200, question="weight?")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["output"] == r.output and d["tokens_after"] == r.tokens_after and d["fits"] is True
    assert set(r.timings) >= {"parse", "fit", "total"}


@pytest.mark.parametrize("tokenizer", ["tiktoken:cl100k_base"])
def test_other_tokenizer_budget(tokenizer: str) -> None:
    r = domprune.prune(CATALOGUE, budget=300, tokenizer=tokenizer)
    assert r.tokens_after == count_tokens(r.output, tokenizer) <= 300


def test_without_a_question_the_page_summary_gets_a_larger_share() -> None:
    # a shop page that states its facts in <meta name="keywords"> above a long blurb: without a
    # question the header tier (30% of the budget, 15% with one) holds the keywords too
    keywords = "The Glass Orchard, Halcyon House, 9781529012347, Lena Marsh, 2019, Paperback, " + ", ".join(
        f"bookshop {i}" for i in range(12)
    )
    page = (
        '<html><head><title>The Glass Orchard: Lena Marsh</title><meta name="description" content="'
        + "A novel about an orchard and the people who tend it over one long summer. " * 2
        + f'"><meta name="keywords" content="{keywords}"></head><body><main><h1>The Glass Orchard</h1>'
        + "".join(
            f"<p>Paragraph {i} of the blurb, about the orchard and its keepers.</p>" for i in range(200)
        )
        + "</main></body></html>"
    )
    kept = domprune.prune(page, budget=600).output
    assert "Halcyon House" in kept
    narrow = PruneSettings(budget=BudgetSettings(header_share_no_question=0.15))
    assert "Halcyon House" not in domprune.prune(page, budget=600, settings=narrow).output


def test_a_title_said_again_gives_its_header_room_to_the_page_facts() -> None:
    # <meta name="title">, og:title and <h1> repeat what <title> says: the header tier keeps one of
    # them and spends the rest on the keywords that state the book's facts
    title = "The Glass Orchard: A Novel of One Long Summer in the Valley"
    keywords = "The Glass Orchard, Halcyon House, 9781529012347, Lena Marsh, 2019, Paperback, " + ", ".join(
        f"bookshop {i}" for i in range(8)
    )
    page = (
        f"<html><head><title>{title} | Lena Marsh | 9781529012347 | Bookshop</title>"
        f'<meta name="title" content="{title}"><meta property="og:title" content="{title}">'
        '<meta name="description" content="'
        + "A novel about an orchard and the people who tend it. "
        * 2
        + '">'
        f'<meta name="keywords" content="{keywords}"></head><body><main><h1>{title}</h1>'
        + "".join(
            f"<p>Paragraph {i} of the blurb, about the orchard and its keepers.</p>" for i in range(200)
        )
        + "</main></body></html>"
    )
    r = domprune.prune(page, budget=600)
    assert "Halcyon House" in r.output and r.tokens_after <= 600
    assert r.output.count(title) == 2  # <title> and the page's own <h1>, not the two meta repeats


def test_only_a_title_repeated_in_whole_words_gives_up_its_header_room() -> None:
    from domprune.steps.budget import _said, _without_repeated_titles

    page = (
        "<html><head><title>Trail Boots | Acme</title>"
        '<meta name="title" content="Trail Boots"><meta property="og:title" content="Trail Boot">'
        '<meta itemprop="price" content="19.99"><meta itemprop="highPrice" content="119.99">'
        "</head><body><h1>Acme</h1><p>About the boots and the trail.</p></body></html>"
    )
    prepared = domprune.prepare(page)
    model, header = prepared.units, prepared.ranking.header
    head = sorted(header, key=lambda u: (-header[u], u))
    said = {u: _said(model.doc, model.units, u) for u in head}
    kept = {said[u] for u in _without_repeated_titles(model, head, head, said, 10_000)}
    # the meta title and the <h1> repeat <title> in whole words; "trail boot" does not (a word cut
    # short); a price inside another price is a fact, and only titles are compared
    assert "trail boots | acme" in kept and "trail boot" in kept
    assert "trail boots" not in kept and "acme" not in kept
    assert {"price 19.99", "highprice 119.99"} <= kept
