"""``label``: pass rates over K attempts, prompts fitted as training fits them, the policy as labeller."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openai_stub import Reply, StubServer, user_text
from PIL import Image

from domvqa_train.cli import main
from domvqa_train.common.endpoint import ChatClient, EndpointSettings
from domvqa_train.common.records import load_examples
from domvqa_train.data.label import (
    EndpointPolicy,
    LabelSettings,
    LLMJudge,
    LocalPolicy,
    attempt_passes,
    label_batch,
    label_dataset,
)
from domvqa_train.prompts.prepare import PrepareSettings, fit_example

PAGE = "<html><body><h1>Ridge boot</h1><table><tr><th>Weight</th><td>540 g</td></tr></table>{extra}</body></html>"


def records(tmp_path: Path, n: int, *, screenshot_every: int = 0) -> Path:
    """``n`` raw records (one question each), some with a screenshot; returns the JSONL file."""
    lines = []
    for i in range(n):
        record: dict[str, Any] = {
            "id": f"r{i}",
            "cleaned_html": PAGE.format(extra=f"<p>Code: C{i}</p>"),
            "question": f"What is code {i}?",
            "answer": f"C{i}",
            "page_id": f"page{i}",
        }
        if screenshot_every and i % screenshot_every == 0:
            path = tmp_path / f"shot{i}.png"
            Image.new("RGB", (56, 56), (i * 30 % 255, 10, 10)).save(path)
            record["screenshot"] = path.name
        lines.append(json.dumps(record))
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Scripted:
    """A labeller that answers right on the first ``right[id]`` attempts (DOM) and ``right_img[id]`` (image)."""

    name = "scripted"
    takes_images = True

    def __init__(self, right: dict[str, int], right_img: dict[str, int] | None = None) -> None:
        self.right, self.right_img = right, right_img or {}
        self.calls: list[tuple[int, bool]] = []

    def answer(
        self, prompts: Sequence[Any], images: Sequence[str] | None, settings: LabelSettings
    ) -> list[str]:
        self.calls.append((len(prompts), images is not None))
        out, seen = [], {}
        for prompt in prompts:
            text = prompt[-1]["content"]
            code = text.split("What is code ", 1)[1].split("?", 1)[0]
            seen[code] = seen.get(code, 0) + 1
            table = self.right_img if images is not None else self.right
            good = seen[code] <= table.get(f"r{code}", 0)
            out.append(rf"I think \boxed{{C{code}}}" if good else r"\boxed{no idea}")
        return out


def assert_rescored(row: dict[str, Any], kind: str, attempts: int) -> None:
    """``row`` keeps ``attempts`` completions of ``kind`` ("dom" or "image"), and its difficulty is the share of
    them that pass when scored again (no judge)."""
    prefix = {"dom": "dom", "image": "img"}[kind]
    completions = row["label_completions"][kind]
    assert len(completions) == attempts and row[f"{prefix}_attempts"] == attempts
    passed = sum(attempt_passes(c, row["answers"], row["question"]) for c in completions)
    assert row[f"{prefix}_passes"] == passed
    assert row[f"{prefix}_difficulty"] == passed / attempts


def quiet(**values: Any) -> LabelSettings:
    return LabelSettings(progress=False, **values)


PREPARE = PrepareSettings(prompt_budget=600, progress=False)


def test_pass_rates_are_exact(tmp_path: Path) -> None:
    source = records(tmp_path, 4, screenshot_every=2)  # r0 and r2 have screenshots
    labeller = Scripted({"r0": 4, "r1": 1, "r2": 0, "r3": 3}, {"r0": 2, "r2": 4})
    report = label_dataset(source, tmp_path / "out", labeller, quiet(attempts=4, batch_size=3), PREPARE)
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "labels.jsonl").read_text().splitlines())}
    assert {i: (r["dom_difficulty"], r["img_difficulty"]) for i, r in rows.items()} == {
        "r0": (1.0, 0.5),
        "r1": (0.25, None),
        "r2": (0.0, 1.0),
        "r3": (0.75, None),
    }
    assert rows["r0"]["labelled"] == ["dom", "image"] and rows["r1"]["labelled"] == ["dom"]
    assert len(rows["r0"]["label_completions"]["dom"]) == 4 and rows["r0"]["dom_attempts"] == 4
    assert rows["r1"]["page_id"] == "page1" and rows["r1"]["answers"] == ["C1"]
    assert report.dom_histogram == {"0": 1, "0.25": 1, "0.75": 1, "1": 1}
    assert report.img_histogram == {"0.5": 1, "1": 1}
    assert report.dom_with_variance == 2 and report.attempts == 4 * 4 + 2 * 4
    assert labeller.calls == [
        (12, False),
        (8, True),
        (4, False),
    ]  # batches of 3 records (2 screenshots), then 1
    assert (tmp_path / "out" / "difficulty.png").stat().st_size > 1000
    loaded = load_examples(tmp_path / "out" / "labels.jsonl")
    assert not loaded.rejects and {e.id: e.dom_difficulty for e in loaded.examples}["r1"] == 0.25


def test_prompts_are_the_training_prompts(tmp_path: Path) -> None:
    source = records(tmp_path, 2)
    seen: list[Any] = []

    class Recorder(Scripted):
        def answer(self, prompts, images, settings):  # type: ignore[no-untyped-def]
            seen.extend(prompts)
            return super().answer(prompts, images, settings)

    label_dataset(source, tmp_path / "out", Recorder({}), quiet(attempts=2), PREPARE)
    examples = load_examples(source).examples
    expected = [fit_example(e, PREPARE)["prompt"] for e in examples for _ in range(2)]
    assert seen == expected


def label_records(tmp_path: Path, n: int) -> Path:
    """``n`` records, a line that is not JSON and a page too big for the prompt budget."""
    source = records(tmp_path, n)
    with source.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
        huge = {
            "id": "big",
            "cleaned_html": "<p>" + "token " * 3000 + "</p>",
            "question": "q?",
            "answer": "a",
        }
        handle.write(json.dumps(huge) + "\n")
    return source


def test_rejects_and_resume(tmp_path: Path) -> None:
    source = label_records(tmp_path, 3)
    tight = PrepareSettings(prompt_budget=60, progress=False)
    first = label_dataset(source, tmp_path / "out", Scripted({"r1": 1}), quiet(attempts=2), tight)
    assert (first.records, first.labelled, first.rejected) == (5, 3, 2)
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["kind"] for r in rejects) == ["BudgetTooSmallError", "bad_json"]  # the page cannot fit 60
    assert all(r["reason"] for r in rejects)
    again = label_dataset(source, tmp_path / "out", Scripted({}), quiet(attempts=2), tight)
    assert again.resumed == 4 and again.attempts == 0 and again.records == 5
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == first.labelled


def test_attempt_judging() -> None:
    assert attempt_passes(r"\boxed{540 grams}", ["540 g"], "Weight?") is False
    judge = lambda q, answers, candidate: candidate == "540 grams"  # noqa: E731
    assert attempt_passes(r"\boxed{540 grams}", ["540 g"], "Weight?", judge) is True
    assert attempt_passes("540 grams", ["540 g"], "Weight?", judge) is False  # no box, no judge call


def test_llm_judge_on_an_endpoint(tmp_path: Path) -> None:
    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "GET":
            return Reply()
        text = user_text(request["body"])
        return Reply("Yes." if "Candidate answer: C0 exactly" in text else "maybe")

    source = records(tmp_path, 2)

    class Loose(Scripted):
        def answer(self, prompts, images, settings):  # type: ignore[no-untyped-def]
            return [r"\boxed{C0 exactly}" if "code 0" in p[-1]["content"] else r"\boxed{C9}" for p in prompts]

    with StubServer(behave) as stub:
        judge = LLMJudge(ChatClient(EndpointSettings(url=stub.url, model="stub")))
        report = label_dataset(source, tmp_path / "out", Loose({}), quiet(attempts=2), PREPARE, judge)
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "labels.jsonl").read_text().splitlines())}
    assert rows["r0"]["dom_difficulty"] == 1.0 and rows["r1"]["dom_difficulty"] == 0.0
    assert report.judge == {"calls": 4, "unparsed": 2}


def test_endpoint_labeller_sends_the_screenshot(tmp_path: Path) -> None:
    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "GET":
            return Reply()
        content = request["body"]["messages"][-1]["content"]
        return Reply(r"\boxed{C0}" if isinstance(content, list) else "no box")

    source = records(tmp_path, 2, screenshot_every=2)
    with StubServer(behave) as stub:
        policy = EndpointPolicy(ChatClient(EndpointSettings(url=stub.url, model="stub", concurrency=3)))
        report = label_dataset(source, tmp_path / "out", policy, quiet(attempts=3), PREPARE)
        sent = stub.chat_requests()
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "labels.jsonl").read_text().splitlines())}
    assert (rows["r0"]["dom_difficulty"], rows["r0"]["img_difficulty"]) == (0.0, 1.0)
    assert rows["r1"]["img_difficulty"] is None
    assert len(sent) == 3 * 2 + 3 and all(b["max_tokens"] == 64 for b in sent)
    assert report.requests["succeeded"] == 9


def test_label_batch_is_a_plain_function(tmp_path: Path) -> None:
    examples = load_examples(records(tmp_path, 2)).examples
    outcomes = label_batch(examples, Scripted({"r0": 1}), quiet(attempts=2), PREPARE)
    assert [(o.id, o.row["dom_difficulty"]) for o in outcomes] == [("r0", 0.5), ("r1", 0.0)]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from domvqa_train.testing.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    return {"text": build_tiny_model(root / "qwen2"), "vl": build_tiny_model(root / "vl", "qwen2_5_vl")}


@pytest.mark.slow
def test_local_policy_labels_with_the_tiny_model(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    source = records(tmp_path, 3)
    argv = ["label", "--data", str(source), "--out", str(tmp_path / "out"), "--model", str(tiny_models["text"]),
            "--attempts", "2", "--max-new-tokens", "6", "--set", "prompt_budget=600", "--set", "dtype=float32"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["labelled"] == 3 and report["attempts"] == 6 and report["attempts_per_second"] > 0
    for row in map(json.loads, (tmp_path / "out" / "labels.jsonl").read_text().splitlines()):
        assert_rescored(row, "dom", 2)
        assert row["img_difficulty"] is None and "image" not in row["label_completions"]
        assert row["labeller"] == str(tiny_models["text"])


@pytest.mark.slow
def test_local_vision_policy_labels_screenshots(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    from domvqa_train.common.modelio import load_for_inference

    source = records(tmp_path, 2, screenshot_every=1)
    policy = LocalPolicy(load_for_inference(str(tiny_models["vl"]), dtype="float32", images=True))
    assert policy.takes_images
    report = label_dataset(source, tmp_path / "out", policy, quiet(attempts=2, max_new_tokens=4), PREPARE)
    assert report.labelled == 2 and report.attempts == 8
    rows = [json.loads(x) for x in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["labelled"] == ["dom", "image"]
        assert_rescored(row, "dom", 2)
        assert_rescored(row, "image", 2)
