"""Screenshot runs end to end on a tiny Qwen2.5-VL: prepare -> GRPO with images -> reload -> generate with images.

Without torchvision this goes through modelio's image-and-text processor; either way the vision tower must see
the screenshots, in training and in generation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import BUDGET, SAMPLES, text_hash_reward, tiny_run_settings

from domvqa_train.common.modelio import generate, load_for_inference
from domvqa_train.prompts.prepare import PrepareSettings, load_prepared, prepare_dataset
from domvqa_train.testing.tiny import build_tiny_model
from domvqa_train.training.settings import TrainSettings
from domvqa_train.training.train import TrlGrpoBackend

#: (width, height) of each example's screenshot; all within the tiny processor's pixel range
SIZES = [(56, 56), (112, 84), (84, 112), (112, 112), (70, 98), (98, 70)]


def _with_screenshots(tmp_path: Path, relative: bool = False) -> Path:
    """The sample conversations, each with its own small PNG screenshot (absolute paths, or relative to
    the data file's folder)."""
    from PIL import Image, ImageDraw

    records = json.loads(SAMPLES.read_text(encoding="utf-8"))
    assert len(records) == len(SIZES)
    for i, (record, size) in enumerate(zip(records, SIZES, strict=True)):
        image = Image.new("RGB", size, (255, 255, 255))
        ImageDraw.Draw(image).rectangle((4, 4, size[0] // 2, size[1] // 3), fill=(40 * i, 90, 200 - 30 * i))
        path = tmp_path / "shots" / f"page{i}.png"
        path.parent.mkdir(exist_ok=True)
        image.save(path)
        record["screenshot"] = str(path.relative_to(tmp_path)) if relative else str(path)
    source = tmp_path / "with_screenshots.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    return source


class VisionCalls:
    """Counts forward calls of a vision tower and the images (``grid_thw`` rows) they carried."""

    def __init__(self, model) -> None:
        visual = next(m for name, m in model.named_modules() if name.endswith("visual"))
        self.calls = self.images = 0
        self.handle = visual.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, _module, args, kwargs) -> None:
        pixels = args[0] if args else kwargs.get("hidden_states")
        grid = args[1] if len(args) > 1 else kwargs.get("grid_thw")
        if pixels is not None and pixels.numel() > 0:
            self.calls += 1
            self.images += int(grid.shape[0])


@pytest.mark.slow
def test_grpo_with_screenshots_feeds_images_to_the_vision_tower(tmp_path, monkeypatch, capsys) -> None:
    from safetensors.torch import load_file

    from domvqa_train.cli import main

    source = _with_screenshots(tmp_path, relative=True)  # paths relative to the data file's folder
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    prepared = tmp_path / "prepared"
    report = prepare_dataset(source, prepared, PrepareSettings(prompt_budget=BUDGET, progress=False))
    assert report.written == {"test": 2, "train": 4}
    model_dir = build_tiny_model(tmp_path / "model", "qwen2_5_vl")
    settings = tiny_run_settings(
        model_dir, prepared, tmp_path / "run", use_screenshots=True, max_completion_length=6, save_steps=2
    )
    backend = TrlGrpoBackend(settings, reward_funcs=[text_hash_reward])
    backend.prepare_model()
    assert hasattr(backend.processor, "image_processor")
    seen = VisionCalls(backend.model)
    train_report = backend.train()
    seen.handle.remove()

    assert train_report.steps == 2
    # each step: one generation call and at least one log-prob forward, each with the step's screenshots
    assert seen.calls >= 2 * train_report.steps and seen.images >= seen.calls
    adapter = Path(train_report.adapter_dir)
    for name in ("adapter_model.safetensors", "processor_config.json", "preprocessor_config.json"):
        assert (adapter / name).is_file(), name
    tensors = load_file(adapter / "adapter_model.safetensors")
    lora_b = [v for k, v in tensors.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b), "LoRA B is still zero: training changed nothing"
    assert not any("visual" in k for k in tensors), "LoRA must not touch the vision tower"

    loaded = load_for_inference(str(adapter), images=True)
    assert loaded.processor is not None and loaded.is_vision_language
    test = load_prepared(prepared, "test")
    from PIL import Image

    images = [Image.open(tmp_path / p).convert("RGB") for p in test["screenshot"]]
    seen = VisionCalls(loaded.model)
    out = generate(loaded, test["prompt"], images=images, max_new_tokens=4, batch_size=2)
    seen.handle.remove()
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert seen.calls >= 1 and seen.images == 2, "generation did not give both screenshots to the model"
    del loaded

    # the CLI's eval and test find the relative screenshots too (prepared data, and raw examples)
    common = [
        "--prepared-dir",
        str(prepared),
        "--set",
        "use_screenshots=true",
        "--set",
        "max_completion_length=4",
    ]
    assert main(["eval", str(adapter), "--split", "test", "--out", str(tmp_path / "eval"), *common]) == 0
    assert main(["test", str(adapter), "--examples", str(source), "-n", "2", *common]) == 0
    assert capsys.readouterr().out.count("  model:    ") == 2


@pytest.fixture(scope="module")
def tiny_vl(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("vl") / "model", "qwen2_5_vl")


def test_image_prompt_tokens_match_the_processor(tiny_vl, tmp_path) -> None:
    """The counted image tokens are exactly what the processor adds to a chat prompt."""
    from PIL import Image
    from trl.data_utils import prepare_multimodal_messages

    from domvqa_train.common.modelio import load_processor
    from domvqa_train.common.screenshots import image_prompt_tokens

    processor = load_processor(str(tiny_vl), required=True)
    prompt = [{"role": "user", "content": "What is on the page?"}]
    text_only = processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    text_tokens = len(processor(text=[text_only], return_tensors="pt")["input_ids"][0])
    for size in [(56, 56), (112, 84), (300, 200), (29, 1000)]:
        path = tmp_path / f"{size[0]}x{size[1]}.png"
        Image.new("RGB", size, (200, 10, 10)).save(path)
        image = Image.open(path).convert("RGB")
        messages = prepare_multimodal_messages([dict(m) for m in prompt], images=[image])
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = processor(text=[text], images=[image], return_tensors="pt")["input_ids"][0]
        assert image_prompt_tokens(processor, [str(path)]) == [len(ids) - text_tokens], size


def test_prepare_keeps_room_for_the_screenshot(tmp_path) -> None:
    source = _with_screenshots(tmp_path, relative=True)
    plain = prepare_dataset(source, tmp_path / "plain", PrepareSettings(prompt_budget=BUDGET, progress=False))
    reserved = prepare_dataset(
        source, tmp_path / "reserved", PrepareSettings(prompt_budget=BUDGET, image_tokens=180, progress=False)
    )
    assert plain.written == reserved.written == {"test": 2, "train": 4}
    for split in ("train", "test"):
        rows = load_prepared(tmp_path / "reserved", split)
        assert max(rows["prompt_tokens"]) <= BUDGET - 180
    assert max(load_prepared(tmp_path / "plain", "train")["prompt_tokens"]) > BUDGET - 180

    from domvqa_train.errors import SettingsError

    with pytest.raises(SettingsError, match=r"image_tokens \(300\) must leave room"):
        TrainSettings.load({"prompt_budget": 300, "image_tokens": 300})


def test_relative_screenshots_resolve_from_the_data_folder(tmp_path, monkeypatch) -> None:
    from domvqa_train.common.screenshots import resolve_screenshots
    from domvqa_train.errors import SettingsError

    source = _with_screenshots(tmp_path, relative=True)
    prepared = tmp_path / "out" / "prepared"
    prepare_dataset(source, prepared, PrepareSettings(prompt_budget=BUDGET, progress=False))
    monkeypatch.chdir(tmp_path / "out")  # not where the screenshots are
    test = load_prepared(prepared, "test")
    resolved = resolve_screenshots(test, prepared)
    assert all(Path(p).is_file() and Path(p).is_absolute() for p in resolved["screenshot"])

    (tmp_path / test[0]["screenshot"]).unlink()
    with pytest.raises(SettingsError, match=rf"screenshot '{test[0]['screenshot']}' of example .* not found"):
        resolve_screenshots(test, prepared)


def test_screenshot_tokens_count_against_the_budget(tiny_vl, tmp_path) -> None:
    from domvqa_train.common.modelio import load_tokenizer
    from domvqa_train.errors import PrepareError
    from domvqa_train.training.train import check_prompts_fit

    prepared = tmp_path / "prepared"
    prepare_dataset(
        _with_screenshots(tmp_path), prepared, PrepareSettings(prompt_budget=BUDGET, progress=False)
    )
    train = load_prepared(prepared, "train")
    tok = load_tokenizer(str(tiny_vl))
    longest = check_prompts_fit(train, tok, BUDGET)
    assert longest <= BUDGET
    with pytest.raises(PrepareError, match=r"of them the screenshot.*image_tokens=N"):
        check_prompts_fit(train, tok, BUDGET, [BUDGET - longest + 1] * len(train))
