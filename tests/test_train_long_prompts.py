"""GRPO settings for long prompts: each bad combination is refused before a model loads, the rest reach trl."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domvqa_train.cli import main
from domvqa_train.errors import SettingsError
from domvqa_train.training.settings import TrainSettings
from domvqa_train.training.train import grpo_config

LOSSES = ["dapo", "dr_grpo", "grpo", "bnpo"]


def test_long_prompt_defaults() -> None:
    s = TrainSettings()
    assert (s.loss_type, s.importance_sampling_level, s.epsilon, s.epsilon_high) == (
        "dapo",
        "token",
        0.2,
        0.28,
    )
    assert s.gradient_checkpointing and s.beta == 0.0 and not s.use_liger_kernel and not s.use_vllm
    assert s.vllm_mode == "colocate"  # one GPU: the only vLLM mode that needs no second GPU
    assert s.vllm_model_length() == 16384 + 64
    cfg = grpo_config(s.model_copy(update={"trl_args": {"use_cpu": True}}), [1.0])
    assert (cfg.loss_type, cfg.importance_sampling_level, cfg.epsilon, cfg.epsilon_high) == (
        "dapo",
        "token",
        0.2,
        0.28,
    )
    assert cfg.vllm_max_model_length == 16448 and cfg.vllm_mode == "colocate"
    assert cfg.activation_checkpointing is True and cfg.beta == 0.0


@settings(max_examples=40, deadline=None)
@given(
    loss=st.sampled_from(LOSSES),
    level=st.sampled_from(["token", "sequence"]),
    epsilon=st.floats(0.01, 0.9),
    epsilon_high=st.none() | st.floats(0.01, 2.0),
)
def test_each_combination_reaches_trl_or_is_refused_with_its_reason(
    loss, level, epsilon, epsilon_high
) -> None:
    data = {
        "loss_type": loss,
        "importance_sampling_level": level,
        "epsilon": epsilon,
        "epsilon_high": epsilon_high,
        "trl_args": {"use_cpu": True},
    }
    sequence_needs_grpo = level == "sequence" and loss != "grpo"
    high_below_low = epsilon_high is not None and epsilon_high < epsilon
    try:
        s = TrainSettings.load(data)
    except SettingsError as exc:
        message = str(exc)
        assert sequence_needs_grpo or high_below_low, message
        if sequence_needs_grpo:
            assert "needs loss_type=grpo" in message
        else:
            assert "must be at least epsilon" in message
        return
    assert not (sequence_needs_grpo or high_below_low)
    cfg = grpo_config(s, [1.0])
    assert (cfg.loss_type, cfg.importance_sampling_level, cfg.epsilon) == (loss, level, epsilon)
    assert cfg.epsilon_high == epsilon_high


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"loss_type": "cispo"}, "loss_type"),
        ({"importance_sampling_level": "sequence"}, "needs loss_type=grpo"),
        ({"epsilon": 0.3, "epsilon_high": 0.1}, "must be at least epsilon"),
        ({"vllm_max_model_length": 4096}, "must hold a whole prompt and its completion: prompt_budget"),
        ({"vllm_mode": "server", "vllm_gpu_memory_utilization": 0.5}, "applies to vllm_mode=colocate"),
        ({"vllm_gpu_memory_utilization": 1.5}, "vllm_gpu_memory_utilization"),
        ({"trl_args": {"loss_type": "grpo"}}, "set it with the `loss_type` setting"),
        ({"trl_args": {"vllm_max_model_length": 9000}}, "set it with the `vllm_max_model_length` setting"),
        ({"sft": {"max_steps": 0}}, "sft.max_steps"),
        ({"sft": {"nope": 1}}, "sft.nope: unknown setting"),
    ],
)
def test_bad_combinations_are_refused_with_a_reason(data, expected) -> None:
    with pytest.raises(SettingsError, match=r"invalid settings|trl_args") as info:
        s = TrainSettings.load(data)
        grpo_config(s, [1.0])
    assert expected in str(info.value)


def test_a_larger_vllm_context_is_kept() -> None:
    s = TrainSettings.load({"vllm_max_model_length": 20000})
    assert s.vllm_model_length() == 20000


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is not None, reason="liger-kernel is installed")
def test_liger_needs_liger_kernel(tmp_path, capsys) -> None:
    with pytest.raises(SettingsError, match="pip install liger-kernel"):
        TrainSettings.load({"use_liger_kernel": True}).check_environment()
    # the CLI checks before loading anything: one line, exit 2
    args = ["train", "--model", str(tmp_path / "no-model"), "--set", "use_liger_kernel=true"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install liger-kernel" in err


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_needs_vllm() -> None:
    with pytest.raises(SettingsError, match="pip install vllm"):
        TrainSettings.load({"use_vllm": True}).check_environment()


def test_init_adapter_must_be_an_adapter_folder(tmp_path, capsys) -> None:
    with pytest.raises(SettingsError, match=r"no adapter_config\.json"):
        TrainSettings.load({"init_adapter": str(tmp_path)}).check_environment()
    assert main(["train", "--init-adapter", str(tmp_path / "missing")]) == 2
    assert "is not a LoRA adapter folder" in capsys.readouterr().err


def test_settings_can_be_planned_without_the_optional_packages() -> None:
    """plan validates liger/vLLM runs on a machine without those packages (check_environment is not called)."""
    s = TrainSettings.load({"use_liger_kernel": True, "use_vllm": True})
    assert s.use_liger_kernel and s.use_vllm
