"""Screenshots of prepared examples: find the files, and count the prompt tokens each one adds.

Prepared rows keep the screenshot path as written in the raw data; a relative path is looked up from
the working directory, the prepared folder and the raw data's folder (named in ``report.json``), the
same way for training, ``eval`` and ``test``.

A Qwen2.5-VL prompt with a screenshot holds ``<|vision_start|>``, one ``<|image_pad|>`` per merged
28x28 patch of the resized image, and ``<|vision_end|>``: :func:`image_prompt_tokens` counts them from
the image size with the processor's own resize rule, without decoding the pixels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SettingsError

#: ``<|vision_start|>`` and ``<|vision_end|>`` around each image's ``<|image_pad|>`` tokens
_IMAGE_MARKERS = 2


def screenshot_roots(prepared_dir: str | Path) -> list[Path]:
    """Folders a relative screenshot path is looked up in, in order."""
    roots = [Path.cwd(), Path(prepared_dir)]
    try:
        report = json.loads((Path(prepared_dir) / "report.json").read_text(encoding="utf-8"))
        source = str(report["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return roots
    return roots if source.startswith("hf:") else [*roots, Path(source).parent]


def resolve_screenshots(dataset: Any, prepared_dir: str | Path) -> Any:
    """``dataset`` with every ``screenshot`` replaced by the path of an existing file.

    Raises :class:`SettingsError` naming the first example without a screenshot or whose file is missing.
    """
    if "screenshot" not in dataset.column_names:
        raise SettingsError("use_screenshots=true, but the prepared data has no 'screenshot' column")
    missing = [row_id for row_id, shot in zip(dataset["id"], dataset["screenshot"], strict=True) if not shot]
    if missing:
        raise SettingsError(
            f"use_screenshots=true, but {len(missing)} example(s) have no screenshot (e.g. {missing[0]}); "
            "prepare only examples with screenshots or set use_screenshots=false"
        )
    roots = screenshot_roots(prepared_dir)

    def resolve(row: dict[str, Any]) -> dict[str, Any]:
        for root in roots:
            path = root / row["screenshot"]  # an absolute screenshot path ignores root
            if path.is_file():
                return {"screenshot": str(path.resolve())}
        raise SettingsError(
            f"screenshot {row['screenshot']!r} of example {row['id']} not found (looked in "
            f"{', '.join(map(str, roots))}); fix the path in the data or set use_screenshots=false"
        )

    return dataset.map(resolve)


def image_prompt_tokens(processor: Any, paths: Sequence[str]) -> list[int]:
    """Prompt tokens each image adds for ``processor`` (image pads plus the two vision markers).

    Uses the image processor's ``get_number_of_image_patches`` (Qwen2-VL family: the patches of the
    resized image, ``merge_size``² of them per token); only the image headers are read.
    """
    from PIL import Image, UnidentifiedImageError

    image_processor = processor.image_processor
    count = getattr(image_processor, "get_number_of_image_patches", None)
    if count is None:
        raise SettingsError(
            f"cannot count the image tokens of {type(image_processor).__name__}; "
            "screenshots are supported for Qwen2-VL-family models (Qwen2.5-VL, Holo1)"
        )
    merge = int(getattr(image_processor, "merge_size", 1) or 1)
    tokens = []
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError) as exc:
            raise SettingsError(f"screenshot {path} is not a readable image: {exc}") from None
        tokens.append(count(height, width) // (merge * merge) + _IMAGE_MARKERS)
    return tokens


def load_image(path: str) -> Any:
    """The screenshot at ``path`` as an RGB PIL image; a clear error when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise SettingsError(f"screenshot {path} is not a readable image: {exc}") from None
