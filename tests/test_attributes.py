"""Attribute policy: what is kept, dropped, shortened and truncated."""

from __future__ import annotations

import pytest

import domprune
from domprune import AttributeSettings, PruneSettings
from domprune.steps.attributes import shorten_url


def out(page: str, **attributes: object) -> str:
    settings = PruneSettings(attributes=AttributeSettings(**attributes))
    return domprune.prune(page, budget=100_000, settings=settings).output


@pytest.mark.parametrize(
    ("url", "short"),
    [
        (
            "https://shop.example.com/boots/trail-runner-3?utm_source=x#top",
            "shop.example.com/boots/trail-runner-3",
        ),
        ("https://www.example.com/", "example.com"),
        ("http://example.com/a/b/", "example.com/a/b"),
        ("/products/42/?ref=nav", "/products/42"),
        ("page.html#section", "page.html"),
        ("mailto:help@example.com", "mailto:help@example.com"),
        ("javascript:void(0)", None),
        ("JavaScript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("blob:https://x/1", None),
        ("about:blank", None),
        ("#top", None),
        ("?page=2", None),
        ("   ", None),
    ],
)
def test_shorten_url(url: str, short: str | None) -> None:
    assert shorten_url(url, 60) == short


def test_shorten_url_keeps_the_last_segments_within_the_limit() -> None:
    url = "https://example.com/a/very/long/path/with/many/segments/that/goes/on/forever/final-page.html"
    short = shorten_url(url, 40)
    assert short is not None
    assert len(short) <= 40
    assert short.endswith("/final-page.html")
    assert short.startswith("example.com/…/")  # the host stays: it says whose page it is
    rel = shorten_url("/a/very/long/path/with/many/segments/that/goes/on/forever/final-page.html", 30)
    assert rel is not None and len(rel) <= 30 and rel.startswith("…/") and rel.endswith("/final-page.html")


def test_href_and_src_are_shortened_or_dropped() -> None:
    page = (
        '<p><a href="https://www.shop.example.com/boots/trail-runner-3?utm=1#x">Boots</a>'
        '<a href="javascript:void(0)">JS</a><img src="data:image/png;base64,AAAA" alt="logo"></p>'
    )
    text = out(page)
    assert '<a href="shop.example.com/boots/trail-runner-3">Boots</a>' in text
    assert "javascript" not in text and "base64" not in text
    assert '<img alt="logo">' in text
    assert "utm=1" in out(page, shorten_urls=False)


def test_styling_and_scripting_attributes_dropped_aria_kept() -> None:
    page = (
        '<div class="btn primary" style="color:red" data-track="42" onclick="buy()" onmouseover="x()" '
        'id="buy" aria-label="Add to cart" aria-pressed="false" aria-labelledby="buy" '
        'aria-describedby="d" role="button" tabindex="0">Buy</div>'
    )
    text = out(page)
    assert text == '<div aria-label="Add to cart" aria-pressed="false" role="button">Buy</div>'


def test_aria_can_be_dropped() -> None:
    assert "aria-label" not in out('<button aria-label="Close">x</button>', aria=False)


def test_ids_kept_on_request() -> None:
    page = '<p id="price">$5</p>'
    assert 'id="price"' not in out(page)
    assert 'id="price"' in out(page, keep_ids=True)


def test_form_and_table_attributes_kept() -> None:
    page = (
        '<form><label for="q">Search</label><input type="text" name="q" placeholder="Find boots" '
        'value="trail" required><select name="size"><option value="9">9</option>'
        '<option value="10" selected>10</option></select></form>'
        '<table><tr><th scope="col" colspan="2">Size</th></tr></table>'
    )
    text = out(page)
    for kept in (
        'for="q"', 'type="text"', 'name="q"', 'placeholder="Find boots"', 'value="trail"', "required",
        'value="10"', "selected", 'scope="col"', 'colspan="2"',
    ):  # fmt: skip
        assert kept in text, kept


def test_long_values_truncated_with_ellipsis() -> None:
    text = out(f'<p title="{"word " * 100}">x</p>', max_value_chars=30)
    value = text.split('title="', 1)[1].split('"', 1)[0]
    assert value.endswith("…")
    assert len(value) <= 31
    assert value.startswith("word word")


def test_short_values_not_truncated() -> None:
    assert out('<p title="exactly as given">x</p>') == '<p title="exactly as given">x</p>'


def test_attribute_values_escaped() -> None:
    text = out('<p title="a &quot;quote&quot; &amp; &lt;tag&gt;">x</p>')
    assert text == '<p title="a &quot;quote&quot; &amp; &lt;tag>">x</p>'


def test_mind2web_underscore_names() -> None:
    page = (
        '<div backend_node_id="5" aria_label="Cart" input_value="3" aria_labelledby="x" class="q" '
        'bounding_box_rect="1,1,5,5"><text backend_node_id="6">hi</text></div>'
    )
    text = out(page)
    assert text == '<div aria_label="Cart" input_value="3">hi</div>'


def test_backend_node_id_kept_only_on_request() -> None:
    page = '<div backend_node_id="5" aria_label="Cart"><text backend_node_id="6">hi</text></div>'
    assert "backend_node_id" not in out(page)
    text = out(page, keep_backend_ids=True)
    assert 'backend_node_id="5"' in text and 'backend_node_id="6"' in text


def test_extra_keep_accepts_either_spelling() -> None:
    page = '<span itemprop="price" data-sku="A1">5</span>'
    assert 'itemprop="price"' in out(page, extra_keep=frozenset({"itemprop"}))
    assert 'data-sku="A1"' in out(page, extra_keep=frozenset({"data_sku"}))


def test_disabled_keeps_everything() -> None:
    page = '<p class="c" style="s" onclick="f()">x</p>'
    assert out(page, enabled=False) == page


def test_attribute_counts_reported() -> None:
    r = domprune.prune('<p class="a" style="b"><a href="https://x.com/y?q=1">l</a></p>', budget=1000).steps[1]
    assert r.name == "attributes"
    assert r.removed["attributes_dropped"] == 2
    assert r.removed["urls_shortened"] == 1
