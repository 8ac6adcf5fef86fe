"""Attribute stripping: keep what answers questions, drop styling, scripting and ids."""

from __future__ import annotations

import functools
import re

from ..document import NEEDS_COLLAPSE, Attrs, Document, Flags
from ..settings import AttributeSettings

# aria attributes that hold id references: useless once ids are gone.
_ARIA_REFS = frozenset(
    {"aria-labelledby", "aria-describedby", "aria-controls", "aria-owns", "aria-activedescendant",
     "aria-flowto", "aria-details", "aria-errormessage"}
)  # fmt: skip
_URL_ATTRS = frozenset({"href", "src"})
_META_NAMES = frozenset({"name", "property", "itemprop", "content"})
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_NOT_PLAIN_PATH = re.compile(r"[?#:\s]")  # what shorten_url may cut or change in a path
# a long value without a space that holds key=value pairs or %-escapes is data for machines
_MACHINE_VALUE = re.compile(r"(?=\S*(?:=\S*&|%[0-9A-Fa-f]{2}))\S{40,}$")
_TEXT_ATTRS = frozenset({"title", "alt", "aria-label", "label"})
_DROP_URL_SCHEMES = ("javascript:", "data:", "blob:", "about:", "vbscript:")


@functools.lru_cache(maxsize=8192)  # links repeat within a page (menus at the top and the bottom)
def shorten_url(value: str, max_chars: int) -> str | None:
    """A meaningful, shorter form of a URL, or ``None`` when nothing meaningful is left.

    Query, fragment, scheme and ``www.`` go; a URL still too long keeps its host and the end of
    its path (the segments that name the target), joined by ``/…/``.

    >>> shorten_url("https://shop.example.com/boots/trail-runner-3?utm_source=x#top", 60)
    'shop.example.com/boots/trail-runner-3'
    >>> shorten_url("https://cdn.example.com/img/products/kitchen/blenders/aeromix-900/side.jpg?w=1", 40)
    'cdn.example.com/…/aeromix-900/side.jpg'
    >>> shorten_url("javascript:void(0)", 60) is None
    True
    """
    v = value.strip()
    low = v[:16].lower()
    if not v or v.startswith("#") or low.startswith(_DROP_URL_SCHEMES):
        return None
    m = _QUERY_OR_FRAGMENT.search(v)
    if m:
        v = v[: m.start()]
    scheme = v.find("://")
    host = ""
    if 0 <= scheme < 12 or v.startswith("//"):
        v = v[scheme + 3 :] if scheme >= 0 else v[2:]
        slash = v.find("/")
        host, v = (v, "") if slash < 0 else (v[:slash], v[slash:])
        if host.startswith("www."):
            host = host[4:]
    elif v.startswith("www."):
        v = v[4:]
    v = v.rstrip("/") or v
    if not host and not v:
        return None
    if len(host) + len(v) <= max_chars:
        return host + v if v != "/" else host or v
    # keep the host and the last path segments that fit
    room = max_chars - len(host) - (3 if host else 0)
    segments = [s for s in v.split("/") if s]
    tail: list[str] = []
    for seg in reversed(segments):
        if len(seg) + sum(len(t) + 1 for t in tail) > room and tail:
            break
        tail.insert(0, seg)
    end = "/".join(tail)
    cut = len(tail) < len(segments) or len(end) > room
    if len(end) > room:  # one segment longer than the room: its end names the file
        end = end[-max(room, 8) :]
    prefix = (host + ("/…/" if cut else "/")) if host else ("…/" if cut else "")
    over = len(prefix) + len(end) - max_chars
    return prefix + (end[over:] if over > 0 and len(end) - over >= 8 else end)


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def strip_attributes(doc: Document, settings: AttributeSettings, alive: Flags) -> dict[str, int]:
    """Fill ``doc.kept_attrs`` from ``doc.attrs`` by the policy; returns counts of what went."""
    if not settings.enabled:
        doc.kept_attrs = doc.attrs
        return {}
    keep = {_norm(k) for k in settings.keep | settings.extra_keep}
    if settings.keep_ids:
        keep.add("id")
    if settings.keep_backend_ids:
        keep.add("backend-node-id")
    aria, shorten = settings.aria, settings.shorten_urls
    max_url, max_val, max_meta = settings.max_url_chars, settings.max_value_chars, settings.max_meta_chars
    dropped = shortened = truncated = 0
    kept_all: list[Attrs] = []
    changed = False  # some element keeps other attributes than it has
    names: dict[str, str | None] = {}  # attribute name -> normalised name if kept, else None
    tags = doc.tags
    needs_collapse = NEEDS_COLLAPSE.search
    for i, attrs in enumerate(doc.attrs):
        if not attrs or not alive[i]:
            kept_all.append(())
            changed = changed or bool(attrs)
            continue
        kept: list[tuple[str, str]] = []
        meta = tags[i] == "meta"
        same = True  # every attribute kept as it was: keep the element's own list (no copy)
        for kv in attrs:
            k, v = kv
            if meta and k in _META_NAMES:  # a meta's content means nothing without its name
                if needs_collapse(v):
                    v = " ".join(v.split())
                kept.append((k, v if len(v) <= max_meta else v[:max_meta].rstrip() + "…"))
                same = False
                continue
            if k in names:
                n = names[k]
            else:
                n = _norm(k)
                if not (n in keep or (aria and n.startswith("aria-") and n not in _ARIA_REFS)):
                    n = None
                names[k] = n
            if n is None:
                dropped += 1
                same = False
                continue
            if n in _URL_ATTRS and shorten:
                # a short path with no query, fragment, scheme or host is its own shortest form
                plain = len(v) <= max_url and v[:1] == "/" and v[1:2] != "/" and v[-1] != "/"
                short = v if plain and _NOT_PLAIN_PATH.search(v) is None else shorten_url(v, max_url)
                if short is None:
                    dropped += 1
                    same = False
                    continue
                if short != v:
                    shortened += 1
                v = short
            else:
                if n in _TEXT_ATTRS and _MACHINE_VALUE.match(v):  # COinS titles, encoded tracking data
                    dropped += 1
                    same = False
                    continue
                if needs_collapse(v):  # alt texts with line breaks and indentation
                    v = " ".join(v.split())
                if len(v) > max_val:
                    v = v[:max_val].rstrip() + "…"
                    truncated += 1
            if v == kv[1]:
                kept.append(kv)
            else:
                kept.append((k, v))
                same = False
        if same:
            kept_all.append(attrs)
        else:
            kept_all.append(tuple(kept))
            changed = True
    doc.kept_attrs = kept_all if changed else doc.attrs  # (one list, not two alike)
    return {"attributes_dropped": dropped, "urls_shortened": shortened, "values_truncated": truncated}
