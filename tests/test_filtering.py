"""Filtering: noise, head noise, svg, invisible content, empty elements, unwrapping, folding."""

from __future__ import annotations

import pytest

import domprune
from domprune import FilterSettings, PruneSettings

BIG = 100_000


def out(page: str, *, question: str | None = None, **filtering: object) -> str:
    settings = PruneSettings(filtering=FilterSettings(**filtering))
    return domprune.prune(page, budget=BIG, question=question, settings=settings).output


def removed(page: str, **filtering: object) -> dict[str, int]:
    settings = PruneSettings(filtering=FilterSettings(**filtering))
    return domprune.prune(page, budget=BIG, settings=settings).steps[0].removed


def test_noise_tags_dropped_with_their_content_but_not_their_tails() -> None:
    page = (
        "<div><script>var secret=1;</script>after-script<style>.x{color:red}</style>"
        "<noscript>enable js</noscript><template><p>tpl</p></template><iframe src='a'></iframe>"
        "<object data='x'>obj</object><canvas>cv</canvas><p>body text</p></div>"
    )
    text = out(page)
    for gone in ("secret", "color", "enable js", "tpl", "iframe", "obj", "cv"):
        assert gone not in text
    assert "after-script" in text and "<p>body text</p>" in text
    assert removed(page)["noise_elements"] >= 7


def test_noise_tags_kept_when_disabled() -> None:
    assert "var a" in out("<div><script>var a;</script><p>x</p></div>", noise_tags=False)


def test_head_noise_keeps_informative_meta() -> None:
    page = (
        "<html><head><title>Shop</title><meta name='description' content='Boots for trails'>"
        "<meta name='viewport' content='width=device-width'><meta property='og:site_name' content='Acme'>"
        "<meta charset='utf-8'><link rel='stylesheet' href='a.css'></head><body><p>b</p></body></html>"
    )
    text = out(page)
    assert "<title>Shop</title>" in text
    assert 'content="Boots for trails"' in text and 'content="Acme"' in text
    assert "viewport" not in text and "stylesheet" not in text and "charset" not in text


def test_svg_reduced_to_title() -> None:
    text = out('<p>x</p><svg viewBox="0 0 1 1"><title>Cart icon</title><path d="M0 0L1 1"/></svg>')
    assert "Cart icon" in text and "path" not in text and "M0" not in text


@pytest.mark.parametrize(
    "hidden",
    [
        "<p hidden>SECRET</p>",
        '<p aria-hidden="true">SECRET</p>',
        '<p aria-hidden=" TRUE ">SECRET</p>',
        '<p style="color:red; display: none">SECRET</p>',
        '<p style="DISPLAY:NONE">SECRET</p>',
        '<p style="visibility:hidden">SECRET</p>',
        '<input type="hidden" name="csrf" value="SECRET">',
        '<input type="HIDDEN" value="SECRET">',
        "<div hidden><p>deep <b>SECRET</b></p></div>",
        '<div bounding_box_rect="0,0,0,0"><p>SECRET</p></div>',
        '<div bounding_box_rect="10,10,0,30"><p>SECRET</p></div>',
    ],
)
def test_invisible_content_is_dropped(hidden: str) -> None:
    text = out(f"<div><p>visible</p>{hidden}</div>")
    assert "SECRET" not in text
    assert "visible" in text
    assert "SECRET" in out(f"<div><p>visible</p>{hidden}</div>", invisible=False)


@pytest.mark.parametrize(
    "shown",
    [
        '<p aria-hidden="false">SHOWN</p>',
        '<p style="display:block">SHOWN</p>',
        '<input type="text" value="SHOWN">',
        '<p bounding_box_rect="0,0,5,5">SHOWN</p>',
        '<p bounding_box_rect="garbage">SHOWN</p>',
    ],
)
def test_visible_content_is_kept(shown: str) -> None:
    assert "SHOWN" in out(f"<div>{shown}</div>")


def test_zero_area_kept_when_a_descendant_has_area() -> None:
    page = (
        '<div><div bounding_box_rect="0,0,0,0"><p bounding_box_rect="1,1,10,10">CHILD</p>'
        '<p bounding_box_rect="0,0,0,0">ZERO</p></div></div>'
    )
    text = out(page)
    assert "CHILD" in text and "ZERO" not in text


def test_hidden_counts_are_reported() -> None:
    page = '<div><p hidden>a</p><p style="display:none">b</p><div bounding_box_rect="0,0,0,0">c</div><p>d</p></div>'
    r = removed(page)
    assert r["hidden_elements"] == 2
    assert r["zero_area_elements"] == 1


def test_empty_elements_dropped() -> None:
    page = "<div><p></p><div>  </div><b> </b><img><img alt='pic'><p>text</p><input name='q'></div>"
    text = out(page)
    assert "<p></p>" not in text and "<b>" not in text
    assert '<img alt="pic">' in text
    assert "<img>" not in text
    assert '<input name="q">' in text  # form fields are informative on their own
    assert removed(page)["empty_elements"] >= 4


def test_empty_kept_when_disabled_without_fitting() -> None:
    settings = PruneSettings(fit=False, filtering=FilterSettings(empty=False))
    assert (
        domprune.prune("<div><p></p><p>x</p></div>", budget=100, settings=settings).output
        == "<p></p><p>x</p>"
    )


def test_empty_kept_when_disabled_and_page_fits() -> None:
    assert "<p></p>" in out("<div><p></p><p>x</p></div>", empty=False)


def test_element_with_only_a_tail_is_not_empty_parent() -> None:
    assert "tail words" in out("<div><p><br>tail words</p></div>")


def test_unwrap_bare_wrappers_keeps_content() -> None:
    page = '<div><div><span>wrapped</span></div><span class="k">styled</span><p>para</p></div>'
    assert out(page) == "wrapped styled<p>para</p>"


def test_unwrapped_blocks_still_separate_words_inline_ones_do_not() -> None:
    assert (
        out("<div><div>one</div><div>two</div><span>three</span> <span>four</span></div>")
        == "one two three four"
    )
    # an inline wrapper whose text touches a word outside keeps its tags: words are not merged
    assert out("<div><div>one</div><span>three</span><span>four</span></div>") == "one three<span>four</span>"


def test_unwrap_keeps_wrappers_with_attributes() -> None:
    text = out('<div role="main"><span title="note">x</span></div>')
    assert text == '<div role="main"><span title="note">x</span></div>'


def test_unwrap_disabled_keeps_tags() -> None:
    assert "<span>" in out("<div><span>x</span></div>", unwrap=False)


def test_whitespace_collapsed() -> None:
    assert out("<p>a   b\n\n\t c</p>") == "<p>a b c</p>"
    assert "a   b" in out("<pre>a   b</pre>", whitespace=False)


FRUITS = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "ilama", "jujube", "kiwi"]
LIST = "<ul>" + "".join(f"<li>{n} fruit</li>" for n in FRUITS) + "</ul>"


def test_fold_repeated_off_by_default() -> None:
    text = out(LIST)
    assert all(n in text for n in FRUITS) and "folded" not in text


def test_fold_repeated_keeps_first_n_and_leaves_a_count() -> None:
    text = out(LIST, fold_repeated=True, fold_keep=3, fold_min_run=8)
    assert all(n in text for n in FRUITS[:3])
    assert not any(n in text for n in FRUITS[3:])
    assert f"<!-- {len(FRUITS) - 3} more similar <li> folded -->" in text


def test_fold_repeated_keeps_question_matches() -> None:
    text = out(LIST, question="Is kiwi available?", fold_repeated=True, fold_keep=2)
    assert "apple" in text and "banana" in text and "kiwi" in text
    assert "cherry" not in text
    assert f"<!-- {len(FRUITS) - 3} more similar <li> folded -->" in text


def test_fold_repeated_leaves_short_runs_alone() -> None:
    text = out(LIST, fold_repeated=True, fold_min_run=len(FRUITS) + 1)
    assert all(n in text for n in FRUITS)


def test_fold_repeated_only_folds_similar_siblings() -> None:
    page = (
        "<div>" + "".join(f"<p>para {i}</p>" if i % 2 else f"<h2>head {i}</h2>" for i in range(12)) + "</div>"
    )
    text = out(page, fold_repeated=True)
    assert "folded" not in text and "para 11" in text


def test_empty_json_ld_is_dropped_and_empty_parts_go() -> None:
    page = (
        '<html><head><script type="application/ld+json">{}</script>'
        '<script type="application/ld+json">{"@type":"ImageObject","url":"a.jpg"}</script>'
        '<script type="application/ld+json">{"@type":"Product","brand":{},"name":"Boot"}</script>'
        "</head><body><p>x</p></body></html>"
    )
    r = domprune.prune(page, budget=1000)
    assert r.output.count("<script") == 1
    assert '{"@type":"Product","name":"Boot"}' in r.output
    assert r.steps[0].removed["noise_elements"] == 2  # the two that said nothing


def test_a_fact_in_the_head_is_written_once() -> None:
    page = (
        '<html><head><meta name="description" content="Light  boots."><meta property="og:description" '
        'content="Light boots."><meta name="twitter:description" content="light boots.">'
        '<meta property="product:price:amount" content="129"><meta name="viewport" content="width=device-width">'
        "</head><body><p>x</p></body></html>"
    )
    r = domprune.prune(page, budget=1000)
    assert r.output.count("Light boots.") == 1 and "twitter" not in r.output
    assert 'content="129"' in r.output and "viewport" not in r.output
    assert r.steps[0].removed["duplicate_meta"] == 2


def test_white_space_inside_attribute_values_is_collapsed() -> None:
    r = domprune.prune('<p><img alt="AeroMix 900\n      blender,   side view" src="a.jpg"></p>', budget=100)
    assert 'alt="AeroMix 900 blender, side view"' in r.output
