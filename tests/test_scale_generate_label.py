"""``generate --engine ray`` and ``label --engine ray`` write what the local engine writes.

One local Ray for the module (``ray.init(num_cpus=2)``, no dashboard). The generators and labellers
are the package's own (rules, an endpoint on 127.0.0.1, the tiny local model), because a Ray actor
must import what it runs.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from openai_stub import Reply, StubServer, error_body, user_text
from test_generate import good_answer, page, write_pages
from test_label import label_records, records

from domvqa_train.cli import main
from domvqa_train.common.endpoint import ChatClient, EndpointError, EndpointSettings
from domvqa_train.common.modelio import ModelLoadError
from domvqa_train.common.ray_engine import RayEngineError
from domvqa_train.data.generate import EndpointGenerator, GenerateSettings, RulesGenerator, generate_dataset
from domvqa_train.data.label import (
    EndpointPolicy,
    LabelSettings,
    LLMJudge,
    LocalPolicy,
    PolicyModel,
    label_dataset,
)
from domvqa_train.prompts.prepare import PrepareSettings

ray = pytest.importorskip("ray", reason="the [scale] extra (ray[data]) is not installed")

RUN_FIELDS = ("out_dir", "seconds", "pages_per_second", "records_per_second", "attempts_per_second")
"""Report fields that differ between any two runs (where and how fast)."""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def outputs(folder: Path, files: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Lines files byte for byte, and the report without its timing, folder and engine."""
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    for name in RUN_FIELDS:
        report.pop(name, None)
    for name in ("engine", "workers", "ray_address"):
        report["settings"].pop(name)
    report.pop("histogram_png", None)
    report.get("requests", {}).pop("clients", None)
    for name in ("mean_in_flight", "busy_seconds", "max_in_flight"):
        report.get("requests", {}).pop(name, None)
    return {"files": {name: (folder / name).read_bytes() for name in files}, "report": report}


GENERATE_FILES = ("qa.jsonl", "rejects.jsonl", "progress.jsonl")
LABEL_FILES = ("labels.jsonl", "rejects.jsonl", "progress.jsonl")


def on_ray(settings: Any, workers: int = 2) -> Any:
    return settings.model_copy(update={"engine": "ray", "workers": workers})


def client(url: str, **values: Any) -> ChatClient:
    return ChatClient(EndpointSettings(url=url, model="stub", backoff=0.01, **values))


def endpoint_generator(url: str, **values: Any) -> EndpointGenerator:
    return EndpointGenerator(client(url, **values))


def pages_with_rejects(folder: Path, n: int) -> Path:
    """``n`` product pages, an empty page (a read reject) and one the rules find no fact in."""
    write_pages(folder, n)
    (folder / "empty.html").write_text("  ", encoding="utf-8")
    (folder / "prose.html").write_text(
        "<html><body><p>Nothing to ask here.</p></body></html>", encoding="utf-8"
    )
    return folder


# --------------------------------------------------------------------------- generate


@pytest.mark.slow
def test_generate_on_ray_writes_the_local_engines_bytes_and_resumes_the_same_way(
    local_ray, tmp_path: Path
) -> None:
    pages = pages_with_rejects(tmp_path / "pages", 20)
    half = write_pages(tmp_path / "half", 6)  # the same ids and pages: a second run resumes these
    settings = GenerateSettings(per_page=3, progress=False)
    runs = {}
    for engine_settings, out in ((settings, "local"), (on_ray(settings), "ray")):
        generate_dataset(half, tmp_path / out, engine_settings, RulesGenerator())
        runs[out] = outputs(tmp_path / out, GENERATE_FILES)
        runs[out, "all"] = generate_dataset(pages, tmp_path / out, engine_settings, RulesGenerator())
    assert runs["local"] == runs["ray"]
    local, remote = runs["local", "all"], runs["ray", "all"]
    assert local.pages == remote.pages == 22 and local.pages_rejected == 2 and local.questions_written > 40
    assert remote.resumed == 6 and remote.settings["engine"] == "ray" and remote.requests == {}
    assert outputs(tmp_path / "local", GENERATE_FILES) == outputs(tmp_path / "ray", GENERATE_FILES)
    again = generate_dataset(pages, tmp_path / "local", on_ray(settings), RulesGenerator())
    assert again.resumed == 22  # a folder resumes under the other engine


@pytest.mark.slow
def test_endpoint_generate_on_ray_adds_up_the_actors_requests(local_ray, tmp_path: Path) -> None:
    n = 20  # more pages than one batch (8 with concurrency 2)
    pages = write_pages(tmp_path / "pages", n)
    settings = GenerateSettings(per_page=3, progress=False)
    prices = {"price_input": 2.0, "price_output": 10.0}
    with StubServer(good_answer) as stub:
        local = generate_dataset(
            pages, tmp_path / "local", settings, endpoint_generator(stub.url, concurrency=2, **prices)
        )
        remote = generate_dataset(
            pages, tmp_path / "ray", on_ray(settings), endpoint_generator(stub.url, concurrency=2, **prices)
        )
        assert len(stub.chat_requests()) == 2 * n
    assert outputs(tmp_path / "local", GENERATE_FILES) == outputs(tmp_path / "ray", GENERATE_FILES)
    requests = remote.requests
    assert (requests["requests"], requests["succeeded"], requests["failed"]) == (n, n, {})
    assert (requests["prompt_tokens"], requests["completion_tokens"]) == (11 * n, 7 * n)  # the stub's usage
    assert (
        requests["cost_usd"]
        == pytest.approx((11 * n * 2.0 + 7 * n * 10.0) / 1e6)
        == local.requests["cost_usd"]
    )
    # Ray may hand every batch to one actor, so the number of clients is not pinned; each client has at
    # most its concurrency (2) in flight, and at least one request while it is busy
    assert 1 <= requests["mean_in_flight"] <= requests["max_in_flight"] <= 2
    assert requests["busy_seconds"] > 0


@pytest.mark.slow
def test_a_401_inside_an_actor_stops_the_run_with_the_local_message(local_ray, tmp_path: Path) -> None:
    pages = write_pages(tmp_path / "pages", 24)
    state = {"allowed": 3}

    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "POST":
            state["allowed"] -= 1
            if state["allowed"] < 0:
                return Reply(status=401, body=error_body("key revoked", "authentication_error"))
        return good_answer(request)

    settings = GenerateSettings(per_page=3, progress=False)
    messages = []
    with StubServer(behave) as stub:
        for engine_settings, out in ((settings, "local"), (on_ray(settings), "ray")):
            state["allowed"] = 3
            with pytest.raises(EndpointError) as caught:
                generate_dataset(pages, tmp_path / out, engine_settings, endpoint_generator(stub.url))
            messages.append(str(caught.value))
        state["allowed"] = 10**6
        report = generate_dataset(pages, tmp_path / "ray", on_ray(settings), endpoint_generator(stub.url))
    assert messages[0] == messages[1] and "refused the API key (401)" in messages[0]
    assert report.pages == 24 and report.pages_rejected == 0 and report.resumed <= 3
    qa = [json.loads(line) for line in (tmp_path / "ray" / "qa.jsonl").read_text().splitlines()]
    assert len({r["page_id"] for r in qa}) == 24 and len({r["id"] for r in qa}) == len(qa)


# --------------------------------------------------------------------------- label


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from domvqa_train.testing.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2")


@pytest.mark.slow
def test_label_on_ray_with_the_tiny_model_gives_the_local_labels(
    local_ray, tmp_path: Path, tiny_model: Path
) -> None:
    """Sampled attempts (temperature 1) are seeded per batch from the seed and the batch's prompts."""
    source = label_records(tmp_path, 7)
    argv = ["label", "--data", str(source), "--model", str(tiny_model), "--attempts", "2", "--max-new-tokens", "5",
            "--temperature", "1.0", "--batch-size", "3", "--set", "prompt_budget=256", "--set", "dtype=float32"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    local, remote = outputs(tmp_path / "local", LABEL_FILES), outputs(tmp_path / "ray", LABEL_FILES)
    assert local == remote
    assert (local["report"]["labelled"], local["report"]["rejected"]) == (7, 2)
    completions = [
        json.loads(x)["label_completions"]["dom"] for x in local["files"]["labels.jsonl"].splitlines()
    ]
    assert len({c for pair in completions for c in pair}) > 7  # sampled text, not one greedy answer repeated


@pytest.mark.slow
def test_label_on_ray_with_an_endpoint_resumes_and_adds_up_requests(local_ray, tmp_path: Path) -> None:
    def behave(request: dict[str, Any]) -> Reply:
        if request["method"] == "GET":
            return Reply()
        text = user_text(request["body"])
        if text.startswith("Question:"):  # the judge: asked about r0, r3, r6; says r3's answer is right
            return Reply("yes" if "What is code 3?" in text else "no")
        code = text.split("What is code ", 1)[1].split("?", 1)[0]
        return Reply(rf"\boxed{{C{code}}}" if int(code) % 3 else r"\boxed{C1}")

    source = label_records(tmp_path, 9)
    half = tmp_path / "half.jsonl"
    half.write_text("".join(source.read_text().splitlines(True)[:4]), encoding="utf-8")
    settings = LabelSettings(attempts=2, batch_size=2, progress=False)
    prepare = PrepareSettings(prompt_budget=60, progress=False)
    reports = {}
    with StubServer(behave) as stub:
        for engine_settings, out in ((settings, "local"), (on_ray(settings), "ray")):
            for data in (half, source):
                policy = EndpointPolicy(client(stub.url, concurrency=2))
                judge = LLMJudge(client(stub.url))
                reports[out] = label_dataset(data, tmp_path / out, policy, engine_settings, prepare, judge)
    assert outputs(tmp_path / "local", LABEL_FILES) == outputs(tmp_path / "ray", LABEL_FILES)
    report = reports["ray"]
    assert (report.resumed, report.labelled, report.rejected) == (4, 9, 2)
    assert report.requests["requests"] == report.requests["succeeded"] == 2 * 5  # the 5 records of this run
    assert report.judge == reports["local"].judge and report.judge["calls"] > 0


@pytest.mark.slow
def test_a_model_that_cannot_load_in_an_actor_stops_the_run(local_ray, tmp_path: Path) -> None:
    source = records(tmp_path, 2)
    policy = LocalPolicy(PolicyModel(str(tmp_path / "no-model"), dtype="float32"))
    settings = LabelSettings(attempts=1, progress=False, engine="ray", workers=1)
    with pytest.raises(ModelLoadError, match="cannot load the config"):
        label_dataset(
            source, tmp_path / "out", policy, settings, PrepareSettings(prompt_budget=60, progress=False)
        )


# --------------------------------------------------------------------------- what travels to the actors


def test_a_loaded_local_policy_is_refused_instead_of_sent_with_its_weights(tmp_path: Path) -> None:
    class Loaded:  # stands for a LoadedModel: the check happens before anything is loaded or sent
        name, processor = "m", None

    settings = LabelSettings(progress=False, engine="ray")
    with pytest.raises(RayEngineError, match="PolicyModel"):
        label_dataset(
            records(tmp_path, 1), tmp_path / "out", LocalPolicy(Loaded()), settings, PrepareSettings()
        )
    assert not (tmp_path / "out" / "labels.jsonl").exists()
    lazy = pickle.loads(pickle.dumps(LocalPolicy(PolicyModel("folder", dtype="float32"))))
    assert (lazy.source, lazy.loaded, lazy.takes_images) == (
        PolicyModel("folder", dtype="float32"),
        None,
        False,
    )


def test_a_client_pickles_as_its_settings(tmp_path: Path) -> None:
    original = client("http://127.0.0.1:9/v1", concurrency=3)
    original.stats.requests = 5
    copy = pickle.loads(pickle.dumps(original))
    assert copy.settings == original.settings and copy.stats.requests == 0 and copy is not original


@pytest.mark.slow
def test_seeded_sampling_repeats_and_leaves_the_global_random_state(tiny_model: Path) -> None:
    import torch

    from domvqa_train.common.modelio import generate, load_for_inference

    loaded = load_for_inference(str(tiny_model), dtype="float32")
    prompts = [[{"role": "user", "content": page(i)}] for i in range(3)]
    state = torch.random.get_rng_state()
    runs = [generate(loaded, prompts, max_new_tokens=5, temperature=1.0, seed=s) for s in (1, 1, 2)]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert runs[0] == runs[1] != runs[2]
