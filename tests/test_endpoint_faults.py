"""Endpoint faults (tests/fault_server.py) through ``generate`` and ``label``: retried, counted, rejected alone, resumable.

Every fault a request can meet -- 429 (with and without Retry-After), 500/502/503, a hang past the
client's timeout, a connection dropped before or in the middle of the body, a 200 whose body is cut
off, empty or not JSON, a completion without choices or with an empty message, and (for ``generate``)
content that is not the JSON asked for -- is retried, counted under its kind in report.json, and
rejects only its own page or record once it outlasts the retries. A mixed seeded stream of faults
over a run killed with SIGKILL and resumed leaves every input exactly once in the outputs or the
rejects, and the same files as a run that was not interrupted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fault_server import ENDPOINT_FAULTS, FAULTS, RETRY_KIND, FaultServer, Script, seeded_plan
from openai_stub import user_text

from domvqa_train.cli import main
from domvqa_train.common.endpoint import ChatClient, EndpointSettings
from domvqa_train.data.generate import EndpointGenerator, GenerateSettings, generate_dataset
from domvqa_train.data.label import EndpointPolicy, LabelSettings, label_dataset
from domvqa_train.prompts.prepare import PrepareSettings

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 1.0  # the client's; a hang lasts longer (HANG)
HANG = 3.0
RETRIES = 2

#: The kind of a page's or record's reject when the fault outlasts the retries, and what its reason says.
REJECT = {
    "rate_limited": ("rate_limited", "429"),
    "rate_limited_retry_after": ("rate_limited", "429"),
    "http_500": ("server_error", "500"),
    "http_502": ("server_error", "502"),
    "http_503": ("server_error", "503"),
    "hang": ("timeout", "timed out"),
    "drop": ("connection_error", "Connection error"),
    "drop_mid_body": ("connection_error", "Connection error"),
    "truncated_json": ("malformed_reply", "cut off or not JSON"),
    "empty_body": ("empty_reply", "empty body"),
    "not_json": ("malformed_reply", "cut off or not JSON"),
    "not_json_html": ("malformed_reply", "not a JSON completion"),
    "no_choices": ("empty_reply", "no choices"),
    "empty_message": ("empty_reply", "empty message"),
    "bad_content": ("not_json", "no JSON object"),
}


# --------------------------------------------------------------------------- generate's pages


def page(i: int) -> str:
    return (
        f"<html><head><title>Shop {i}</title></head><body><h1>Item {i}</h1>"
        f"<table><tr><th>Price</th><td>${10 + i}.00</td></tr><tr><th>Colour</th><td>Red{i}</td></tr></table>"
        "</body></html>"
    )


def write_pages(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"p{i:02d}.html").write_text(page(i), encoding="utf-8")
    return folder


def page_key(request: dict[str, Any]) -> str:
    return "p{:02d}".format(int(user_text(request["body"]).split("Item ", 1)[1].split("<", 1)[0]))


def page_answer(request: dict[str, Any]) -> str:
    """Two grounded questions about the page in the prompt."""
    i = int(page_key(request)[1:])
    questions = [
        {"question": "What does the item cost?", "answer": f"${10 + i}.00", "answer_type": "number",
         "source": "dom", "evidence": f"${10 + i}.00"},
        {"question": "Which colour is it?", "answer": f"Red{i}", "answer_type": "word", "source": "dom",
         "evidence": f"Red{i}"},
    ]  # fmt: skip
    return json.dumps({"reasoning": f"page {i}", "questions": questions})


def rows(path: Path) -> list[dict[str, Any]]:
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    )


def generated(out: Path, n_pages: int) -> tuple[list[dict], list[dict]]:
    """Every page is in qa.jsonl or rejects.jsonl, exactly once, and no id repeats; returns both."""
    qa, rejects = rows(out / "qa.jsonl"), rows(out / "rejects.jsonl")
    pages_with_qa = {r["page_id"] for r in qa}
    rejected = [r["page_id"] for r in rejects]
    assert len(rejected) == len(set(rejected)) and not pages_with_qa & set(rejected)
    assert sorted(pages_with_qa | set(rejected)) == [f"p{i:02d}" for i in range(n_pages)]
    assert len({r["id"] for r in qa}) == len(qa)
    assert all(r["kind"] and r["reason"] for r in rejects)
    return qa, rejects


def client(url: str, **values: Any) -> ChatClient:
    settings = {"backoff": 0.01, "timeout": TIMEOUT, "retries": RETRIES, "concurrency": 2, **values}
    return ChatClient(EndpointSettings(url=url, model="stub", **settings))


def generate(pages: Path, out: Path, server: FaultServer, **values: Any) -> dict[str, Any]:
    generate_dataset(
        pages, out, GenerateSettings(progress=False), EndpointGenerator(client(server.url, **values))
    )
    return json.loads((out / "report.json").read_text())


# --------------------------------------------------------------------------- label's records


PREPARE = PrepareSettings(prompt_budget=600, progress=False)


def write_records(path: Path, n: int) -> Path:
    lines = [
        {"id": f"r{i:02d}", "cleaned_html": f"<html><body><p>Code: C{i}</p></body></html>",
         "question": f"What is code {i}?", "answer": f"C{i}"}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def record_key(request: dict[str, Any]) -> str:
    return "r{:02d}".format(int(re.search(r"What is code (\d+)\?", user_text(request["body"])).group(1)))


def record_answer(request: dict[str, Any]) -> str:
    """The right boxed answer, except for every third record."""
    i = int(record_key(request)[1:])
    return rf"It is \boxed{{C{i}}}" if i % 3 else r"\boxed{no idea}"


def label(source: Path, out: Path, server: FaultServer, **values: Any) -> dict[str, Any]:
    settings = LabelSettings(attempts=2, batch_size=4, progress=False)
    label_dataset(source, out, EndpointPolicy(client(server.url, **values)), settings, PREPARE)
    return json.loads((out / "report.json").read_text())


def labelled(out: Path, n_records: int) -> tuple[list[dict], list[dict]]:
    """Every record is in labels.jsonl or rejects.jsonl, exactly once; returns both."""
    labels, rejects = rows(out / "labels.jsonl"), rows(out / "rejects.jsonl")
    ids = [r["id"] for r in labels + rejects]
    assert sorted(ids) == [f"r{i:02d}" for i in range(n_records)]
    return labels, rejects


# --------------------------------------------------------------------------- (a) retried, then succeeds


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_retried_then_succeeds_and_is_counted_under_its_kind(
    tmp_path: Path, fault: str
) -> None:
    pages = write_pages(tmp_path / "pages", 2)
    with FaultServer(page_answer, page_key, {"p00": Script((fault,))}, hang=HANG) as server:
        report = generate(pages, tmp_path / "out", server)
        assert server.faults_served() == {fault: 1, "ok": 2}
    qa, rejects = generated(tmp_path / "out", 2)
    assert not rejects and len(qa) == 4
    assert report["requests"]["retries"] == {RETRY_KIND[fault]: 1}
    assert report["requests"]["failed"] == {} and report["requests"]["requests"] == 3


@pytest.mark.parametrize("fault", [f for f in ENDPOINT_FAULTS if f != "empty_message"])
def test_each_endpoint_fault_in_label_is_retried_then_succeeds_and_is_counted(
    tmp_path: Path, fault: str
) -> None:
    source = write_records(tmp_path / "records.jsonl", 2)
    with FaultServer(record_answer, record_key, {"r01": Script((fault,))}, hang=HANG) as server:
        report = label(source, tmp_path / "out", server)
        assert server.faults_served() == {fault: 1, "ok": 4}
    labels, rejects = labelled(tmp_path / "out", 2)
    assert not rejects and [r["dom_difficulty"] for r in labels] == [0.0, 1.0]
    assert report["requests"]["retries"] == {RETRY_KIND[fault]: 1} and report["requests"]["failed"] == {}


def test_label_counts_an_empty_completion_as_a_failed_attempt_not_a_retry(tmp_path: Path) -> None:
    """A policy that answers nothing failed that attempt (as in training); asking again would flatter it."""
    source = write_records(tmp_path / "records.jsonl", 2)
    with FaultServer(record_answer, record_key, {"r01": Script(("empty_message",))}) as server:
        report = label(source, tmp_path / "out", server, concurrency=1)
        assert server.faults_served() == {"empty_message": 1, "ok": 3}
    labels, rejects = labelled(tmp_path / "out", 2)
    assert not rejects and labels[1]["label_completions"]["dom"] == ["", r"It is \boxed{C1}"]
    assert labels[1]["dom_difficulty"] == 0.5 and report["requests"]["retries"] == {}


def test_a_reply_cut_at_max_tokens_is_not_asked_again(tmp_path: Path) -> None:
    """Content cut off by the token limit would be cut again: generate rejects it at once, with the text."""
    pages = write_pages(tmp_path / "pages", 1)
    with FaultServer(page_answer, page_key, {"p00": Script(("cut_at_max_tokens",))}) as server:
        report = generate(pages, tmp_path / "out", server)
        assert server.faults_served() == {"cut_at_max_tokens": 1}
    _, rejects = generated(tmp_path / "out", 1)
    assert [r["kind"] for r in rejects] == ["not_json"] and rejects[0]["raw_response"].startswith(
        '{"reasoning"'
    )
    assert "stopped at max_tokens=4096" in rejects[0]["reason"]
    assert report["requests"]["retries"] == {} and report["requests"]["succeeded"] == 1


# --------------------------------------------------------------------------- (b) persistent: rejected alone


def test_persistent_faults_reject_only_their_own_page_with_a_reason_naming_the_fault(tmp_path: Path) -> None:
    n = len(FAULTS) + 3
    pages = write_pages(tmp_path / "pages", n)
    faulty = {f"p{i:02d}": fault for i, fault in enumerate(FAULTS, start=2)}  # p00, p01 and the last clean
    plan = {key: Script(forever=fault) for key, fault in faulty.items()}
    with FaultServer(page_answer, page_key, {}) as clean:
        generate(pages, tmp_path / "clean", clean, retries=1)
    with FaultServer(page_answer, page_key, plan, hang=HANG) as server:
        report = generate(pages, tmp_path / "out", server, retries=1, concurrency=4)
        served = server.faults_served()
    qa, rejects = generated(tmp_path / "out", n)
    assert served == {**dict.fromkeys(FAULTS, 2), "ok": n - len(FAULTS)}  # each tried 1 + 1 retry
    by_page = {r["page_id"]: r for r in rejects}
    assert set(by_page) == set(faulty)
    for key, fault in faulty.items():
        kind, says = REJECT[fault]
        assert by_page[key]["kind"] == kind and says in by_page[key]["reason"], (fault, by_page[key])
        if fault != "bad_content":
            assert by_page[key]["reason"].startswith(f"{kind} after 2 tries")
    prose = next(key for key, fault in faulty.items() if fault == "bad_content")
    assert "the last of 2 tries" in by_page[prose]["reason"]
    clean_qa = rows(tmp_path / "clean" / "qa.jsonl")
    assert qa == [r for r in clean_qa if r["page_id"] not in faulty]  # the other pages: as without faults
    expected_failed = Counter(REJECT[fault][0] for fault in ENDPOINT_FAULTS)
    assert report["requests"]["failed"] == expected_failed
    assert report["requests"]["retries"] == {**Counter(RETRY_KIND[f] for f in FAULTS)}  # one retry each
    assert report["rejects_by_kind"] == {**expected_failed, "not_json": 1}


def test_a_persistent_fault_in_label_rejects_its_record_and_not_its_batch(tmp_path: Path) -> None:
    faults = [f for f in ENDPOINT_FAULTS if f not in ("empty_message", "hang")]  # hang: covered by generate
    n = 2 * len(faults)
    source = write_records(tmp_path / "records.jsonl", n)
    # every other record: each batch of 4 has 2 faulty records and 2 clean ones
    faulty = {f"r{2 * i + 1:02d}": fault for i, fault in enumerate(faults)}
    with FaultServer(record_answer, record_key, {}) as clean:
        label(source, tmp_path / "clean", clean, retries=1)
    with FaultServer(record_answer, record_key, {k: Script(forever=f) for k, f in faulty.items()}) as server:
        report = label(source, tmp_path / "out", server, retries=1, concurrency=4)
    labels, rejects = labelled(tmp_path / "out", n)
    by_id = {r["id"]: r for r in rejects}
    assert set(by_id) == set(faulty)
    for key, fault in faulty.items():
        kind, says = REJECT[fault]
        assert by_id[key]["kind"] == kind and says in by_id[key]["reason"], (fault, by_id[key])
    clean_labels = rows(tmp_path / "clean" / "labels.jsonl")
    assert labels == [
        r for r in clean_labels if r["id"] not in faulty
    ]  # batch mates labelled as without faults
    assert report["labelled"] == n - len(faults) and report["rejected"] == len(faults)
    assert sum(report["requests"]["failed"].values()) == 2 * len(faults)  # both attempts of each, for good


# --------------------------------------------------------------------------- (c) killed and resumed


def run_killed(argv: list[str], progress: Path, at_least: int, total: int) -> int:
    """Run the CLI with ``argv`` in a subprocess and SIGKILL it once ``progress`` has ``at_least`` lines; returns them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from domvqa_train.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if progress.is_file() and len(progress.read_bytes().splitlines()) >= at_least:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    done = len(progress.read_bytes().splitlines()) if progress.is_file() else 0
    assert at_least <= done < total, f"killed after {done} of {total}: tune the delay"
    return done


def endpoint_argv(url: str) -> list[str]:
    return ["--endpoint", url, "--model", "stub", "--concurrency", "2", "--retries", str(RETRIES),
            "--backoff", "0.01", "--timeout", str(TIMEOUT)]  # fmt: skip


def test_generate_killed_in_a_fault_storm_resumes_with_every_page_once_and_the_uninterrupted_outputs(
    tmp_path: Path,
) -> None:
    n = 16
    pages = write_pages(tmp_path / "pages", n)
    keys = [f"p{i:02d}" for i in range(n)]
    persistent = ("http_503", "drop", "truncated_json", "bad_content")
    plan = seeded_plan(keys, 11, retries=RETRIES, persistent=persistent, persistent_share=0.2)
    transient = [fault for script in plan.values() for fault in script.faults]
    assert {s.forever for s in plan.values()} - {None} == set(
        persistent
    )  # a mixed stream: 5 pages fail for good,
    assert len(transient) >= 12 and len(set(transient)) >= 10  # 12 faults of 11 kinds come and go
    out, reference = tmp_path / "out", tmp_path / "reference"
    with FaultServer(page_answer, page_key, plan, hang=HANG, delay=0.15) as server:
        argv = ["generate", "--data", str(pages), "--out", str(out), *endpoint_argv(server.url)]
        done = run_killed(argv, out / "progress.jsonl.partial", 4, n)
        assert main(argv) == 0
        resumed = json.loads((out / "report.json").read_text())
    with FaultServer(page_answer, page_key, plan, hang=HANG) as server:
        argv = ["generate", "--data", str(pages), "--out", str(reference), *endpoint_argv(server.url)]
        assert main(argv) == 0
    qa, rejects = generated(out, n)
    assert resumed["resumed"] == done and resumed["pages"] == n
    assert {r["page_id"] for r in rejects} == {k for k, s in plan.items() if s.forever}
    assert len(qa) == 2 * (n - len(rejects))  # both questions of every other page
    for name in ("qa.jsonl", "rejects.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_label_killed_in_a_fault_storm_resumes_with_every_record_once_and_the_uninterrupted_outputs(
    tmp_path: Path,
) -> None:
    n = 14
    source = write_records(tmp_path / "records.jsonl", n)
    keys = [f"r{i:02d}" for i in range(n)]
    faults = [f for f in ENDPOINT_FAULTS if f != "empty_message"]  # an empty completion is an attempt
    persistent = ("http_502", "drop_mid_body")
    plan = seeded_plan(keys, 2, retries=RETRIES, faults=faults, persistent=persistent, persistent_share=0.2)
    transient = [fault for script in plan.values() for fault in script.faults]
    assert {s.forever for s in plan.values()} - {None} == set(persistent)  # 3 records fail for good,
    assert len(transient) >= 12 and len(set(transient)) >= 10  # 13 faults of 10 kinds come and go
    out, reference = tmp_path / "out", tmp_path / "reference"
    common = ["--attempts", "2", "--batch-size", "2", "--set", "prompt_budget=600", "--no-images"]
    with FaultServer(record_answer, record_key, plan, hang=HANG, delay=0.1) as server:
        argv = ["label", "--data", str(source), "--out", str(out), *common, *endpoint_argv(server.url)]
        done = run_killed(argv, out / "progress.jsonl.partial", 4, n)
        assert main(argv) == 0
        resumed = json.loads((out / "report.json").read_text())
    with FaultServer(record_answer, record_key, plan, hang=HANG) as server:
        argv = ["label", "--data", str(source), "--out", str(reference), *common, *endpoint_argv(server.url)]
        assert main(argv) == 0
    labels, rejects = labelled(out, n)
    assert resumed["resumed"] == done and resumed["records"] == n
    assert {r["id"] for r in rejects} == {k for k, s in plan.items() if s.forever}
    assert all(r["dom_difficulty"] == (1.0 if int(r["id"][1:]) % 3 else 0.0) for r in labels)
    for name in ("labels.jsonl", "rejects.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
