"""Image formats by their first bytes: the one table behind media file names and data-URL types.

>>> image_format(b"\\x89PNG\\r\\n\\x1a\\n...")
('.png', 'image/png')
>>> image_format(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ") is None  # RIFF, but a sound, not WebP
True
"""

from __future__ import annotations

# (first bytes, bytes 8-12 or None, file suffix, MIME type)
FORMATS: tuple[tuple[tuple[bytes, ...], bytes | None, str, str], ...] = (
    ((b"\x89PNG",), None, ".png", "image/png"),
    ((b"\xff\xd8\xff",), None, ".jpg", "image/jpeg"),
    ((b"GIF87a", b"GIF89a"), None, ".gif", "image/gif"),
    ((b"RIFF",), b"WEBP", ".webp", "image/webp"),
)


def image_format(data: bytes) -> tuple[str, str] | None:
    """The file suffix and MIME type of PNG, JPEG, GIF or WebP bytes; ``None`` for anything else."""
    for starts, at_8, suffix, mime in FORMATS:
        if data.startswith(starts) and (at_8 is None or data[8:12] == at_8):
            return suffix, mime
    return None
