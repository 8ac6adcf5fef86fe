"""The endpoint client against a real OpenAI-compatible server: ``transformers serve`` with a tiny random model.

The server starts once per session (about 6 s on 2 CPU cores) on a free port of 127.0.0.1 and is
stopped at the end. A random model writes junk, which is the test of the reject path: every page is
accounted for, each reject with its reason and the raw response.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from domvqa_train.common.endpoint import ChatClient, EndpointError, EndpointSettings
from domvqa_train.data.generate import EndpointGenerator, GenerateSettings, generate_dataset
from domvqa_train.data.label import EndpointPolicy, LabelSettings, attempt_passes, label_dataset
from domvqa_train.prompts.prepare import PrepareSettings
from domvqa_train.testing.local_server import serve_locally

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(base URL, model name)`` of ``transformers serve`` running a tiny random Qwen2 model."""
    for module in ("fastapi", "uvicorn"):
        pytest.importorskip(
            module, reason="transformers serve needs transformers[serving] (pip install -e '.[dev]')"
        )
    from domvqa_train.testing.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("serve")
    model = build_tiny_model(root / "tiny")
    with serve_locally(model, log_path=root / "serve.log") as url:
        yield url, str(model)


def pages(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        html = f"<html><body><h1>Item {i}</h1><table><tr><th>Price</th><td>${i + 5}</td></tr></table></body></html>"
        (folder / f"p{i}.html").write_text(html, encoding="utf-8")
    return folder


def test_check_lists_the_served_model(served: tuple[str, str]) -> None:
    url, model = served
    assert model in ChatClient(EndpointSettings(url=url, model=model)).check()
    with pytest.raises(EndpointError, match="does not serve"):
        ChatClient(EndpointSettings(url=url, model="another-model")).check()


def test_generate_accounts_for_every_page_of_junk(served: tuple[str, str], tmp_path: Path) -> None:
    url, model = served
    client = ChatClient(EndpointSettings(url=url, model=model, concurrency=2, timeout=60))
    settings = GenerateSettings(per_page=3, max_tokens=24, temperature=1.0, progress=False)
    report = generate_dataset(
        pages(tmp_path / "pages", 4), tmp_path / "out", settings, EndpointGenerator(client)
    )
    qa = [json.loads(x) for x in (tmp_path / "out" / "qa.jsonl").read_text().splitlines()]
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) + len({r["page_id"] for r in qa}) == 4 == report.pages
    assert rejects, "a random model's text should not pass as grounded questions"
    for reject in rejects:
        assert reject["kind"] in {"not_json", "wrong_schema", "not_grounded", "empty"}
        assert reject["reason"] and isinstance(reject["raw_response"], str)
    assert report.requests["succeeded"] == 4 and report.requests["failed"] == {}
    assert report.prompt_tokens > 0 and 0 < report.completion_tokens <= 4 * 24


def test_label_with_the_served_model(served: tuple[str, str], tmp_path: Path) -> None:
    url, model = served
    lines = [
        {
            "id": f"r{i}",
            "cleaned_html": f"<p>Code: C{i}</p>",
            "question": f"What is code {i}?",
            "answer": f"C{i}",
        }
        for i in range(2)
    ]
    data = tmp_path / "records.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    policy = EndpointPolicy(ChatClient(EndpointSettings(url=url, model=model, concurrency=2)))
    settings = LabelSettings(attempts=2, max_new_tokens=8, progress=False)
    report = label_dataset(data, tmp_path / "out", policy, settings, PrepareSettings(prompt_budget=400))
    assert report.labelled == 2 and report.attempts == 4 and report.requests["succeeded"] == 4
    rows = [json.loads(x) for x in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["r0", "r1"]
    for row in rows:
        # two served completions per record, and the difficulty is the share of them that pass when rescored
        completions = row["label_completions"]["dom"]
        assert len(completions) == 2 and all(isinstance(c, str) for c in completions)
        passed = sum(attempt_passes(c, row["answers"], row["question"]) for c in completions)
        assert (row["dom_passes"], row["dom_difficulty"]) == (passed, passed / 2)
    assert report.dom_histogram == dict(Counter(f"{r['dom_difficulty']:g}" for r in rows))


def test_a_killed_parent_leaves_no_server(served: tuple[str, str]) -> None:
    """``serve_locally``'s server stops when the process that started it dies, even by SIGKILL (Linux)."""
    import signal
    import subprocess
    import sys
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    code = (
        "import sys, time\nfrom domvqa_train.testing.local_server import serve_locally\n"
        "with serve_locally(sys.argv[1]) as url:\n    print(url, flush=True)\n    time.sleep(300)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, served[1]], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None and parent.stdout.readline().startswith("http://127.0.0.1:")
    children = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
    assert children
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    alive = [
        c
        for c in children
        if Path(f"/proc/{c}").exists() and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z"
    ]
    assert not alive, f"server process(es) {alive} outlived their parent"
