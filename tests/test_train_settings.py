"""TrainSettings: defaults, files, overrides and every check that runs before a model loads."""

from __future__ import annotations

import itertools

import pytest

from domvqa_train.cli import main
from domvqa_train.errors import SettingsError
from domvqa_train.training.settings import TrainSettings, apply_overrides


def test_defaults_follow_the_issue() -> None:
    s = TrainSettings()
    assert (s.backend, s.attn_implementation, s.prompt_budget) == ("trl", "sdpa", 16384)
    assert (s.lora.rank, s.learning_rate, s.per_device_batch_size) == (64, 5e-5, 1)
    assert (s.gradient_accumulation_steps, s.max_steps) == (8, 1000)
    assert (s.num_generations, s.max_completion_length) == (4, 64)
    assert not any("vis" in m for m in s.lora.target_modules)


def test_yaml_file_with_overrides(tmp_path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: /models/tiny\nlora:\n  rank: 8\nrewards:\n  f1: 1.0\n", encoding="utf-8")
    s = TrainSettings.from_file(
        cfg, ["lora.alpha=16", "rewards={exact_match: 1, format: 0.2}", "resume=false"]
    )
    assert (s.model, s.lora.rank, s.lora.alpha, s.resume) == ("/models/tiny", 8, 16.0, False)
    assert s.rewards == {"exact_match": 1.0, "format": 0.2}


def test_toml_file(tmp_path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'model = "m"\nmax_steps = 7\n[lora]\nrank = 4\ntarget_modules = ["q_proj"]\n', encoding="utf-8"
    )
    s = TrainSettings.from_file(cfg)
    assert (s.model, s.max_steps, s.lora.rank, s.lora.target_modules) == ("m", 7, 4, ["q_proj"])


def test_templates_from_yaml_toml_and_set(tmp_path) -> None:
    from domvqa_train.prompts.presets import TEMPLATES

    cfg = tmp_path / "run.yaml"
    cfg.write_text("template: original\npreset: original\n", encoding="utf-8")
    assert TrainSettings.from_file(cfg).template == TEMPLATES["original"]
    toml = tmp_path / "run.toml"
    toml.write_text('[template]\nuser = "Page: <dom>{dom}</dom> Q: {question}"\n', encoding="utf-8")
    custom = TrainSettings.from_file(toml, ["template.system=null"])
    assert (custom.template.system, custom.template.user, custom.template.chat) == (
        None,
        "Page: <dom>{dom}</dom> Q: {question}",
        True,
    )
    assert TrainSettings.load({}, ["template=default"]).template == TEMPLATES["default"]


@pytest.mark.parametrize(
    ("data", "overrides", "expected"),
    [
        ({"template": "fancy"}, [], "unknown template 'fancy'; known templates: default, original"),
        ({"template": {"user": "no slot"}}, [], "exactly one {dom} slot"),
        ({"template": {"chat": False}}, [], "plain-text prompt (chat=False) has no system message"),
        ({"lerning_rate": 1e-4}, [], "lerning_rate: unknown setting"),
        ({}, ["lora.rnak=3"], "lora.rnak: unknown setting"),
        ({"num_generations": 1}, [], "at least 2"),
        ({"max_prompt_length": 4096}, [], "domprune prunes every DOM"),
        ({"trl_args": {"max_prompt_length": 4096}}, [], "trl_args.`max_prompt_length`"),
        ({"rewards": {"accuracy": 1.0}}, [], "unknown reward 'accuracy'"),
        ({"prompt_budget": 10}, [], "prompt_budget"),
        ({"attn_implementation": "flash"}, [], "attn_implementation"),
    ],
)
def test_invalid_settings_are_rejected_with_a_reason(data, overrides, expected) -> None:
    with pytest.raises(SettingsError, match="invalid settings") as info:
        TrainSettings.load(data, overrides)
    assert expected in str(info.value)


def test_bad_files_and_overrides(tmp_path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        TrainSettings.from_file(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="mapping"):
        TrainSettings.from_file(tmp_path / "list.yaml")
    (tmp_path / "run.ini").write_text("x=1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"\.yaml"):
        TrainSettings.from_file(tmp_path / "run.ini")
    with pytest.raises(SettingsError, match="key=value"):
        apply_overrides({}, ["lora.rank"])
    with pytest.raises(SettingsError, match="not a group"):
        apply_overrides({"model": "m"}, ["model.name=x"])


def test_batch_rule_matches_trl() -> None:
    """Our pre-load check accepts exactly the layouts trl's GRPOConfig accepts (one process)."""
    from trl import GRPOConfig

    for batch, accum, gens in itertools.product([1, 2, 3], [1, 2, 4], [2, 3, 4]):
        s = TrainSettings(
            per_device_batch_size=batch, gradient_accumulation_steps=accum, num_generations=gens
        )
        try:
            s.check_batch(1)
            ours = True
        except SettingsError:
            ours = False
        try:
            GRPOConfig(
                output_dir="unused",
                per_device_train_batch_size=batch,
                gradient_accumulation_steps=accum,
                num_generations=gens,
                use_cpu=True,
                bf16=False,
            )
            theirs = True
        except ValueError:
            theirs = False
        assert ours == theirs, (batch, accum, gens)


def test_batch_rule_counts_processes() -> None:
    s = TrainSettings(per_device_batch_size=1, gradient_accumulation_steps=1, num_generations=2)
    s.check_batch(2)
    with pytest.raises(
        SettingsError, match=r"1 completions per round must be divisible by num_generations \(2\)"
    ):
        s.check_batch(1)


def test_trl_args_pass_through_and_are_checked() -> None:
    from domvqa_train.training.train import grpo_config

    s = TrainSettings(
        max_steps=3, trl_args={"mask_truncated_completions": True, "use_cpu": True}, gradient_accumulation_steps=4
    )
    cfg = grpo_config(s, [1.0])
    assert (cfg.mask_truncated_completions, cfg.max_steps, cfg.num_generations, cfg.generation_batch_size) == (
        True,
        3,
        4,
        4,
    )
    assert cfg.bf16 is False and cfg.fp16 is False
    with pytest.raises(SettingsError, match="set it with the `learning_rate` setting"):
        grpo_config(TrainSettings(trl_args={"learning_rate": 1.0}), [1.0])
    with pytest.raises(SettingsError, match="not a trl GRPOConfig option"):
        grpo_config(TrainSettings(trl_args={"no_such_option": 1}), [1.0])


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("num_generations: 1\nmax_prompt_length: 100\n", encoding="utf-8")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("domvqa-train train: error: invalid ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert main(["train", "--set", "num_generations=3", "--print-settings"]) == 0  # 8 % 3 is checked at train
    assert '"num_generations": 3' in capsys.readouterr().out
    assert main(["prepare"]) == 2
    assert "pass --data" in capsys.readouterr().err


def test_cli_train_checks_batch_before_loading_a_model(tmp_path, capsys) -> None:
    args = ["train", "--model", str(tmp_path / "no-such-model"), "--set", "num_generations=3"]
    assert main(args) == 2
    assert "divisible by num_generations (3)" in capsys.readouterr().err
