"""``generate`` end to end: every input shape, the rules generator, and an endpoint that misbehaves.

The endpoint is a real HTTP server on 127.0.0.1 (tests/openai_stub.py) that the ``openai`` client
talks to; it gives the 401s, 429 storms, slow and invalid answers that ``transformers serve`` never
gives (that server is tested in test_endpoint_serve.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openai_stub import Reply, StubServer, error_body, user_text
from PIL import Image

from domvqa_train.cli import main
from domvqa_train.common.endpoint import ChatClient, EndpointError, EndpointSettings
from domvqa_train.common.jobstore import JobStoreError
from domvqa_train.common.records import load_examples
from domvqa_train.data.generate import (
    EndpointGenerator,
    GenerateSettings,
    RulesGenerator,
    generate_dataset,
)
from domvqa_train.testing.local_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def page(i: int) -> str:
    return (
        f"<html><head><title>Shop {i}</title></head><body><h1>Item {i}</h1>"
        f"<table><tr><th>Price</th><td>${10 + i}.00</td></tr><tr><th>Colour</th><td>Red{i}</td></tr></table>"
        f"<p>Stock: {i + 3} units</p></body></html>"
    )


def write_pages(folder: Path, n: int, screenshot: set[int] = frozenset()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"p{i}.html").write_text(page(i), encoding="utf-8")
        if i in screenshot:
            Image.new("RGB", (40, 30), (i * 20, 0, 0)).save(folder / f"p{i}.png")
    return folder


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def accounted(out: Path, n_pages: int) -> tuple[list[dict], list[dict]]:
    """Every page is in qa.jsonl or rejects.jsonl, once; returns both."""
    qa, rejects = rows(out / "qa.jsonl"), rows(out / "rejects.jsonl")
    origins = [r["origin"] for r in rejects]
    assert len(origins) == len(set(origins))
    assert len(rejects) + len({r["page_id"] for r in qa}) == n_pages
    assert all(r["kind"] and r["reason"] for r in rejects)
    assert len({r["id"] for r in qa}) == len(qa)
    assert not list(out.glob("*.partial"))
    return qa, rejects


def quiet(**values: Any) -> GenerateSettings:
    return GenerateSettings(progress=False, **values)


def client(url: str, **values: Any) -> ChatClient:
    return ChatClient(EndpointSettings(url=url, model="stub", backoff=0.01, **values))


def good_answer(request: dict[str, Any]) -> Reply:
    """Questions about the page in the prompt: two grounded, one from the screenshot, one not in the page."""
    if request["method"] == "GET":
        return Reply()
    text = user_text(request["body"])
    i = int(text.split("Item ", 1)[1].split("<", 1)[0])
    questions = [
        {"question": "What does the item cost?", "answer": f"${10 + i}.00", "answer_type": "number",
         "source": "dom", "evidence": f"${10 + i}.00"},
        {"question": "Which colour is it?", "answer": f"Red{i}", "answer_type": "word", "source": "dom", "evidence": ""},
        {"question": "What colour is the banner?", "answer": "green", "answer_type": "word", "source": "image",
         "evidence": ""},
        {"question": "Who makes it?", "answer": "Acme", "answer_type": "word", "source": "dom", "evidence": ""},
    ]  # fmt: skip
    return Reply(json.dumps({"reasoning": f"page {i}", "questions": questions}))


# --------------------------------------------------------------------------- rules, inputs


def test_rules_on_a_folder_of_pages_load_as_raw_records(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 4, screenshot={1})
    (pages / "empty.html").write_text("  ", encoding="utf-8")
    report = generate_dataset(pages, tmp_path / "out", quiet(per_page=5), RulesGenerator())
    qa, rejects = accounted(tmp_path / "out", 5)
    assert [r["kind"] for r in rejects] == ["empty_page"]
    assert report.pages == 5 and report.pages_with_questions == 4 and report.questions_written == len(qa)
    assert all(r["generator"] == "rules" and r["source"] == "dom" for r in qa)
    assert {r["screenshot"] for r in qa if r["page_id"] == "p1"} == {str((pages / "p1.png").resolve())}
    loaded = load_examples(tmp_path / "out" / "qa.jsonl")
    assert not loaded.rejects and len(loaded.examples) == len(qa)
    example = loaded.examples[0]
    assert example.meta["page_id"] == qa[0]["page_id"] and example.meta["grounding"] == "answer_in_dom"
    report_file = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report_file["questions_written"] == len(qa)


def test_records_jsonl_and_repeated_pages(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(page(7), encoding="utf-8")
    lines = [
        {"cleaned_html": page(1), "question": "q1", "answer": "x", "website": "shop.example"},
        {"cleaned_html": page(1), "question": "q2", "answer": "y"},  # another question about page 1
        {"html_path": "a.html", "id": "seven"},
        {"id": "seven", "html": page(8)},  # same id, other page
        {"title": "no page here"},
        "not an object",
    ]
    data = tmp_path / "pages.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n", encoding="utf-8")
    generate_dataset(data, tmp_path / "out", quiet(), RulesGenerator())
    qa, rejects = accounted(tmp_path / "out", 6)
    assert sorted(r["kind"] for r in rejects) == [
        "bad_json",
        "duplicate_page_id",
        "missing_field",
        "not_object",
    ]
    page_one = [r for r in qa if "Item 1<" in r["cleaned_html"]]
    assert page_one and all(r["website"] == "shop.example" for r in page_one)
    assert {r["page_id"] for r in qa} >= {"seven"}


def test_mind2web_dataset_with_image_bytes(tmp_path: Path) -> None:
    import io

    from datasets import Dataset, Features, Value
    from datasets import Image as ImageFeature

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (0, 90, 0)).save(buffer, format="PNG")
    features = Features(
        {"action_uid": Value("string"), "website": Value("string"), "cleaned_html": Value("string"),
         "screenshot": ImageFeature()}
    )  # fmt: skip
    table = {
        "action_uid": ["a1", "a2"],
        "website": ["shop", "shop"],
        "cleaned_html": [page(1).replace("<p>", '<p backend_node_id="9">'), page(2)],
        "screenshot": [{"bytes": buffer.getvalue(), "path": None}, None],
    }
    Dataset.from_dict(table, features=features).save_to_disk(str(tmp_path / "m2w"))
    generate_dataset(tmp_path / "m2w", tmp_path / "out", quiet(), RulesGenerator())
    qa, _ = accounted(tmp_path / "out", 2)
    shots = {r["page_id"]: r["screenshot"] for r in qa}
    assert shots["a2"] is None and Path(shots["a1"]).is_file()
    assert Path(shots["a1"]).parent == (tmp_path / "out" / "screenshots").resolve()
    assert all(r["action_uid"] == r["page_id"] for r in qa)


def test_oversize_page_is_rejected_without_a_request(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    (pages / "huge.html").write_text("<p>" + "word " * 5000 + "</p>", encoding="utf-8")
    with StubServer(good_answer) as stub:
        generate_dataset(
            pages, tmp_path / "out", quiet(max_page_bytes=4000), EndpointGenerator(client(stub.url))
        )
        assert len(stub.chat_requests()) == 2
    _, rejects = accounted(tmp_path / "out", 3)
    assert [(r["page_id"], r["kind"]) for r in rejects] == [("huge", "oversize")]
    assert "max_page_bytes" in rejects[0]["reason"]


# --------------------------------------------------------------------------- endpoint


def test_endpoint_generation_grounds_answers_and_sends_screenshots(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 3, screenshot={0})
    with StubServer(good_answer) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(per_page=3), EndpointGenerator(client(stub.url, concurrency=2))
        )
        sent = stub.chat_requests()
    qa, rejects = accounted(tmp_path / "out", 3)
    assert not rejects
    by_page = {p: [r for r in qa if r["page_id"] == p] for p in ("p0", "p1", "p2")}
    assert [r["source"] for r in by_page["p0"]] == ["dom", "dom", "image"]  # the screenshot claim is kept
    assert [r["grounding"] for r in by_page["p1"]] == ["answer_in_dom", "answer_in_dom"]  # no screenshot
    assert all(r["reasoning"] == f"page {r['page_id'][1]}" and r["generator_model"] == "stub" for r in qa)
    assert report.dropped == {"not_grounded": 3, "no_screenshot": 2}
    with_image = [b for b in sent if isinstance(b["messages"][1]["content"], list)]
    assert len(with_image) == 1
    assert with_image[0]["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert all(b["response_format"]["type"] == "json_schema" for b in sent)
    assert report.requests["succeeded"] == 3 and report.prompt_tokens == 33 and report.completion_tokens == 21


def test_response_format_refused_falls_back_to_the_parser(tmp_path: Path) -> None:
    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "POST" and "response_format" in request["body"]:
            return Reply(status=400, body=error_body("response_format is not supported"))
        return good_answer(request)

    pages = write_pages(tmp_path / "pages", 3)
    with StubServer(behave) as stub:
        generate_dataset(pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=1)))
        sent = stub.chat_requests()
    accounted(tmp_path / "out", 3)
    assert ["response_format" in b for b in sent] == [True, False, False, False]  # dropped once, for the run


def test_reasoning_model_parameters_are_adapted_once(tmp_path: Path) -> None:
    """OpenAI's reasoning models refuse max_tokens and a set temperature, with these messages."""

    def behave(request: dict[str, Any]) -> Reply:
        body = request.get("body", {})
        if "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
            return Reply(status=400, body=error_body(message))
        if "temperature" in body:
            message = "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported."
            return Reply(status=400, body=error_body(message))
        return good_answer(request)

    pages = write_pages(tmp_path / "pages", 3)
    with StubServer(behave) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(temperature=0.7, max_tokens=50),
            EndpointGenerator(client(stub.url, concurrency=1)),
        )  # fmt: skip
        sent = stub.chat_requests()
    qa, rejects = accounted(tmp_path / "out", 3)
    assert not rejects and qa and report.requests["failed"] == {}
    assert len(sent) == 3 + 2  # the first page needed two adapted retries, the others none
    assert all(b["max_completion_tokens"] == 50 and "temperature" not in b for b in sent[2:])
    assert all("response_format" in b for b in sent)  # a 400 about other parameters keeps the schema


def test_unrelated_400_is_a_reject_not_a_schema_fallback(tmp_path: Path) -> None:
    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "POST":
            return Reply(status=400, body=error_body("This model's maximum context length is 8192 tokens."))
        return Reply()

    pages = write_pages(tmp_path / "pages", 2)
    with StubServer(behave) as stub:
        generate_dataset(pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=1)))
        sent = stub.chat_requests()
    _, rejects = accounted(tmp_path / "out", 2)
    assert {r["kind"] for r in rejects} == {"bad_request"} and "context length" in rejects[0]["reason"]
    assert len(sent) == 2 and all("response_format" in b for b in sent)


def test_unreachable_endpoint_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointError, match="cannot reach"):
        generate_dataset(pages, tmp_path / "out", quiet(), EndpointGenerator(client(url)))
    assert not (tmp_path / "out").exists()
    status = main(
        ["generate", "--data", str(pages), "--out", str(tmp_path / "out"), "--endpoint", url, "--model", "m"]
    )
    assert status == 2 and "cannot reach" in capsys.readouterr().err


def test_401_stops_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    with StubServer(lambda r: Reply(status=401, body=error_body("bad key", "authentication_error"))) as stub:
        argv = ["generate", "--data", str(pages), "--out", str(tmp_path / "out"), "--endpoint", stub.url,
                "--model", "stub", "--api-key-env", "DOMVQA_TEST_KEY"]  # fmt: skip
        assert main(argv) == 2
        assert not stub.chat_requests()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DOMVQA_TEST_KEY" in err and "401" in err
    assert not (tmp_path / "out").exists()


def test_401_mid_run_stops_and_keeps_finished_pages(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 4)
    state = {"n": 0}

    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "POST":
            state["n"] += 1
            if state["n"] > 2:
                return Reply(status=401, body=error_body("key revoked", "authentication_error"))
        return good_answer(request)

    with StubServer(behave) as stub:
        with pytest.raises(EndpointError, match="refused the API key"):
            generate_dataset(
                pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=1))
            )
        state["n"] = -100
        report = generate_dataset(
            pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=1))
        )
    assert report.resumed == 2 and report.pages == 4
    accounted(tmp_path / "out", 4)


def test_429_storm_rejects_pages_with_the_reason(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 3)

    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "GET":
            return Reply()
        return Reply(
            status=429, body=error_body("slow down", "rate_limit_error"), headers={"retry-after-ms": "5"}
        )

    with StubServer(behave) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=3, retries=2))
        )
        assert len(stub.chat_requests()) == 9  # 3 pages x (1 + 2 retries)
    _, rejects = accounted(tmp_path / "out", 3)
    assert {r["kind"] for r in rejects} == {"rate_limited"}
    assert all("after 3 tries" in r["reason"] and "slow down" in r["raw_response"] for r in rejects)
    assert report.requests["retries"] == {"rate_limited": 6}
    assert report.requests["failed"] == {"rate_limited": 3}


def test_429_then_success_is_retried(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    state = {"n": 0}

    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "POST":
            state["n"] += 1
            if state["n"] <= 3:
                return Reply(status=503 if state["n"] == 3 else 429, body=error_body("busy"))
        return good_answer(request)

    with StubServer(behave) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=1, retries=3))
        )
    qa, rejects = accounted(tmp_path / "out", 2)
    assert not rejects and qa
    assert report.requests["retries"] == {"rate_limited": 2, "server_error": 1}


def test_slow_responses_time_out_and_are_rejected(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    slow = lambda r: Reply(status=200, content="{}", delay=1.5) if r["method"] == "POST" else Reply()  # noqa: E731
    with StubServer(slow) as stub:
        start = time.perf_counter()
        report = generate_dataset(
            pages,
            tmp_path / "out",
            quiet(),
            EndpointGenerator(client(stub.url, concurrency=2, timeout=0.3, retries=1)),
        )
        assert time.perf_counter() - start < 5
    _, rejects = accounted(tmp_path / "out", 2)
    assert {r["kind"] for r in rejects} == {"timeout"}
    assert report.requests["retries"] == {"timeout": 2}


def test_invalid_and_ungrounded_responses_are_rejected_with_the_raw_text(tmp_path: Path) -> None:
    answers = {
        "0": "I'd rather not.",
        "1": '{"questions": [{"question": "Who makes it?", "answer": "Acme"}]}',
        "2": '{"result": []}',
        "3": "",
    }

    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "GET":
            return Reply()
        return Reply(answers[user_text(request["body"]).split("Item ", 1)[1][0]])

    pages = write_pages(tmp_path / "pages", 4)
    with StubServer(behave) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, retries=2))
        )
        assert len(stub.chat_requests()) == 3 + 1 + 3 + 3  # unusable replies are asked again (2 retries)
    _, rejects = accounted(tmp_path / "out", 4)
    kinds = {r["page_id"]: (r["kind"], r["raw_response"]) for r in rejects}
    # an empty message is an endpoint fault (retried, then rejected), with the reply as the raw response
    empty_message = kinds["p3"][1]
    assert kinds == {
        "p0": ("not_json", "I'd rather not."),
        "p1": ("not_grounded", answers["1"]),
        "p2": ("wrong_schema", answers["2"]),
        "p3": ("empty_reply", empty_message),
    }
    assert json.loads(empty_message)["choices"][0]["message"]["content"] == ""
    reasons = {r["page_id"]: r["reason"] for r in rejects}
    assert "the last of 3 tries" in reasons["p0"] and "empty_reply after 3 tries" in reasons["p3"]
    assert report.rejects_by_kind == {"not_json": 1, "not_grounded": 1, "wrong_schema": 1, "empty_reply": 1}
    assert report.requests["retries"] == {"content_not_json": 2, "content_wrong_schema": 2, "empty_reply": 2}
    assert report.requests["failed"] == {"empty_reply": 1}


def test_concurrency_keeps_that_many_requests_in_flight(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 8)

    def behave(request: dict[str, Any]) -> Reply:
        reply = good_answer(request)
        reply.delay = 0.2 if request["method"] == "POST" else 0.0
        return reply

    with StubServer(behave) as stub:
        report = generate_dataset(
            pages, tmp_path / "out", quiet(), EndpointGenerator(client(stub.url, concurrency=4))
        )
        assert stub.max_in_flight == 4
    assert report.requests["max_in_flight"] == 4 and report.requests["mean_in_flight"] > 2
    accounted(tmp_path / "out", 8)


def test_resume_skips_finished_pages_and_refuses_other_settings(tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 3)
    first = generate_dataset(pages, tmp_path / "out", quiet(), RulesGenerator())
    again = generate_dataset(pages, tmp_path / "out", quiet(), RulesGenerator())
    assert again.resumed == 3 and again.questions_written == first.questions_written
    accounted(tmp_path / "out", 3)
    with pytest.raises(JobStoreError, match="other settings"):
        generate_dataset(pages, tmp_path / "out", quiet(per_page=2), RulesGenerator())
    fresh = generate_dataset(pages, tmp_path / "out", quiet(per_page=2, resume=False), RulesGenerator())
    assert fresh.resumed == 0 and fresh.questions_written <= 6


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    n = 6
    pages = write_pages(tmp_path / "pages", n)
    out = tmp_path / "out"

    def behave(request: dict[str, Any]) -> Reply:
        reply = good_answer(request)
        reply.delay = 0.4 if request["method"] == "POST" else 0.0
        return reply

    with StubServer(behave) as stub:
        argv = ["generate", "--data", str(pages), "--out", str(out), "--endpoint", stub.url, "--model", "stub",
                "--concurrency", "1"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        code = "import sys; from domvqa_train.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env, stderr=subprocess.DEVNULL)
        progress = out / "progress.jsonl.partial"
        deadline = time.time() + 60
        while time.time() < deadline:
            if progress.is_file() and len(progress.read_bytes().splitlines()) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = len(progress.read_bytes().splitlines())
        assert 2 <= done_before < n and not (out / "qa.jsonl").exists()
        asked_before = len(stub.chat_requests())
        assert main(argv) == 0
        asked_after = len(stub.chat_requests()) - asked_before
    assert asked_after == n - done_before  # finished pages were not asked again
    qa, rejects = accounted(out, n)
    assert not rejects and len(qa) == 2 * n
    report = json.loads((out / "report.json").read_text())
    assert report["resumed"] == done_before and report["pages"] == n
