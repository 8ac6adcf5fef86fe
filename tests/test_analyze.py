"""analyze: breakdowns, error split, baseline comparisons and plots from eval reports written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domvqa_train.errors import SettingsError
from domvqa_train.evaluation.analyze import analyze, read_analysis
from domvqa_train.evaluation.eval import EvalReport, EvalSettings, ModelScores, score_completions

# id, question, answers, prompt tokens, dom difficulty, answer in DOM, answer in prompt
EXAMPLES = [
    ("a", "Price?", ["$5"], 500, 0.25, True, True),
    ("b", "Open Sunday?", ["No"], 1500, 0.5, True, False),
    ("c", "Colour?", ["slate grey"], 3000, 1.0, False, False),
    ("d", "Items?", ["3"], 20000, None, True, True),
]
COMPLETIONS = {
    "base": [r"\boxed{$5}", r"\boxed{Yes}", r"\boxed{blue}", r"\boxed{4}"],
    "runs/grpo/adapter": [r"\boxed{$6}", r"\boxed{no}", r"\boxed{slate grey}", r"\boxed{3}"],
}


def _report(folder: Path, completions: dict[str, list[str]], inputs: str = "dom") -> Path:
    settings = EvalSettings(inputs=inputs)
    answers = [e[2] for e in EXAMPLES]
    scores, predictions = [], {}
    for name, texts in completions.items():
        means, rows = score_completions(texts, answers, settings.rewards)
        scores.append(ModelScores(model=name, examples=len(texts), seconds=0.0, **means))
        predictions[name] = [
            {"id": i, "question": q, "answers": a, "prompt_tokens": t, "dom_difficulty": d, "img_difficulty": None,
             "answer_in_dom": in_dom, "answer_in_prompt": in_prompt, "completion": c, **row}
            for (i, q, a, t, d, in_dom, in_prompt), c, row in zip(EXAMPLES, texts, rows, strict=True)
        ]  # fmt: skip
    report = EvalReport(split="eval", examples=4, settings=settings, scores=scores, predictions=predictions)
    report.write(folder)
    return folder


def test_breakdowns_errors_and_flips(tmp_path: Path) -> None:
    analysis = analyze([_report(tmp_path / "eval", COMPLETIONS)], tmp_path / "out")
    base, adapter = analysis.models
    assert (base.model, adapter.model) == ("base", "grpo/adapter")
    assert (base.accuracy, adapter.accuracy) == (0.25, 0.75)
    # wrong answers: b lost its answer in pruning, c's answer is not in the DOM at all, d is the model's fault
    assert base.errors == {"lost by pruning": 1, "not in the DOM": 1, "model error": 1}
    assert adapter.errors == {"model error": 1}
    assert [(b.bucket, b.n, b.accuracy) for b in adapter.by_dom_difficulty] == [
        ("(0, 0.25]", 1, 0.0), ("(0.25, 0.5]", 1, 1.0), ("1", 1, 1.0), ("unlabelled", 1, 1.0)
    ]  # fmt: skip
    assert [b.bucket for b in base.by_prompt_tokens] == ["<1K", "1K-2K", "2K-4K", ">=16K"]
    assert {b.bucket for b in base.by_answer_type} == {"money", "boolean", "phrase", "number"}
    (comparison,) = analysis.comparisons
    assert (comparison.wins, comparison.losses, comparison.ties) == (3, 1, 0)
    assert [f.id for f in comparison.gained] == ["b", "c", "d"] and [f.id for f in comparison.lost] == ["a"]
    assert sum(base.reward_histogram.values()) == 4 and "[0.9, 1.0]" in base.reward_histogram
    out = tmp_path / "out"
    assert read_analysis(out / "analysis.json") == analysis
    markdown = (out / "analysis.md").read_text(encoding="utf-8")
    assert "| base | grpo/adapter | 4 | 3 | 1 | 0 |" in markdown and "#### grpo/adapter lost (1)" in markdown
    for name in ("accuracy_by_dom_difficulty.png", "accuracy_by_prompt_tokens.png", "reward_histogram.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert not (out / "accuracy_by_img_difficulty.png").exists()  # nothing labelled


def test_several_runs_and_an_explicit_baseline(tmp_path: Path) -> None:
    one = _report(tmp_path / "dom", COMPLETIONS)
    two = _report(tmp_path / "shots", {"base": COMPLETIONS["base"]}, inputs="screenshot")
    analysis = analyze([one, two], tmp_path / "out")
    assert [m.model for m in analysis.models] == ["dom/base", "dom/grpo/adapter", "shots/base"]
    assert analysis.models[2].errors == {"model error": 3}  # screenshot only: pruning had no part
    assert [(c.baseline, c.model) for c in analysis.comparisons] == [("dom/base", "dom/grpo/adapter")]
    pinned = analyze([one, two], tmp_path / "out2", baseline="shots/base")
    assert [(c.baseline, c.model) for c in pinned.comparisons] == [
        ("shots/base", "dom/base"),
        ("shots/base", "dom/grpo/adapter"),
    ]
    with pytest.raises(SettingsError, match="--baseline 'nope' is none of the analysed models"):
        analyze([one], tmp_path / "out3", baseline="nope")


def test_missing_or_bad_reports_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="run `domvqa-train eval` first"):
        analyze([tmp_path / "nothing"], tmp_path / "out")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "eval_report.json").write_text(json.dumps({"split": "eval"}), encoding="utf-8")
    with pytest.raises(SettingsError, match="not an eval report of this version"):
        analyze([tmp_path / "bad"], tmp_path / "out")


def test_without_matplotlib_the_tables_are_written_and_say_why_there_are_no_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    analysis = analyze([_report(tmp_path / "eval", COMPLETIONS)], tmp_path / "out")
    markdown = (tmp_path / "out" / "analysis.md").read_text(encoding="utf-8")
    assert "| base | grpo/adapter | 4 | 3 | 1 | 0 |" in markdown and "(no plots:" in markdown
    assert "domprune[train]" in markdown and not list((tmp_path / "out").glob("*.png"))
    assert read_analysis(tmp_path / "out" / "analysis.json") == analysis
