"""The generator response parser, answer grounding and the rules generator (no server, no model)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domvqa_train.data.generator_prompt import (
    ProposedQA,
    UnusableResponse,
    build_messages,
    parse_questions,
    response_format,
)
from domvqa_train.data.grounding import answer_in_page, answer_type, ground_questions
from domvqa_train.data.rules import page_facts, rules_questions

PAGE = """<html><head><title>Trail boot</title>
<meta property="og:site_name" content="Peak Outfitters">
<meta name="author" content="Dana Reyes">
<script type="application/ld+json">{"@type": "Product", "name": "Ridge GTX", "sku": "RG-2041",
 "brand": {"name": "Alpina"}, "offers": {"price": "129.00", "priceCurrency": "USD"}}</script>
</head><body><h1>Ridge GTX hiking boot</h1>
<table><tr><th>Weight</th><td>540 g</td></tr><tr><th>Drop</th><td>8 mm</td></tr></table>
<dl><dt>Colour</dt><dd>Slate</dd></dl>
<label for="qty">Quantity</label><input id="qty" value="2">
<p>Warranty: 2 years</p>
</body></html>"""


# --------------------------------------------------------------------------- parser


RECORDED = {
    "strict": '{"reasoning": "r", "questions": [{"question": "Weight?", "answer": "540 g", '
    '"answer_type": "phrase", "source": "dom", "evidence": "540 g"}]}',
    "fenced": 'Here you go:\n```json\n{"questions": [{"question": "Weight?", "answer": "540 g"}]}\n```\nDone.',
    "prose": 'Sure. {"questions": [{"question": "Weight?", "answer": "540 g",},]} Hope it helps.',
    "bare_list": '[{"q": "Weight?", "a": "540 g", "source": "screenshot"}]',
    "single": '{"question": "Weight?", "answers": ["540 g", "540 grams"]}',
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_parser_reads_recorded_shapes(name: str) -> None:
    parsed = parse_questions(RECORDED[name])
    assert parsed.items[0].question == "Weight?"
    assert parsed.items[0].answers[0] == "540 g"


def test_parser_keeps_fields_and_variants() -> None:
    parsed = parse_questions(RECORDED["strict"])
    item = parsed.items[0]
    assert (item.answer_type, item.source, item.evidence, parsed.reasoning) == ("phrase", "dom", "540 g", "r")
    assert parse_questions(RECORDED["bare_list"]).items[0].source == "image"
    assert parse_questions(RECORDED["single"]).items[0].answers == ("540 g", "540 grams")
    booleans = parse_questions(
        '{"questions": [{"question": "In stock?", "answer": true}, {"question": "N?", "answer": 3}]}'
    )
    assert [i.answers for i in booleans.items] == [("yes",), ("3",)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I cannot help with that.", "not_json"),
        ("姊妹姊妹姊妹姊妹", "not_json"),
        ('{"answers": "none"}', "wrong_schema"),
        ('{"questions": [{"question": ""}, 3, "x"]}', "wrong_schema"),
        ("42", "wrong_schema"),
    ],
)
def test_parser_says_why_a_response_is_unusable(text: str, kind: str) -> None:
    with pytest.raises(UnusableResponse) as info:
        parse_questions(text)
    assert info.value.kind == kind
    assert str(info.value)


def test_parser_counts_malformed_items() -> None:
    parsed = parse_questions(
        '{"questions": [{"question": "A?", "answer": "b"}, {"question": "no answer"}, 7]}'
    )
    assert len(parsed.items) == 1 and parsed.malformed == 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_anything_else(text: str) -> None:
    try:
        parsed = parse_questions(text)
    except UnusableResponse as exc:
        assert exc.kind in ("empty", "not_json", "wrong_schema")
    else:
        assert all(item.question and item.answers for item in parsed.items)


_words = st.text(alphabet="abcdefghij XYZ0123456789?", min_size=1, max_size=30).filter(lambda s: s.strip())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_words, _words), min_size=1, max_size=8),
    st.sampled_from(["{}", "Here:\n```json\n{}\n```", "prose {} more prose", "{}\n"]),
    st.booleans(),
)
def test_parser_recovers_what_was_written(pairs: list[tuple[str, str]], wrapper: str, as_list: bool) -> None:
    items = [{"question": q, "answer": a} for q, a in pairs]
    payload = json.dumps(items if as_list else {"reasoning": "x", "questions": items})
    parsed = parse_questions(wrapper.replace("{}", payload))
    assert [(i.question, i.answers[0]) for i in parsed.items] == [
        (" ".join(q.split()), " ".join(a.split())) for q, a in pairs
    ]


def test_prompt_and_schema() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with_image = build_messages("<p>x</p>", n=3, max_words=4, screenshot_part=part)
    assert with_image[1]["content"][1] is part and "screenshot" in with_image[1]["content"][0]["text"]
    text_only = build_messages("<p>x</p>", n=3, max_words=4, screenshot_part=None)
    assert isinstance(text_only[1]["content"], str) and "<p>x</p>" in text_only[1]["content"]
    assert '"image"' not in text_only[1]["content"]
    schema = response_format(3)["json_schema"]["schema"]
    item = schema["properties"]["questions"]["items"]
    assert set(item["required"]) == set(item["properties"]) and item["additionalProperties"] is False


# --------------------------------------------------------------------------- grounding


def qa(question: str, answer: str, source: str = "dom", evidence: str | None = None) -> ProposedQA:
    return ProposedQA(question, (answer,), source=source, evidence=evidence)


def test_grounding_reasons() -> None:
    proposals = [
        qa("How heavy is the boot?", "540 g"),
        qa("What is the boot's weight?", "540 g"),
        qa("how heavy is the boot", "540 g"),  # the same question again
        qa("What is the drop?", "12 mm"),  # not in the page
        qa("What colour is the sole in the photo?", "orange", source="image"),
        qa("Is the boot waterproof?", "yes", evidence="Ridge GTX hiking boot"),
        qa("Is it vegan?", "no", evidence="not on the page"),
        qa("What does Warranty: 2 years say?", "2 years"),  # answer in question
        qa("What is the full description?", "a long answer of many words here"),
        qa("   ", "x"),
    ]
    result = ground_questions(proposals, PAGE, has_screenshot=True, max_answer_words=4)
    kept = [(g.proposal.question, g.source, g.grounding) for g in result.kept]
    assert kept == [
        ("How heavy is the boot?", "dom", "answer_in_dom"),
        ("What is the boot's weight?", "dom", "answer_in_dom"),
        ("What colour is the sole in the photo?", "image", "model_claim"),
        ("Is the boot waterproof?", "dom", "evidence_in_dom"),
    ]
    assert result.dropped == {
        "duplicate_question": 1,
        "not_grounded": 2,
        "answer_in_question": 1,
        "answer_too_long": 1,
        "bad_question": 1,
    }
    no_shot = ground_questions(proposals[4:5], PAGE, has_screenshot=False, max_answer_words=4)
    assert not no_shot.kept and no_shot.dropped == {"no_screenshot": 1}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            _words,
            st.sampled_from(["540 g", "Slate", "nope", "yes", "2", "Peak Outfitters", "a b c d e"]),
            st.sampled_from(["dom", "image", None]),
            st.booleans(),
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_every_proposal_is_kept_or_dropped_with_a_reason(raw: list, has_screenshot: bool) -> None:
    proposals = [ProposedQA(q, (a,), source=s, evidence="Slate" if e else None) for q, a, s, e in raw]
    result = ground_questions(proposals, PAGE, has_screenshot=has_screenshot, max_answer_words=4)
    assert len(result.kept) + sum(result.dropped.values()) == len(proposals)
    for grounded in result.kept:
        if grounded.grounding == "answer_in_dom":
            assert answer_in_page(grounded.proposal.answers, PAGE)
        if grounded.source == "image":
            assert has_screenshot and grounded.proposal.source == "image"
        assert len(grounded.proposal.answers[0].split()) <= 4


def test_answer_types() -> None:
    assert [answer_type(a) for a in ["no", "False", "3.5", "45%", "€20", "2021-03-05", "Slate", "8 mm"]] == [
        "boolean", "boolean", "number", "number", "money", "date", "word", "phrase",
    ]  # fmt: skip


# --------------------------------------------------------------------------- rules


def test_rules_find_facts_everywhere() -> None:
    facts = {(f.kind, f.label): f.value for f in page_facts(PAGE)}
    assert facts[("table", "Weight")] == "540 g"
    assert facts[("dl", "Colour")] == "Slate"
    assert facts[("form", "Quantity")] == "2"
    assert facts[("text", "Warranty")] == "2 years"
    assert facts[("title", "title")] == "Trail boot"
    assert facts[("heading", "heading")] == "Ridge GTX hiking boot"
    assert facts[("meta", "site")] == "Peak Outfitters"
    assert facts[("meta", "author")] == "Dana Reyes"
    assert facts[("json_ld", "sku")] == "RG-2041"
    assert facts[("json_ld", "brand")] == "Alpina"
    assert facts[("json_ld", "price")] == "129.00"


def test_rules_questions_are_grounded_reproducible_and_varied() -> None:
    questions = rules_questions(PAGE, page_id="boot", n=30)
    assert questions == rules_questions(PAGE, page_id="boot", n=30)
    kinds = [q.question for q in questions]
    assert len(set(kinds)) == len(kinds) and len(kinds) >= 12
    result = ground_questions(questions, PAGE, has_screenshot=False, max_answer_words=6)
    assert len(result.kept) == len(questions)  # every rules answer is in the page
    wordings = set()
    for i in range(20):
        wordings |= {
            q.question
            for q in rules_questions(PAGE, page_id=f"p{i}", n=30)
            if "Weight" in q.question or "weight" in q.question
        }
    assert len(wordings) >= 3  # the same fact is asked in several ways across pages
    first = rules_questions(PAGE, page_id="boot", n=4)
    assert len(first) == 4 and len({q.question for q in first}) == 4


def test_rules_read_mind2web_cleaned_html() -> None:
    page = (
        '<html backend_node_id="1"><body><div><text backend_node_id="5">Departure: Boston</text>'
        '<table><tr><td backend_node_id="7">Flight</td><td>TP 218</td></tr></table></div></body></html>'
    )
    facts = {f.label: f.value for f in page_facts(page)}
    assert facts["Departure"] == "Boston" and facts["Flight"] == "TP 218"
